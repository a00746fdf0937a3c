//! Permutation specs built from a state dict's names and shapes, one file per architecture
//! family, each with phasezoo's (= PyTorch's) names: the PINN MLP (`crates/models/src/mlp.rs`),
//! torchvision's ResNet-18/50 (`crates/models/src/vision/resnet.rs`), torchvision's ViT
//! (`vision/vit.rs`) and Hugging Face's GPT-2 (`crates/models/src/gpt2/layout.rs`).

mod mlp;
mod resnet;
mod transformer;

pub use mlp::mlp_spec;
pub use resnet::resnet_spec;
pub use transformer::{gpt2_spec, vit_spec};

use crate::tensor::StateDict;
use crate::Error;

/// The shape of `name`, or why the dict is not of `architecture`.
fn shape_of<'a>(state: &'a StateDict, name: &str, architecture: &'static str) -> Result<&'a [usize], Error> {
    state
        .get(name)
        .map(|t| t.shape.as_slice())
        .ok_or_else(|| Error::UnknownLayout { architecture, reason: format!("no tensor `{name}`") })
}

/// The sorted distinct integers `i` of keys `{prefix}{i}.{rest}`.
fn indices(state: &StateDict, prefix: &str) -> Vec<usize> {
    let mut out: Vec<usize> =
        state.keys().filter_map(|k| k.strip_prefix(prefix)?.split('.').next()?.parse().ok()).collect();
    out.sort_unstable();
    out.dedup();
    out
}
