//! Zoo specs: what a zoo is, before anything is trained.
//!
//! A zoo is described by one TOML file ([`ZooSpec`]): the model, the problem or dataset, the
//! training recipe, and a grid of a *load*-like and a *temperature*-like axis times seeds.
//! This crate reads that file into typed structs, applies `--set key=value` overrides to the
//! raw document (so overrides pass the same validation as the file), validates it with errors
//! that name the file, the key and the fix, and expands the grid into a [`Plan`] of models,
//! each with a stable [`ModelId`].
//!
//! It knows nothing of tensors, files on disk beyond the spec itself, or devices.
//!
//! ```
//! let spec = pz_spec::ZooSpec::embedded_default().unwrap();
//! let plan = pz_spec::Plan::new(&spec).unwrap();
//! assert_eq!(plan.models.len(), spec.grid.len());
//! ```
#![deny(missing_docs)]

mod device;
mod error;
mod family_defaults;
mod finetune;
mod llc;
mod lm;
mod load;
mod memory;
mod metrics;
mod modarith;
mod model_checks;
mod model_id;
mod plan;
mod recipe;
mod result_names;
mod rng;
mod run;
mod thresholds;
mod types;

pub use device::DeviceRequest;
pub use error::{Problem, SpecError};
pub use finetune::{FinetuneConfig, FINETUNE_MODES};
pub use llc::{LlcConfig, LlcError};
pub use lm::{Gpt2Config, TextConfig, GPT2_VOCAB, TEXT_CORPORA};
pub use load::{parse_override, EMBEDDED_DEFAULT, EMBEDDED_DEFAULT_NAME};
pub use memory::{check_fits, host_memory_bytes, largest_unit_bytes, member_bytes, too_large};
pub use metrics::{
    CkaConfig, CkaKernel, CkaLayer, CurveConfig, CurveOptimizer, HessianConfig, MetricsConfig,
};
pub use modarith::{ModArithConfig, Operation};
pub use model_id::ModelId;
pub use plan::{AxisSetting, CellIndex, Plan, PlannedModel, ResolvedModel};
pub use recipe::{DType, Optimizer, Precision, Schedule, TrainConfig};
pub use result_names::ResultNames;
pub use rng::{member_rng, Stream};
pub use run::{CheckpointPolicy, Layout, RunConfig};
pub use thresholds::PhaseThresholds;
pub use types::{
    Activation, Axis, ConvectionConfig, Derivatives, GridSpec, ImageConfig, MlpConfig, ModelConfig,
    ProblemConfig, ResnetConfig, VitConfig, ZooSpec, DATASETS,
};

#[cfg(test)]
mod tests;
