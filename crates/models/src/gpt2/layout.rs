//! The state dict of a GPT-2 as data: each parameter's Hugging Face name, shape and init law, in
//! the order of `GPT2LMHeadModel.state_dict()` (the tied `lm_head.weight`, which follows them
//! all, is the model's to add: it is `transformer.wte.weight` again).
//!
//! Init is GPT-2's as nanoGPT and Hugging Face's `_init_weights` write it: N(0, 0.02) for every
//! matrix and both embeddings, zero biases, LayerNorm γ = 1 and β = 0, and the two projections
//! into the residual stream (`attn.c_proj`, `mlp.c_proj`) N(0, 0.02/√(2·depth)), since each of
//! the 2·depth residual branches adds to the same stream (Radford et al. 2019, §2.3).

use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use tch::{Device, Kind, Tensor};

use super::Gpt2Config;

/// GPT-2's `initializer_range`.
const STD: f64 = 0.02;

/// How one parameter starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Init {
    /// `normal_(0, std)`.
    Normal(f64),
    /// `constant_(v)`.
    Const(f64),
}

/// One parameter of the state dict.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Slot {
    pub name: String,
    pub shape: Vec<i64>,
    pub init: Init,
    /// An operand of a block's `addmm` (a Conv1D weight or bias): what bf16 autocast casts in
    /// every step.
    pub matmul_operand: bool,
}

impl Slot {
    /// nanoGPT's `configure_optimizers` rule: weight decay on every tensor of 2 or more dims
    /// (the matrices and both embeddings), none on biases and LayerNorm parameters.
    pub fn decays(&self) -> bool {
        self.shape.len() >= 2
    }
}

/// Every parameter in state-dict order (`lm_head.weight` excluded).
#[allow(clippy::cast_precision_loss)]
pub(crate) fn layout(cfg: &Gpt2Config) -> Vec<Slot> {
    let d = cfg.model_dim;
    let residual_std = STD / (2.0 * cfg.depth as f64).sqrt();
    let mut l = Layout::default();
    l.param("transformer.wte.weight".into(), &[cfg.vocab_size, d], Init::Normal(STD));
    l.param("transformer.wpe.weight".into(), &[cfg.context, d], Init::Normal(STD));
    for i in 0..cfg.depth {
        let h = format!("transformer.h.{i}");
        l.layer_norm(&format!("{h}.ln_1"), d);
        l.conv1d(&format!("{h}.attn.c_attn"), d, 3 * d, STD);
        l.conv1d(&format!("{h}.attn.c_proj"), d, d, residual_std);
        l.layer_norm(&format!("{h}.ln_2"), d);
        l.conv1d(&format!("{h}.mlp.c_fc"), d, 4 * d, STD);
        l.conv1d(&format!("{h}.mlp.c_proj"), 4 * d, d, residual_std);
    }
    l.layer_norm("transformer.ln_f", d);
    l.0
}

/// Slots appended in state-dict order.
#[derive(Default)]
struct Layout(Vec<Slot>);

impl Layout {
    fn param(&mut self, name: String, shape: &[i64], init: Init) {
        self.0.push(Slot { name, shape: shape.to_vec(), init, matmul_operand: false });
    }

    fn layer_norm(&mut self, name: &str, d: i64) {
        self.param(format!("{name}.weight"), &[d], Init::Const(1.0));
        self.param(format!("{name}.bias"), &[d], Init::Const(0.0));
    }

    /// Hugging Face's `Conv1D` keeps its weight as `[in, out]` (y = x W + b), the transpose
    /// of nn.Linear's.
    fn conv1d(&mut self, name: &str, d_in: i64, d_out: i64, std: f64) {
        self.param(format!("{name}.weight"), &[d_in, d_out], Init::Normal(std));
        self.param(format!("{name}.bias"), &[d_out], Init::Const(0.0));
        for slot in self.0.iter_mut().rev().take(2) {
            slot.matmul_operand = true;
        }
    }
}

