//! Weight matching ("git re-basin") and averaging of state dicts, for the applications of
//! SPEC 5 (averaging over epochs and over aligned seeds, interpolation).
//!
//! The crate owns:
//! - [`PermutationSpec`]: which tensor axes each group of interchangeable hidden units
//!   indexes, built from PyTorch state-dict names by [`mlp_spec`], [`resnet_spec`],
//!   [`vit_spec`] and [`gpt2_spec`];
//! - [`weight_matching`]: permutation coordinate descent (Ainsworth et al. 2023), a linear
//!   assignment per group through the `lsap` crate (scipy's solver, as the original used);
//! - [`permute`]: a [`Permutation`] applied to a state dict ([`align`]: both steps);
//! - [`average`] and [`weighted_average`] under an [`AveragingRule`] (uniform, or the
//!   original's "weight"-keys-only quirk).
//!
//! It works on [`StateDict`]s of host `f32`/`i64` vectors and must not know libtorch, the
//! store or the families: callers convert checkpoints in and out, and recompute BatchNorm
//! statistics after averaging.
//!
//! ```
//! use pz_align::{mlp_spec, permute, weight_matching, MatchConfig, Permutation, StateDict, Tensor};
//!
//! let mut a = StateDict::new();
//! a.insert("net.0.weight".into(), Tensor::f32(&[3, 1], vec![0.5, -1.0, 2.0]));
//! a.insert("net.0.bias".into(), Tensor::f32(&[3], vec![0.1, 0.2, 0.3]));
//! a.insert("net.2.weight".into(), Tensor::f32(&[1, 3], vec![1.0, 2.0, 3.0]));
//! let spec = mlp_spec(&a).unwrap();
//! let b = permute(&spec, &Permutation::random(&spec, 7), &a).unwrap();
//! let found = weight_matching(&spec, &a, &b, &MatchConfig::default()).unwrap();
//! assert_eq!(permute(&spec, &found.permutation, &b).unwrap(), a);
//! ```

mod average;
mod error;
mod matching;
mod permute;
mod spec;
mod specs;
mod tensor;

pub use average::{average, weighted_average, AveragingRule};
pub use error::Error;
pub use matching::{align, weight_matching, MatchConfig, MatchReport};
pub use permute::{permute, Permutation};
pub use spec::{AxisRef, Group, PermutationSpec};
pub use specs::{gpt2_spec, mlp_spec, resnet_spec, vit_spec};
pub use tensor::{Data, StateDict, Tensor};
