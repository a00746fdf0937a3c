//! The crate's one error type: every variant names the tensor or group at fault.

/// What went wrong building a permutation spec, matching, permuting or averaging.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A spec or an operation needs a tensor the state dict lacks.
    #[error("the state dict has no tensor `{name}`")]
    MissingTensor {
        /// State-dict name.
        name: String,
    },
    /// A permuted tensor holds integers.
    #[error("`{name}` is an integer tensor; only float tensors are permuted")]
    NotFloat {
        /// State-dict name.
        name: String,
    },
    /// A tensor's axis does not have the length its group implies.
    #[error("`{tensor}` axis {axis} of shape {shape:?} does not fit group `{group}` ({detail})")]
    AxisMismatch {
        /// State-dict name.
        tensor: String,
        /// The axis.
        axis: usize,
        /// The tensor's shape.
        shape: Vec<usize>,
        /// The group's name.
        group: String,
        /// What was expected.
        detail: String,
    },
    /// Two groups claim one axis of a tensor (or one group is listed twice).
    #[error("`{tensor}` axis {axis} is claimed by groups `{first}` and `{second}`")]
    AxisClaimedTwice {
        /// State-dict name.
        tensor: String,
        /// The axis.
        axis: usize,
        /// The group that claimed it first.
        first: String,
        /// The other.
        second: String,
    },
    /// Two groups share a name.
    #[error("the permutation spec has two groups named `{group}`")]
    DuplicateGroup {
        /// The name.
        group: String,
    },
    /// The state dict does not have the names an architecture's spec is built from.
    #[error("not a {architecture} state dict: {reason}")]
    UnknownLayout {
        /// "MLP", "ResNet", "ViT", "GPT-2".
        architecture: &'static str,
        /// What is missing or inconsistent.
        reason: String,
    },
    /// A permutation does not fit its spec: a group missing, of another length, or not a
    /// permutation of `0..n`.
    #[error("permutation of group `{group}`: {detail}")]
    BadPermutation {
        /// The group's name.
        group: String,
        /// What is wrong.
        detail: String,
    },
    /// The linear assignment solver refused a cost matrix (NaN or infinite weights).
    #[error("linear assignment for group `{group}` failed (are the weights finite?)")]
    Assignment {
        /// The group's name.
        group: String,
        /// The solver's error.
        #[source]
        source: lsap::LSAPError,
    },
    /// State dicts to be averaged differ in names, shapes or element types.
    #[error("state dict {index} differs from the first at `{name}`: {detail}")]
    Incompatible {
        /// Position of the offending dict in the list.
        index: usize,
        /// State-dict name.
        name: String,
        /// What differs.
        detail: String,
    },
    /// Averaging was asked of no state dicts, or weights of another count.
    #[error("averaging needs one weight per state dict and at least one dict; got {dicts} dicts, {weights} weights")]
    NothingToAverage {
        /// Number of dicts.
        dicts: usize,
        /// Number of weights.
        weights: usize,
    },
}
