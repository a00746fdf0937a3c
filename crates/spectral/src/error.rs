//! The crate's one error type.

use std::path::PathBuf;

/// What can go wrong reading a checkpoint's layers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The checkpoint file could not be read.
    #[error("checkpoint {}: {source}", path.display())]
    Io {
        /// The checkpoint.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid safetensors file, or a tensor in it could not be read.
    #[error("checkpoint {}: not a readable safetensors file: {source}", path.display())]
    Safetensors {
        /// The checkpoint.
        path: PathBuf,
        /// The cause.
        #[source]
        source: safetensors::SafeTensorError,
    },
    /// A layer's weight has an element type this crate does not read.
    #[error("checkpoint {}: tensor {tensor} has dtype {dtype}; expected F64, F32, F16 or BF16", path.display())]
    Dtype {
        /// The checkpoint.
        path: PathBuf,
        /// The tensor's name.
        tensor: String,
        /// Its dtype as safetensors names it.
        dtype: String,
    },
    /// A layer's weight holds a NaN or an infinity, so it has no spectrum.
    #[error("checkpoint {}: tensor {tensor} holds a non-finite value", path.display())]
    NonFinite {
        /// The checkpoint.
        path: PathBuf,
        /// The tensor's name.
        tensor: String,
    },
}

/// This crate's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;