/// A float32 CPU tensor of `shape` drawn from `init`; constants draw nothing from `rng`.
///
/// Drawn in Rust from the model's own stream rather than by libtorch's global generator, so
/// the weights are a function of the seed alone: the same bytes on CPU and CUDA and whatever
/// other threads do (as the vision models, vision/init.rs).
#[allow(clippy::cast_possible_truncation)]
pub(crate) fn draw(init: Init, shape: &[i64], rng: &mut ChaCha8Rng) -> Tensor {
    match init {
        Init::Const(v) => Tensor::full(shape, v, (Kind::Float, Device::Cpu)),
        Init::Normal(std) => {
            let numel = usize::try_from(shape.iter().product::<i64>()).expect("non-negative shape");
            let law = Normal::new(0.0f32, std as f32).expect("std > 0");
            let values: Vec<f32> = (0..numel).map(|_| law.sample(rng)).collect();
            Tensor::from_slice(&values).reshape(shape)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{member_rng, Stream};

    fn tiny() -> Gpt2Config {
        Gpt2Config { vocab_size: 101, context: 16, model_dim: 32, depth: 2, heads: 4 }
    }

    #[test]
    fn layout_counts_the_configs_parameters_in_hugging_face_order() {
        let slots = layout(&tiny());
        let numel: i64 = slots.iter().map(|s| s.shape.iter().product::<i64>()).sum();
        assert_eq!(numel, tiny().parameter_count());
        let names: Vec<&str> = slots.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names[..4],
            [
                "transformer.wte.weight",
                "transformer.wpe.weight",
                "transformer.h.0.ln_1.weight",
                "transformer.h.0.ln_1.bias"
            ]
        );
        assert_eq!(
            names[4..8],
            [
                "transformer.h.0.attn.c_attn.weight",
                "transformer.h.0.attn.c_attn.bias",
                "transformer.h.0.attn.c_proj.weight",
                "transformer.h.0.attn.c_proj.bias"
            ]
        );
        assert_eq!(names[names.len() - 2..], ["transformer.ln_f.weight", "transformer.ln_f.bias"]);
        let c_fc = slots.iter().find(|s| s.name == "transformer.h.1.mlp.c_fc.weight").unwrap();
        assert_eq!(c_fc.shape, [32, 128], "Conv1D layout [in, out]");
    }

    #[test]
    fn residual_projections_start_smaller_by_the_square_root_of_twice_the_depth() {
        let slots = layout(&tiny());
        let std_of = |name: &str| match slots.iter().find(|s| s.name == name).unwrap().init {
            Init::Normal(s) => s,
            Init::Const(_) => panic!("{name} is constant"),
        };
        assert!((std_of("transformer.h.1.attn.c_proj.weight") - 0.01).abs() < 1e-12); // 0.02/√4
        assert!((std_of("transformer.h.0.mlp.c_proj.weight") - 0.01).abs() < 1e-12);
        assert!((std_of("transformer.h.0.mlp.c_fc.weight") - 0.02).abs() < 1e-12);
    }

    #[test]
    fn matrices_and_embeddings_decay_biases_and_norms_do_not() {
        let slots = layout(&tiny());
        let decayed: Vec<&str> = slots.iter().filter(|s| s.decays()).map(|s| s.name.as_str()).collect();
        assert_eq!(decayed.len(), 2 + 4 * 2);
        assert!(decayed.contains(&"transformer.wpe.weight"));
        assert!(decayed.iter().all(|n| n.ends_with(".weight") && !n.contains("ln_")));
    }

    #[test]
    fn normal_draws_have_the_asked_spread() {
        let t = draw(Init::Normal(0.02), &[256, 256], &mut member_rng(1, Stream::Init));
        let std = t.std(true).double_value(&[]);
        assert!((std - 0.02).abs() < 0.02 * 0.01, "std {std}");
    }
}
