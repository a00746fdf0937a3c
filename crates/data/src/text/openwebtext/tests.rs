//! The OpenWebText reader on small archives built in each published layout.

use std::path::PathBuf;

use super::*;
use crate::text::fixtures::{documents, owt_subsets, tar, xz};
use crate::text::Corpus;
use crate::vision::test_server::TestServer;

/// Writes one small OpenWebText in the three layouts under `root`: `openwebtext.tar.xz`,
/// `hf/subsets/urlsf_subsetNN.tar` and `extracted/openwebtext/*.xz`. Returns the three
/// paths and the documents `(name, normalised text)` in source order.
fn write_layouts(root: &Path) -> ([PathBuf; 3], Vec<(String, String)>) {
    let (subsets, docs) = owt_subsets(2, 3);
    let original = root.join("openwebtext.tar.xz");
    fs_err::write(&original, xz(&tar(&subsets.concat()))).unwrap();
    let hf = root.join("hf");
    fs_err::create_dir_all(hf.join("subsets")).unwrap();
    for (s, files) in subsets.iter().enumerate() {
        fs_err::write(hf.join(format!("subsets/urlsf_subset{s:02}.tar")), tar(files)).unwrap();
    }
    let extracted = root.join("extracted");
    fs_err::create_dir_all(extracted.join("openwebtext")).unwrap();
    for (path, bytes) in subsets.concat() {
        fs_err::write(extracted.join(path), bytes).unwrap();
    }
    ([original, hf, extracted], docs)
}

#[test]
fn every_layout_gives_the_same_documents_normalised_and_split_by_name() {
    let root = tempfile::tempdir().unwrap();
    let (layouts, docs) = write_layouts(root.path());
    let mut built = Vec::new();
    for from in &layouts {
        let data = tempfile::tempdir().unwrap();
        let report = fetch_openwebtext(data.path(), Some(from), &|_, _, _| {}).unwrap();
        assert!(!report.reused && report.notes.is_empty());
        let corpus = Corpus::open(&report.dir).unwrap();
        built.push((
            fs_err::read(report.dir.join("train.bin")).unwrap(),
            fs_err::read(report.dir.join("val.bin")).unwrap(),
            documents(&corpus.train),
            documents(&corpus.val),
            corpus.meta,
        ));
    }
    let (train, val): (Vec<_>, Vec<_>) = docs.iter().partition(|(name, _)| SPLIT.parts(name, "").0.is_some());
    let texts = |d: Vec<&(String, String)>| d.into_iter().map(|(_, t)| t.clone()).collect::<Vec<_>>();
    let (train, val) = (texts(train), texts(val));
    assert_eq!((train.len(), val.len()), (12, 1));
    for (i, (train_bin, val_bin, train_docs, val_docs, meta)) in built.iter().enumerate() {
        assert_eq!((train_docs, val_docs), (&train, &val), "layout {i}");
        assert_eq!((train_bin, val_bin), (&built[0].0, &built[0].1), "layout {i}: the same bytes");
        assert_eq!((meta.train.documents, meta.val.documents), (12, 1));
        assert_eq!(meta.split, SPLIT);
    }
    // The source is what was read: one file, two subset tars, four .xz files.
    let names =
        |m: &crate::text::CorpusMeta| m.source.files.iter().map(|f| f.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&built[0].4), ["openwebtext.tar.xz"]);
    assert_eq!(names(&built[1].4), ["urlsf_subset00.tar", "urlsf_subset01.tar"]);
    assert_eq!(names(&built[2].4).len(), 4);
}

#[test]
fn the_subsets_are_downloaded_unverified_with_their_sha256_recorded_then_reused() {
    let (subsets, _) = owt_subsets(2, 2);
    let bodies: Vec<(String, Vec<u8>)> = (0..OPENWEBTEXT_SUBSETS)
        .map(|i| {
            let body = subsets.get(i).map_or_else(|| tar(&[]), |files| tar(files));
            (format!("/owt/urlsf_subset{i:02}.tar"), body)
        })
        .collect();
    let server = TestServer::serve(bodies.clone(), OPENWEBTEXT_SUBSETS);
    let data = tempfile::tempdir().unwrap();
    let base = format!("{}/owt", server.base_url());
    let report = fetch_openwebtext_with(&base, data.path(), None, &|_, _, _| {}).unwrap();
    assert_eq!(report.downloads.len(), 21);
    assert_eq!(report.downloads[3].path, data.path().join("downloads/openwebtext/urlsf_subset03.tar"));
    assert_eq!(report.notes.len(), 21);
    assert!(report.notes[0].contains("NOT verified (no checksum is published)"), "{}", report.notes[0]);
    let meta = &report.meta;
    assert_eq!(meta.source.files.len(), 21);
    assert_eq!(
        meta.source.files[1].sha256,
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bodies[1].1))
    );
    assert_eq!(meta.train.documents + meta.val.documents, 2 * 2 * 2 + 1);

    // Port 9 on loopback: any request would fail. The downloads in place are used.
    let again = fetch_openwebtext_with("http://127.0.0.1:9", data.path(), None, &|_, _, _| {}).unwrap();
    assert!(again.reused && again.downloads.iter().all(|d| d.reused));
}

#[test]
fn a_damaged_archive_or_a_folder_without_the_files_is_an_error_naming_it() {
    let root = tempfile::tempdir().unwrap();
    let ([original, ..], _) = write_layouts(root.path());
    let bytes = fs_err::read(&original).unwrap();
    let cut = root.path().join("cut/openwebtext.tar.xz");
    fs_err::create_dir_all(cut.parent().unwrap()).unwrap();
    fs_err::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let data = tempfile::tempdir().unwrap();
    let err = fetch_openwebtext(data.path(), Some(&cut), &|_, _, _| {}).unwrap_err().to_string();
    assert!(err.starts_with(&cut.display().to_string()), "{err}");
    assert!(err.contains("damaged archive"), "{err}");
    assert!(!data.path().join("openwebtext/meta.json").exists());

    let empty = tempfile::tempdir().unwrap();
    let err = fetch_openwebtext(data.path(), Some(empty.path()), &|_, _, _| {}).unwrap_err().to_string();
    assert!(err.contains("no OpenWebText files here: expected openwebtext.tar.xz"), "{err}");
}

#[test]
fn texts_are_normalised_as_the_hugging_face_loader_does() {
    assert_eq!(normalise("\n\n a\n\n\n\nb\n\nc\n\n\n"), "a\n\nb\n\nc");
    // Python's str.strip() also strips U+001C..U+001F and Unicode spaces, not U+200B.
    assert_eq!(normalise("\u{1c}\u{a0}\u{3000}x\u{2029}\u{1f}"), "x");
    assert_eq!(normalise("\u{200b}x"), "\u{200b}x");
    assert_eq!(normalise("a\r\n\r\n\r\nb"), "a\r\n\r\n\r\nb", "only \\n runs are collapsed");
}
