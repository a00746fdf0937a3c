//! The building blocks of PTMZ's vision training recipe (SPEC §1.2): SGD with momentum and weight
//! decay under a one-cycle schedule, on-device augmentation of uint8 batches, and per-epoch
//! shuffling, each deterministic per (seed, epoch, batch) and independent of libtorch's global
//! random generator.
//!
//! Principal items: [`Sgd`], [`OneCycle`], [`Augmentation`], [`epoch_permutation`],
//! [`augment_rng`].

mod augment;
mod one_cycle;
mod sgd;
mod shuffle;
mod streams;
#[cfg(test)]
mod torchvision_tests;

pub use augment::{Augmentation, BatchDraws};
pub use one_cycle::OneCycle;
pub use sgd::Sgd;
pub use shuffle::epoch_permutation;
pub use streams::{augment_rng, shuffle_rng};

/// Why an optimizer state from a checkpoint cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The state has no step count.
    #[error("optimizer state has no \"step\"")]
    MissingStep,
    /// The step count is negative.
    #[error("optimizer state has step {0} < 0")]
    NegativeStep(i64),
    /// A tensor name the optimizer does not know (or a parameter index beyond the model's).
    #[error("optimizer state has unknown tensor {0:?}")]
    UnknownName(String),
    /// A tensor the optimizer needs is not in the state.
    #[error("optimizer state has no tensor {0:?}")]
    Missing(String),
    /// A tensor's shape differs from the one expected.
    #[error("optimizer state tensor {name:?} has shape {got:?}, expected {expected:?}")]
    Shape {
        /// The tensor's name.
        name: String,
        /// The shape expected.
        expected: Vec<i64>,
        /// The shape found.
        got: Vec<i64>,
    },
}

/// CUDA device 0 when libtorch sees one, for tests that compare it with the CPU; `None` skips
/// them. `PZ_TEST_CUDA=1` makes a missing device a failure, for GPU runs where a test binary
/// without libtorch_cuda loaded would otherwise pass on the CPU alone.
#[cfg(test)]
fn cuda_for_tests() -> Option<tch::Device> {
    if tch::Cuda::is_available() {
        return Some(tch::Device::Cuda(0));
    }
    assert!(
        std::env::var_os("PZ_TEST_CUDA").is_none(),
        "PZ_TEST_CUDA is set but libtorch sees no CUDA device"
    );
    None
}
