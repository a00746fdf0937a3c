//! The modular-arithmetic zoo's spec types (`[problem] kind = "modarith"`): the toy model of
//! Liu et al. 2022 ("Towards Understanding Grokking: An Effective Theory of Representation
//! Learning", arXiv 2205.10343), learned embeddings E_a + E_b fed to an MLP decoder
//! (`architecture = "mlp"`, its `hidden` widths; tanh as the paper's), classifying `a ∘ b mod p`
//! with two AdamW groups: the embeddings at `train.lr` / `train.weight_decay` (the paper's
//! representation learning rate, 1e-3, and no decay) and the decoder at `problem.decoder_lr` /
//! `problem.decoder_weight_decay` (the axes of the paper's phase diagrams).
//!
//! `architecture = "gpt2"` swaps the decoder for a GPT-2 transformer (issue 21; Power et al.
//! 2022 grokked with two layers, Nanda et al. 2023 with one): the input is the sequence `[a, b, =]` (token
//! `=` has id p), so the model's `model_dim`, `depth` and `head_dim` apply while its `context`
//! (3 here) and `vocab_size` (p + 1 here) are fixed by the task, and `problem.embed_dim` gives way
//! to `model.model_dim`; those three keys must keep their defaults ([`validate_transformer`]).
//!
//! Every step is full-batch on the member's training pairs; `train.steps_per_epoch` is the
//! logging interval (`result.json` gets one line of train and validation accuracy per epoch).

use serde::{Deserialize, Serialize};

use crate::error::Problem;
use crate::{Gpt2Config, Optimizer, Schedule, ZooSpec};

/// Classification of `a ∘ b mod p` over all p² ordered pairs, a `train_fraction` of them
/// (drawn per model from its seed) for training, the rest for validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModArithConfig {
    /// The modulus: symbols 0..p, p² pairs, p classes. Power et al. 2022 and Liu et al.'s
    /// transformer: 97 and 59.
    #[serde(default = "d59")]
    pub p: u32,
    /// The operation.
    #[serde(default)]
    pub operation: Operation,
    /// Fraction of the p² pairs trained on (the rest is the validation set), in (0, 1).
    #[serde(default = "half")]
    pub train_fraction: f64,
    /// Width d of the learned embeddings (the decoder's input). Liu et al.'s toy: 1 for
    /// regression; classification needs a few dimensions.
    #[serde(default = "d32")]
    pub embed_dim: u32,
    /// Standard deviation of the embeddings' normal initialization (`nn.Embedding`: 1).
    #[serde(default = "one")]
    pub init_scale: f64,
    /// AdamW learning rate of the decoder η₂ (Liu et al. Fig. 6: 1e-4 … 1e-2).
    #[serde(default = "d1e3")]
    pub decoder_lr: f64,
    /// AdamW (decoupled) weight decay of the decoder (Liu et al. Fig. 6: 0 … 10).
    #[serde(default)]
    pub decoder_weight_decay: f64,
}

/// The binary operation `a ∘ b mod p`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// (a + b) mod p.
    #[default]
    Add,
    /// (a − b) mod p.
    Sub,
    /// (a · b) mod p.
    Mul,
}

impl Operation {
    /// `a ∘ b mod p`.
    #[must_use]
    pub fn apply(self, a: u32, b: u32, p: u32) -> u32 {
        let (a, b, p) = (u64::from(a), u64::from(b), u64::from(p));
        let r = match self {
            Self::Add => (a + b) % p,
            Self::Sub => (a + p - b % p) % p,
            Self::Mul => (a * b) % p,
        };
        u32::try_from(r).expect("below p")
    }
}

fn d59() -> u32 {
    59
}
fn d32() -> u32 {
    32
}
fn half() -> f64 {
    0.5
}
fn one() -> f64 {
    1.0
}
fn d1e3() -> f64 {
    1e-3
}

impl ModArithConfig {
    /// Number of pairs p².
    #[must_use]
    pub fn pairs(&self) -> usize {
        (self.p as usize).pow(2)
    }

    /// Training pairs of a model: ⌊train_fraction · p²⌉, at least one and one fewer than all.
    #[must_use]
    pub fn train_pairs(&self) -> usize {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
        let n = (self.train_fraction * self.pairs() as f64).round() as usize;
        n.clamp(1, self.pairs().saturating_sub(1).max(1))
    }
}

/// Bytes one member needs while it trains: parameters with gradient and AdamW's two moments,
/// and, for each of the p² pairs (every step computes all of them, masked per member), every
/// layer's units kept for the backward pass, the logits twice (their softmax's gradient).
#[allow(clippy::cast_precision_loss)]
pub(crate) fn member_bytes(model: &crate::ResolvedModel, mlp: &crate::MlpConfig, m: &ModArithConfig) -> f64 {
    let bytes = if model.train.dtype == crate::DType::Float64 { 8.0 } else { 4.0 };
    let (p, d) = (f64::from(m.p), f64::from(m.embed_dim));
    let widths: Vec<f64> =
        std::iter::once(d).chain(mlp.hidden.iter().map(|&h| h as f64)).chain([p]).collect();
    let params: f64 = p * d + widths.windows(2).map(|w| (w[0] + 1.0) * w[1]).sum::<f64>();
    let units: f64 = widths.iter().sum::<f64>() + 2.0 * p;
    #[allow(clippy::cast_precision_loss)]
    let pairs = m.pairs() as f64;
    bytes * (4.0 * params + 2.0 * pairs * units)
}

