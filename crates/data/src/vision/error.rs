//! The dataset errors: each names the file (or URL) it is about and, where there is one, the fix.

use std::path::PathBuf;

use super::DatasetName;

/// What can go wrong importing, downloading or loading an image dataset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// Opening, reading or writing a file failed (the `fs-err` message names the path).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Writing the cache failed (the store's message names the path).
    #[error(transparent)]
    Store(#[from] pz_store::Error),
    /// A source file exists but is not what its format says: truncated, wrong magic, bad sizes.
    #[error("{path}: {message}\n  hint: the file is damaged or incomplete; download it again, or pass another copy with --from")]
    Corrupt {
        /// The file (for a member of an archive: the archive path joined with the member's).
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The path given to import is not one of the accepted layouts of this dataset.
    #[error("{path}: {message}")]
    Source {
        /// The path given.
        path: PathBuf,
        /// What was expected there.
        message: String,
    },
    /// The cache file exists but cannot be read back.
    #[error("{path}: {message}\n  hint: delete this file and import again: `phasezoo data fetch {name}` (or `--from PATH`)")]
    CorruptCache {
        /// The cache file.
        path: PathBuf,
        /// The dataset it should hold.
        name: DatasetName,
        /// What is wrong with it.
        message: String,
    },
    /// The dataset was never imported into this data folder.
    #[error("dataset {name} is not imported yet: {path} does not exist\n  hint: run `phasezoo data fetch {name}` or `phasezoo data fetch {name} --from PATH`")]
    NotCached {
        /// The dataset.
        name: DatasetName,
        /// Where its cache would be.
        path: PathBuf,
    },
    /// The HTTP request failed before any answer (DNS, connect, TLS, reset).
    #[error("{url}: download failed\n  hint: check the network and run the same command again; a partial download resumes. \
             A certificate error behind a TLS-inspecting proxy: add its CA to the system store or set SSL_CERT_FILE; \
             an HTTP proxy: set HTTPS_PROXY")]
    Http {
        /// The URL.
        url: String,
        /// The client's error (boxed: it is large).
        #[source]
        source: Box<ureq::Error>,
    },
    /// The server answered with an error status.
    #[error("{url}: the server answered {status} {reason}\n  hint: if the file has moved, download it by hand and import it with `phasezoo data fetch NAME --from PATH`")]
    HttpStatus {
        /// The URL.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// The server's reason phrase.
        reason: String,
    },
    /// The transfer stopped early or the server sent something other than what was asked.
    #[error("{url}: {message}\n  hint: run the same command again; a partial download resumes from {part}")]
    Download {
        /// The URL.
        url: String,
        /// What happened.
        message: String,
        /// The partial file kept for resuming.
        part: PathBuf,
    },
    /// A downloaded file does not have the published checksum; it was deleted.
    #[error("{path}: {algorithm} mismatch for {url}: expected {expected}, got {got}; the file was deleted and nothing was imported\n  hint: run the same command again; if it fails again the server's copy differs from the published one: download it by hand and use --from PATH")]
    ChecksumMismatch {
        /// The deleted file.
        path: PathBuf,
        /// Where it came from.
        url: String,
        /// `SHA-256` or `MD5`.
        algorithm: &'static str,
        /// The published checksum (hex).
        expected: String,
        /// The checksum of what arrived (hex).
        got: String,
    },
    /// A dataset name that is not one of the seven.
    #[error(
        "unknown dataset `{given}`; expected one of: fashion-mnist, cifar10, cifar100, svhn, tiny-imagenet, mnist, stl10"
    )]
    UnknownDataset {
        /// The name given.
        given: String,
    },
}

impl DataError {
    pub(crate) fn corrupt(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::Corrupt { path: path.into(), message: message.into() }
    }

    pub(crate) fn wrong_source(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::Source { path: path.into(), message: message.into() }
    }
}
