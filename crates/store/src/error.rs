//! The store's errors: each names the file it is about.

use std::path::PathBuf;

/// Result with the store's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong reading or writing a zoo.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed (the message of `fs-err` names the path).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A file exists but its content is not what the format says.
    #[error("{path}: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A JSON file could not be parsed.
    #[error("{path}: invalid JSON{}", line.map(|l| format!(" on line {l}")).unwrap_or_default())]
    Json {
        /// The file.
        path: PathBuf,
        /// The 1-based line for JSON-lines files.
        line: Option<usize>,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// The zoo was made by a spec that trains different models than the one given now.
    #[error("{path}: this zoo was trained with a different spec ({changes})\n  hint: train into a new --out folder, or undo the change to the keys named")]
    SpecChanged {
        /// The stored `zoo.toml`.
        path: PathBuf,
        /// The keys that differ.
        changes: String,
    },
    /// The folder is not a phasezoo zoo, or one of a format version this build cannot read.
    #[error("{path}: {message}")]
    NotAZoo {
        /// The folder or its format file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// Another process holds the zoo's lock.
    #[error("{path}: another phasezoo process is training this zoo\n  hint: wait for it to finish, or stop it; a killed process releases the lock")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// CSV reading or writing failed.
    #[error("{path}: not valid CSV, or not writable as CSV")]
    Csv {
        /// The file.
        path: PathBuf,
        /// The CSV error.
        #[source]
        source: csv::Error,
    },
}

impl Error {
    pub(crate) fn corrupt(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::Corrupt { path: path.into(), message: message.into() }
    }
}