/// Bytes one transformer member needs while it trains: parameters ((p + 1)·d token and 3·d
/// position embeddings, depth·(12d² + 13d) in the blocks, 2d in ln_f, (d + 1)·p in the head) with
/// gradient and AdamW's two moments; per pair (all p² every step), its 3 tokens' activations,
/// about 34·d values per block (as the language model's estimate, memory.rs) and the 3×3
/// attention scores of every head three times (scores, masked, softmax: the attention is
/// explicit, for the Hessian's double backward), then ln_f's input and output and the logits
/// twice; forward values and their gradients, hence × 2.
#[allow(clippy::cast_precision_loss)]
pub(crate) fn transformer_member_bytes(
    model: &crate::ResolvedModel,
    g: &Gpt2Config,
    m: &ModArithConfig,
) -> f64 {
    let bytes = if model.train.dtype == crate::DType::Float64 { 8.0 } else { 4.0 };
    let (p, d, depth) = (f64::from(m.p), f64::from(g.model_dim), f64::from(g.depth));
    let heads = f64::from(g.heads());
    let params = (p + 1.0) * d + 3.0 * d + depth * (12.0 * d * d + 13.0 * d) + 2.0 * d + (d + 1.0) * p;
    let units = 3.0 * depth * (34.0 * d + 3.0 * heads * 9.0) + 2.0 * d + 2.0 * p;
    bytes * (4.0 * params + 2.0 * m.pairs() as f64 * units)
}

/// The transformer's fields on this problem: heads that divide the width, at least one block,
/// and the keys the task fixes left at their defaults (a value there would be silently ignored).
pub(crate) fn validate_transformer(g: &Gpt2Config, m: &ModArithConfig) -> Vec<Problem> {
    let mut problems = Vec::new();
    if g.model_dim == 0 {
        problems.push(Problem::new("model.model_dim", "must be at least 1").hint("e.g. model_dim = 64"));
    } else if g.head_dim == 0 || !g.model_dim.is_multiple_of(g.head_dim) {
        problems.push(
            Problem::new(
                "model.head_dim",
                format!("{} does not divide model.model_dim = {}", g.head_dim, g.model_dim),
            )
            .hint("heads = model_dim / head_dim: e.g. model_dim = 64 with head_dim = 16 (4 heads)"),
        );
    }
    if g.depth == 0 {
        problems.push(
            Problem::new("model.depth", "must be at least 1 (the number of transformer blocks)")
                .hint("e.g. depth = 1, a one-layer transformer"),
        );
    }
    // serde's defaults, read back from an empty table: the one source of them.
    let defaults: Gpt2Config = toml::from_str("").expect("every Gpt2Config field has a default");
    let fixed = [
        ("model.context", g.context != defaults.context, "the sequence is [a, b, =]: 3 positions"),
        ("model.vocab_size", g.vocab_size != defaults.vocab_size, "the tokens are 0..p and `=`: p + 1 rows"),
        ("problem.embed_dim", m.embed_dim != d32(), "the embeddings are model.model_dim wide"),
    ];
    for (key, set, why) in fixed {
        if set {
            problems.push(
                Problem::new(key, format!("is not used by a modular-arithmetic transformer ({why})"))
                    .hint(format!("remove {key}")),
            );
        }
    }
    problems
}

