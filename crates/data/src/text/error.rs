//! The language-model data errors: each names the file (or URL) it is about and, where there is
//! one, the fix.

use std::path::PathBuf;

use crate::vision::DataError;

/// What can go wrong reading token files, building a corpus or fetching one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TextError {
    /// Opening, reading or writing a file failed (the `fs-err` message names the path).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// An atomic write failed (the store's message names the path).
    #[error(transparent)]
    Store(#[from] pz_store::Error),
    /// A download failed or did not match its checksum (the image sets' downloader, whose
    /// messages name the URL and say how to resume).
    #[error(transparent)]
    Download(#[from] DataError),
    /// A token file is not what nanoGPT's `.bin` format says: empty, or an odd number of bytes.
    #[error("{path}: {message}\n  hint: a token file holds little-endian uint16 GPT-2 ids (nanoGPT's .bin format); build it again with `phasezoo data fetch NAME`")]
    TokenFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A token file too short for one window of the context asked for.
    #[error("{path}: {tokens} tokens, but a window of context {context} needs {} (inputs and the next token)\n  hint: use a shorter context or a larger corpus", context + 1)]
    TooShort {
        /// The file.
        path: PathBuf,
        /// Tokens in it.
        tokens: usize,
        /// The context asked for.
        context: usize,
    },
    /// A token id that the uint16 format cannot hold.
    #[error("{path}: token id {id} at position {position} does not fit the uint16 .bin format (at most 65535); nothing was written")]
    TokenOutOfRange {
        /// The file that was to be written.
        path: PathBuf,
        /// The id.
        id: u32,
        /// Its index in the token list.
        position: usize,
    },
    /// A window start past the last full window of a token file.
    #[error("{path}: a window of context {context} cannot start at {start}: the file has {tokens} tokens, so the last start is {}", tokens.saturating_sub(context + 1))]
    WindowOutOfRange {
        /// The file.
        path: PathBuf,
        /// The start asked for.
        start: usize,
        /// The context.
        context: usize,
        /// Tokens in the file.
        tokens: usize,
    },
    /// A source file or folder is not in the layout its corpus is published in.
    #[error("{path}: {message}")]
    Source {
        /// The path given or read.
        path: PathBuf,
        /// What was expected there.
        message: String,
    },
    /// A built corpus (`meta.json`, `train.bin`, `val.bin`) is missing or inconsistent.
    #[error("{path}: {message}\n  hint: build it (again) with `phasezoo data fetch {name}`")]
    Corpus {
        /// The file.
        path: PathBuf,
        /// The corpus name (`shakespeare`, `openwebtext`), or `NAME` where unknown.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// Token ids that are not GPT-2 ids.
    #[error("cannot decode token id {id}: GPT-2 ids are 0..=50256")]
    Decode {
        /// The first unknown id.
        id: u32,
    },
    /// A corpus name that is not one of the two.
    #[error("unknown text corpus `{given}`; expected one of: shakespeare, openwebtext")]
    UnknownCorpus {
        /// The name given.
        given: String,
    },
}

impl TextError {
    pub(crate) fn wrong_source(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::Source { path: path.into(), message: message.into() }
    }
}
