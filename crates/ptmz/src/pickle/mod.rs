//! A pickle decoder that executes nothing: the opcodes (`machine.rs`), the values they build
//! (`value.rs`) and the torch allow-list that gives globals and persistent ids their meaning
//! (`torch.rs`).

mod machine;
mod torch;
mod value;

pub(crate) use machine::decode;
pub(crate) use torch::python3_module;
#[cfg(test)]
pub(crate) use value::{StorageKind, StorageRef};
pub(crate) use value::{TensorDtype, TensorRef, Value};

/// Why a pickle was not decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PickleError {
    /// The pickle loads a global that is not on the state-dict allow-list. Loading it in
    /// Python could run code (`posix.system`, `builtins.eval`, ...), so decoding stops there.
    #[error(
        "refused global `{module}.{name}`: not on the state-dict allow-list (loading it could run code)"
    )]
    Refused {
        /// The global's module, e.g. `posix`.
        module: String,
        /// The global's name, e.g. `system`.
        name: String,
    },
    /// The bytes are not a pickle this crate understands.
    #[error("malformed pickle at byte {offset}: {message}")]
    Malformed {
        /// Byte offset of the opcode that failed.
        offset: usize,
        /// What is wrong.
        message: String,
    },
}