/// The problem's fields and the recipe it trains with.
pub(crate) fn validate_modarith(spec: &ZooSpec, m: &ModArithConfig) -> Vec<Problem> {
    let mut problems = Vec::new();
    if !(2..=1024).contains(&m.p) {
        problems.push(Problem::new("problem.p", format!("{} must be in 2..=1024", m.p)).hint("e.g. p = 59"));
    }
    if !(m.train_fraction > 0.0 && m.train_fraction < 1.0) {
        problems.push(
            Problem::new("problem.train_fraction", format!("{} must be in (0, 1)", m.train_fraction))
                .hint("the rest of the pairs is the validation set, e.g. train_fraction = 0.5"),
        );
    }
    if m.embed_dim == 0 {
        problems.push(Problem::new("problem.embed_dim", "must be at least 1").hint("e.g. embed_dim = 32"));
    }
    if !(m.init_scale.is_finite() && m.init_scale > 0.0) {
        problems.push(Problem::new("problem.init_scale", "must be > 0"));
    }
    if !(m.decoder_lr.is_finite() && m.decoder_lr > 0.0) {
        problems.push(
            Problem::new(
                "problem.decoder_lr",
                format!("{} is not a learning rate: it must be > 0", m.decoder_lr),
            )
            .hint("e.g. decoder_lr = 1e-3"),
        );
    }
    if !(m.decoder_weight_decay.is_finite() && m.decoder_weight_decay >= 0.0) {
        problems.push(Problem::new("problem.decoder_weight_decay", "must be >= 0"));
    }
    let t = &spec.train;
    if t.optimizer != Optimizer::AdamW || t.schedule != Schedule::Constant {
        problems.push(
            Problem::new("train.optimizer", "modular-arithmetic models train with AdamW at a constant lr")
                .hint("set optimizer = \"adamw\" and remove train.schedule (Liu et al. 2022)"),
        );
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::Operation;
    use crate::{ProblemConfig, ZooSpec};

    const EXAMPLE: &str = include_str!("../../../examples/grokking-modadd.toml");

    fn keys(overrides: &[&str]) -> Vec<String> {
        let o: Vec<String> = overrides.iter().map(|s| (*s).to_string()).collect();
        let err = ZooSpec::parse(EXAMPLE, "t.toml", &o).unwrap_err();
        err.problems().iter().map(|p| p.key.clone()).collect()
    }

    #[test]
    fn the_example_parses_with_one_fused_shape() {
        let spec = ZooSpec::parse(EXAMPLE, "t.toml", &[]).unwrap();
        let ProblemConfig::ModArith(m) = &spec.problem else { panic!("modarith") };
        assert_eq!(m.operation, Operation::Add);
        assert!(m.train_pairs() > 0 && m.train_pairs() < m.pairs());
        assert!(spec.grid.len() >= 12, "several cells and seeds");
    }

    #[test]
    fn operations_are_modular() {
        assert_eq!(Operation::Add.apply(5, 6, 7), 4);
        assert_eq!(Operation::Sub.apply(2, 5, 7), 4);
        assert_eq!(Operation::Mul.apply(3, 5, 7), 1);
    }

    #[test]
    fn bad_fields_are_named() {
        assert_eq!(keys(&["problem.train_fraction=1.0"]), ["problem.train_fraction"]);
        assert_eq!(keys(&["problem.p=1"]), ["problem.p"]);
        assert_eq!(keys(&["problem.embed_dim=0"]), ["problem.embed_dim"]);
        assert_eq!(keys(&["train.optimizer=\"adam\""]), ["train.optimizer"]);
        // serde names the tagged section (as for every problem kind), its message the variant.
        assert_eq!(keys(&["problem.operation=\"div\""]), ["problem"]);
        // An axis value out of range is named on the axis.
        let k = keys(&["grid.temperature.values=[1e-3, -1.0]"]);
        assert_eq!(k, ["grid.temperature.values[1]"]);
    }

    const TRANSFORMER: &str = include_str!("../../../examples/grokking-modadd-transformer.toml");

    /// The problems of the transformer example with `overrides`: (key, message, hint).
    fn transformer_problems(overrides: &[&str]) -> Vec<(String, String, String)> {
        let o: Vec<String> = overrides.iter().map(|s| (*s).to_string()).collect();
        let err = ZooSpec::parse(TRANSFORMER, "t.toml", &o).unwrap_err();
        err.problems()
            .iter()
            .map(|p| (p.key.clone(), p.message.clone(), p.hint.clone().unwrap_or_default()))
            .collect()
    }

    #[test]
    fn the_transformer_example_parses_and_its_estimate_counts_its_parameters() {
        let spec = ZooSpec::parse(TRANSFORMER, "t.toml", &[]).unwrap();
        let crate::ModelConfig::Gpt2(g) = &spec.model else { panic!("gpt2") };
        assert_eq!((g.model_dim, g.depth, g.heads()), (32, 1, 4));
        let plan = crate::Plan::new(&spec).unwrap();
        let m = &plan.models[0].config;
        // p = 23, d = 32: 24·32 + 3·32 embeddings, 12·32² + 13·32 in the block, 2·32 ln_f,
        // 33·23 head = 14_391; per pair 3·(34·32 + 27·4) + 2·32 + 2·23 = 3698 units.
        let want = 4.0 * (4.0 * 14_391.0 + 2.0 * 529.0 * 3698.0);
        assert_eq!(crate::member_bytes(m), want);
    }

    #[test]
    fn bad_transformer_fields_are_named_with_the_fix() {
        let p = transformer_problems(&["model.head_dim=5"]);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].0, "model.head_dim");
        assert!(p[0].1.contains("does not divide model.model_dim = 32"), "{p:?}");
        assert!(p[0].2.contains("heads = model_dim / head_dim"), "{p:?}");
        let p = transformer_problems(&["model.depth=0"]);
        assert_eq!(
            (p[0].0.as_str(), p[0].2.as_str()),
            ("model.depth", "e.g. depth = 1, a one-layer transformer")
        );
        // The keys the task fixes are refused, each with its fix, rather than ignored.
        let p = transformer_problems(&["model.context=16", "model.vocab_size=24", "problem.embed_dim=8"]);
        let named: Vec<(&str, &str)> = p.iter().map(|(k, _, h)| (k.as_str(), h.as_str())).collect();
        assert_eq!(
            named,
            [
                ("model.context", "remove model.context"),
                ("model.vocab_size", "remove model.vocab_size"),
                ("problem.embed_dim", "remove problem.embed_dim")
            ]
        );
        assert!(p[0].1.contains("[a, b, =]"), "{p:?}");
    }
}
