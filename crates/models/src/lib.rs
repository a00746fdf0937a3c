//! Models as *populations*: K models of identical shapes stored as stacked tensors (population
//! axis first) and run as one batched computation. A single model is a population of one.
//!
//! Parameter names follow PyTorch's state-dict keys of the documented reference module, so a
//! member's `model.safetensors` loads with `load_state_dict` (see docs/FORMAT.md).

mod convert;
mod error;
mod fused_tangent;
pub mod gpt2;
mod mlp;
mod reference;
mod state_dict;
mod tangent;
pub mod vision;

pub use convert::{kind_of, tensor_from_named, tensor_to_named};
pub use error::Error;
pub use gpt2::{Gpt2, Gpt2Config, Gpt2ConfigError};
pub use mlp::MlpPopulation;
// The per-model random streams live in pz-spec (no libtorch); re-exported for the models here.
pub use pz_spec::{member_rng, Stream};
pub use tangent::TangentTape;
pub use vision::{AttentionKernel, VisionArch, VisionModel, VisionModelConfig};
