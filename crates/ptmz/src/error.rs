//! The crate's errors: each names the file it is about and, where there is one, the tensor.

use std::path::PathBuf;

use crate::pickle::PickleError;

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong reading a PTMZ experiment or a torch checkpoint, or writing one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file failed (the message of `fs-err` names the path).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The checkpoint loads a global that could run code; nothing after it was decoded.
    #[error("{path}: refused global `{module}.{name}`{}: not on the state-dict allow-list (loading it in Python could run code)\n  hint: this file is not a plain state dict; do not torch.load it either", python3_alias(module, name))]
    RefusedGlobal {
        /// The checkpoint file.
        path: PathBuf,
        /// The global's module, e.g. `posix`.
        module: String,
        /// The global's name, e.g. `system`.
        name: String,
    },
    /// The checkpoint's pickle is malformed or uses something a state dict does not.
    #[error("{path}: {message}")]
    Pickle {
        /// The checkpoint file (with the record inside a zip, e.g. `archive/data.pkl`).
        path: PathBuf,
        /// What is wrong (includes the byte offset).
        message: String,
    },
    /// The zip container is unreadable (truncated, not a zip).
    #[error("{path}: not a readable torch zip checkpoint")]
    Zip {
        /// The checkpoint file.
        path: PathBuf,
        /// The zip reader's error.
        #[source]
        source: zip::result::ZipError,
    },
    /// The checkpoint's container or records are not what torch writes.
    #[error("{path}: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A tensor's element type is one this crate does not represent (complex, quantized, ...).
    #[error("{path}: tensor `{tensor}` has unsupported dtype `{dtype}`")]
    UnsupportedDtype {
        /// The checkpoint file.
        path: PathBuf,
        /// The state-dict key.
        tensor: String,
        /// Torch's name of the storage class or dtype.
        dtype: String,
    },
    /// A tensor's shape, strides or offset do not fit its storage; refused before allocating.
    #[error("{path}: tensor `{tensor}`: {message}")]
    BadTensor {
        /// The checkpoint file.
        path: PathBuf,
        /// The state-dict key.
        tensor: String,
        /// What does not fit.
        message: String,
    },
    /// A storage record holds fewer bytes than its persistent id declares.
    #[error("{path}: storage `{key}` holds {got} bytes but is declared as {expected}")]
    StorageTooShort {
        /// The checkpoint file.
        path: PathBuf,
        /// The storage key.
        key: String,
        /// Bytes declared.
        expected: u64,
        /// Bytes present.
        got: u64,
    },
    /// The pickle decoded but is not a flat mapping of names to tensors.
    #[error("{path}: not a state dict: {message}")]
    NotAStateDict {
        /// The checkpoint file.
        path: PathBuf,
        /// What was found instead.
        message: String,
    },
    /// Tensors handed to the writer are inconsistent (data length, duplicate name).
    #[error("tensor `{tensor}`: {message}")]
    InvalidTensor {
        /// The tensor's name.
        tensor: String,
        /// What is wrong.
        message: String,
    },
    /// A JSON file of a trial could not be parsed.
    #[error("{path}: invalid JSON{}", line.map(|l| format!(" on line {l}")).unwrap_or_default())]
    Json {
        /// The file.
        path: PathBuf,
        /// The 1-based line for `result.json`.
        line: Option<usize>,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A trial folder or its files do not follow the Ray Tune layout (SPEC §2).
    #[error("{path}: {message}")]
    Trial {
        /// The trial folder or file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A checkpoint tensor does not fit phasezoo's model of its trial (name, dtype or shape).
    #[error("{path}: tensor `{tensor}`: {message}")]
    Layout {
        /// The checkpoint file.
        path: PathBuf,
        /// The state-dict key (after stripping `module.`).
        tensor: String,
        /// What does not fit.
        message: String,
    },
    /// The experiment is not one phasezoo can import, or the zoo not one it can export.
    #[error("{path}: {message}")]
    Unsupported {
        /// The experiment, trial, file or zoo folder.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The spec inferred from an experiment does not validate.
    #[error("{path}: the inferred zoo spec is invalid")]
    Spec {
        /// The experiment folder.
        path: PathBuf,
        /// The validation problems.
        #[source]
        source: pz_spec::SpecError,
    },
    /// Reading or writing the phasezoo zoo failed.
    #[error(transparent)]
    Store(#[from] pz_store::Error),
    /// Writing the zoo's labelled index failed.
    #[error(transparent)]
    Phases(#[from] pz_phases::Error),
    /// The trials do not form a load × temperature × seed grid.
    #[error("{path}: cannot infer the grid: {message}")]
    Grid {
        /// The experiment folder.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

/// ` (Python 3's `subprocess.Popen`)` where the pickle spells a global the Python 2 way.
fn python3_alias(module: &str, name: &str) -> String {
    crate::pickle::python3_module(module).map(|m| format!(" (Python 3's `{m}.{name}`)")).unwrap_or_default()
}

impl Error {
    /// Attach the checkpoint file to a pickle decoding failure.
    pub(crate) fn pickle(path: PathBuf, error: PickleError) -> Error {
        match error {
            PickleError::Refused { module, name } => Error::RefusedGlobal { path, module, name },
            malformed @ PickleError::Malformed { .. } => {
                Error::Pickle { path, message: malformed.to_string() }
            }
        }
    }
}
