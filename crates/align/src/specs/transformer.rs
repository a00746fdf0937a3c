//! Transformers: torchvision's ViT (`crates/models/src/vision/vit.rs`) and Hugging Face's GPT-2
//! (`crates/models/src/gpt2/layout.rs`). Per block two groups: the attention heads (q, k and v
//! of a head move together, and the output projection's input slice with them: attention is
//! computed head by head, then the heads are concatenated) and the MLP's hidden units.
//!
//! Not permuted: the residual stream (LayerNorm is equivariant to a channel permutation, so
//! it could be one more group, tied through every block, the embeddings and the head) and the
//! dimensions inside a head (q·k is invariant to a common permutation of q's and k's, v and
//! the output projection to another): the issue asks for heads and MLP units.

use super::{indices, shape_of};
use crate::spec::PermutationSpec;
use crate::tensor::StateDict;
use crate::Error;

/// The permutation spec of a torchvision ViT with `heads` attention heads per block:
/// `encoder.layers.encoder_layer_{i}.self_attention.{in_proj_weight [3d, d], in_proj_bias,
/// out_proj}` (rows ordered q, k, v, each `[heads, head_dim]`) and `.mlp.0` / `.mlp.3`.
/// Groups `encoder_layer_{i}.heads` and `encoder_layer_{i}.mlp`.
///
/// # Errors
/// [`Error::UnknownLayout`] without encoder layers, or if `heads` does not divide the width.
pub fn vit_spec(state: &StateDict, heads: usize) -> Result<PermutationSpec, Error> {
    const ARCH: &str = "ViT";
    let layers = indices(state, "encoder.layers.encoder_layer_");
    if layers.is_empty() {
        return Err(Error::UnknownLayout { architecture: ARCH, reason: "no encoder layers".into() });
    }
    let mut spec = PermutationSpec::default();
    for i in layers {
        let b = format!("encoder.layers.encoder_layer_{i}");
        let attn = format!("{b}.self_attention");
        let d = shape_of(state, &format!("{attn}.in_proj_weight"), ARCH)?[1];
        let head_dim = head_dim(d, heads, ARCH)?;
        spec.group(format!("encoder_layer_{i}.heads"), heads)
            .blocked(format!("{attn}.in_proj_weight"), 0, 3, head_dim)
            .blocked(format!("{attn}.in_proj_bias"), 0, 3, head_dim)
            .blocked(format!("{attn}.out_proj.weight"), 1, 1, head_dim);
        let hidden = shape_of(state, &format!("{b}.mlp.0.weight"), ARCH)?[0];
        spec.group(format!("encoder_layer_{i}.mlp"), hidden)
            .axis(format!("{b}.mlp.0.weight"), 0)
            .axis(format!("{b}.mlp.0.bias"), 0)
            .axis(format!("{b}.mlp.3.weight"), 1);
    }
    spec.tensor_axes(state)?;
    Ok(spec)
}

/// The permutation spec of a Hugging Face GPT-2 with `heads` heads per block. Its `Conv1D`
/// stores weights `[in, out]` (y = x W + b), so a layer's output units are axis 1:
/// `transformer.h.{i}.attn.c_attn.weight [d, 3d]` (columns q, k, v), `attn.c_proj.weight
/// [d, d]` (rows = the concatenated heads), `mlp.c_fc.weight [d, 4d]`, `mlp.c_proj.weight
/// [4d, d]`. Groups `h.{i}.attn` and `h.{i}.mlp`.
///
/// # Errors
/// [`Error::UnknownLayout`] without blocks, or if `heads` does not divide the width.
pub fn gpt2_spec(state: &StateDict, heads: usize) -> Result<PermutationSpec, Error> {
    const ARCH: &str = "GPT-2";
    let layers = indices(state, "transformer.h.");
    if layers.is_empty() {
        return Err(Error::UnknownLayout {
            architecture: ARCH,
            reason: "no `transformer.h.<i>` blocks".into(),
        });
    }
    let mut spec = PermutationSpec::default();
    for i in layers {
        let h = format!("transformer.h.{i}");
        let d = shape_of(state, &format!("{h}.attn.c_attn.weight"), ARCH)?[0];
        let head_dim = head_dim(d, heads, ARCH)?;
        spec.group(format!("h.{i}.attn"), heads)
            .blocked(format!("{h}.attn.c_attn.weight"), 1, 3, head_dim)
            .blocked(format!("{h}.attn.c_attn.bias"), 0, 3, head_dim)
            .blocked(format!("{h}.attn.c_proj.weight"), 0, 1, head_dim);
        let hidden = shape_of(state, &format!("{h}.mlp.c_fc.weight"), ARCH)?[1];
        spec.group(format!("h.{i}.mlp"), hidden)
            .axis(format!("{h}.mlp.c_fc.weight"), 1)
            .axis(format!("{h}.mlp.c_fc.bias"), 0)
            .axis(format!("{h}.mlp.c_proj.weight"), 0);
    }
    spec.tensor_axes(state)?;
    Ok(spec)
}

fn head_dim(d: usize, heads: usize, architecture: &'static str) -> Result<usize, Error> {
    if heads == 0 || !d.is_multiple_of(heads) {
        return Err(Error::UnknownLayout {
            architecture,
            reason: format!("{heads} heads do not divide width {d}"),
        });
    }
    Ok(d / heads)
}
