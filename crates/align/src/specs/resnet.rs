//! torchvision's ResNet (BasicBlock or Bottleneck, any width and depth) with its names:
//! `conv1`, `bn1`, `layer{s}.{b}.conv{c}` / `.bn{c}`, `.downsample.0` (1×1 conv) /
//! `.downsample.1` (BN), `fc` (`crates/models/src/vision/resnet.rs`, "Names").
//!
//! Groups (as git re-basin's `resnet20_permutation_spec`, for torchvision's layout):
//! - the residual stream: every block of a stage adds its last BN's output to its input
//!   channel by channel, so the stem's channels, each block's last conv–BN and the next
//!   block's input are one group until a `downsample` projection starts a new stream (ResNet-18:
//!   stages 2–4; ResNet-50: every stage). Named `conv1` (the stem's) and `layer{s}`.
//! - inside a block, each conv–BN but the last: its output channels and the next conv's
//!   inputs, named after the conv (`layer1.0.conv1`).
//!
//! A BatchNorm's `weight`, `bias`, `running_mean` and `running_var` move with its channels
//! (the statistics too, or the permuted model would normalise channel i with channel j's
//! statistics); `num_batches_tracked` is a scalar and stays.

use super::{indices, shape_of};
use crate::spec::PermutationSpec;
use crate::tensor::StateDict;
use crate::Error;

const ARCH: &str = "ResNet";

/// The permutation spec of a torchvision ResNet state dict.
///
/// # Errors
/// [`Error::UnknownLayout`] without the stem, stages or fc; [`Error::AxisMismatch`] and
/// friends if the shapes do not chain as a ResNet's.
pub fn resnet_spec(state: &StateDict) -> Result<PermutationSpec, Error> {
    let mut spec = PermutationSpec::default();
    let stem = shape_of(state, "conv1.weight", ARCH)?[0];
    let mut res = new_group(&mut spec, "conv1", stem);
    spec.groups[res].axis("conv1.weight", 0);
    batch_norm(&mut spec, res, state, "bn1");
    let stages = indices(state, "layer");
    if stages.is_empty() {
        return Err(Error::UnknownLayout { architecture: ARCH, reason: "no `layer<s>.*` tensors".into() });
    }
    for s in stages {
        for b in indices(state, &format!("layer{s}.")) {
            let p = format!("layer{s}.{b}");
            let convs = indices(state, &format!("{p}.conv"));
            let (&last, inner) = convs.split_last().ok_or_else(|| Error::UnknownLayout {
                architecture: ARCH,
                reason: format!("block `{p}` has no `conv<c>.weight`"),
            })?;
            let downsample = format!("{p}.downsample.0.weight");
            spec.groups[res].axis(format!("{p}.conv{}.weight", convs[0]), 1);
            if state.contains_key(&downsample) {
                spec.groups[res].axis(downsample.clone(), 1);
                res = new_group(&mut spec, &format!("layer{s}"), shape_of(state, &downsample, ARCH)?[0]);
                spec.groups[res].axis(downsample, 0);
                batch_norm(&mut spec, res, state, &format!("{p}.downsample.1"));
            }
            for (k, &c) in inner.iter().enumerate() {
                let conv = format!("{p}.conv{c}");
                let g = new_group(&mut spec, &conv, shape_of(state, &format!("{conv}.weight"), ARCH)?[0]);
                spec.groups[g].axis(format!("{conv}.weight"), 0);
                batch_norm(&mut spec, g, state, &format!("{p}.bn{c}"));
                spec.groups[g].axis(format!("{p}.conv{}.weight", convs[k + 1]), 1);
            }
            spec.groups[res].axis(format!("{p}.conv{last}.weight"), 0);
            batch_norm(&mut spec, res, state, &format!("{p}.bn{last}"));
        }
    }
    shape_of(state, "fc.weight", ARCH)?;
    spec.groups[res].axis("fc.weight", 1);
    spec.tensor_axes(state)?;
    Ok(spec)
}

/// Add a group and return its index.
fn new_group(spec: &mut PermutationSpec, name: &str, size: usize) -> usize {
    spec.group(name, size);
    spec.groups.len() - 1
}

/// A BatchNorm's per-channel tensors into group `g`: γ and β, and the running statistics when
/// the dict has them (a dict of trainable tensors only does not).
fn batch_norm(spec: &mut PermutationSpec, g: usize, state: &StateDict, bn: &str) {
    for field in ["weight", "bias", "running_mean", "running_var"] {
        let name = format!("{bn}.{field}");
        // A missing γ or β is reported by the spec check as a missing tensor.
        if state.contains_key(&name) || matches!(field, "weight" | "bias") {
            spec.groups[g].axis(name, 0);
        }
    }
}
