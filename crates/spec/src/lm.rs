//! The language-model zoo's spec types: a GPT-2 (`architecture = "gpt2"`) trained on a text
//! corpus (`kind = "text"`) with nanoGPT's recipe (`optimizer = "adamw"`, `schedule =
//! "cosine"`), and the checks serde cannot express.
//!
//! Kept apart from types.rs, which holds the keys every family shares.

use serde::{Deserialize, Serialize};

use crate::error::Problem;
use crate::{DType, Optimizer, Schedule, TrainConfig, ZooSpec};

/// A GPT-2 decoder (Radford et al. 2019: pre-LayerNorm blocks, GELU (tanh), learned positions,
/// the token embedding tied to the output head, no dropout), checkpointed under Hugging Face's
/// `GPT2LMHeadModel` names. Defaults are GPT-2 small's (124M parameters).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gpt2Config {
    /// Residual-stream width d (Hugging Face `n_embd`; the load axis): a multiple of
    /// `head_dim`. GPT-2 small: 768.
    #[serde(default = "d768")]
    pub model_dim: u32,
    /// Transformer blocks (`n_layer`). GPT-2 small: 12.
    #[serde(default = "d12")]
    pub depth: u32,
    /// Channels per attention head; heads = model_dim / head_dim, so that widening the model
    /// adds heads of GPT-2's size. GPT-2: 64.
    #[serde(default = "d64")]
    pub head_dim: u32,
    /// Tokens per training window, the rows of the position table (`n_positions`, nanoGPT's
    /// `block_size`). GPT-2: 1024.
    #[serde(default = "d1024")]
    pub context: u32,
    /// Token ids are `0..vocab_size`: GPT-2's BPE has 50257 (nanoGPT pads to 50304 for faster
    /// matrix products; any value of at least 50257 trains).
    #[serde(default = "d50257")]
    pub vocab_size: u32,
}

/// The GPT-2 BPE's vocabulary, which every corpus phasezoo builds is tokenized with.
pub const GPT2_VOCAB: u32 = 50257;

fn d768() -> u32 {
    768
}
fn d12() -> u32 {
    12
}
fn d64() -> u32 {
    64
}
fn d1024() -> u32 {
    1024
}
fn d50257() -> u32 {
    GPT2_VOCAB
}
fn d64u32() -> u32 {
    64
}

impl Gpt2Config {
    /// Attention heads per block.
    #[must_use]
    pub fn heads(&self) -> u32 {
        self.model_dim / self.head_dim.max(1)
    }

    /// Trainable scalars, the tied embedding counted once: V·d + T·d + depth·(12d² + 13d) + 2d
    /// (as `pz_models::gpt2::Gpt2Config::parameter_count`, without building anything).
    #[must_use]
    pub fn parameter_count(&self) -> f64 {
        let (d, depth) = (f64::from(self.model_dim), f64::from(self.depth));
        let (v, t) = (f64::from(self.vocab_size), f64::from(self.context));
        v * d + t * d + depth * (12.0 * d * d + 13.0 * d) + 2.0 * d
    }
}

/// Next-token prediction on a text corpus built by `phasezoo data fetch NAME`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextConfig {
    /// One of [`TEXT_CORPORA`].
    pub corpus: String,
    /// Training tokens per epoch: an epoch is ⌈tokens_per_epoch / (batch_size × context)⌉
    /// steps, so every batch size of a zoo sees the same tokens (the token budget is epochs ×
    /// tokens_per_epoch). 0 (default): `train.steps_per_epoch` steps whatever the batch size.
    #[serde(default)]
    pub tokens_per_epoch: u64,
    /// Validation windows, evenly spaced over `val.bin` and the same for every model, on which
    /// each epoch's `test_loss` and `test_error` are measured. Default 64.
    #[serde(default = "d64u32")]
    pub eval_windows: u32,
}

/// The text corpora phasezoo builds.
pub const TEXT_CORPORA: [&str; 2] = ["shakespeare", "openwebtext"];

impl TextConfig {
    /// Optimizer steps per epoch of a model with recipe `train` and `context` tokens per
    /// window.
    #[must_use]
    pub fn steps_per_epoch(&self, train: &TrainConfig, context: u32) -> u64 {
        if self.tokens_per_epoch == 0 {
            return u64::from(train.steps_per_epoch);
        }
        let per_step = u64::from(train.batch_size.max(1)) * u64::from(context.max(1));
        self.tokens_per_epoch.div_ceil(per_step)
    }
}

/// The GPT-2's own fields.
pub(crate) fn validate_gpt2(m: &Gpt2Config) -> Vec<Problem> {
    let mut problems = Vec::new();
    if m.model_dim == 0 || m.head_dim == 0 || !m.model_dim.is_multiple_of(m.head_dim) {
        problems.push(
            Problem::new(
                "model.model_dim",
                format!("{} is not a positive multiple of model.head_dim = {}", m.model_dim, m.head_dim),
            )
            .hint("heads = model_dim / head_dim: e.g. model_dim = 768 with head_dim = 64"),
        );
    }
    for (key, n) in [("depth", m.depth), ("context", m.context)] {
        if n == 0 {
            problems.push(Problem::new(format!("model.{key}"), "must be at least 1"));
        }
    }
    if m.vocab_size < GPT2_VOCAB {
        problems.push(
            Problem::new(
                "model.vocab_size",
                format!("{} cannot hold GPT-2's {GPT2_VOCAB} token ids", m.vocab_size),
            )
            .hint("use vocab_size = 50257 (or nanoGPT's padded 50304)"),
        );
    }
    problems
}

/// The text problem's fields and the recipe a language model trains with.
pub(crate) fn validate_text(spec: &ZooSpec, text: &TextConfig) -> Vec<Problem> {
    let mut problems = Vec::new();
    if !TEXT_CORPORA.contains(&text.corpus.as_str()) {
        problems.push(
            Problem::new("problem.corpus", format!("`{}` is not a corpus phasezoo builds", text.corpus))
                .hint(format!("use one of {}", TEXT_CORPORA.join(", "))),
        );
    }
    if text.eval_windows == 0 {
        problems
            .push(Problem::new("problem.eval_windows", "must be at least 1").hint("e.g. eval_windows = 64"));
    }
    let t = &spec.train;
    if t.optimizer != Optimizer::AdamW {
        problems.push(
            Problem::new("train.optimizer", "language models train with AdamW (the nanoGPT recipe)")
                .hint("set optimizer = \"adamw\" with adam_betas = [0.9, 0.95] and weight_decay = 0.1"),
        );
    }
    if !matches!(t.schedule, Schedule::Constant | Schedule::Cosine) {
        problems.push(
            Problem::new("train.schedule", "a language model's schedule is `cosine` or `constant`")
                .hint("schedule = \"cosine\": linear warm-up for warmup_steps, then cosine decay to min_lr"),
        );
    }
    if t.batch_size == 0 {
        problems.push(Problem::new("train.batch_size", "must be at least 1").hint("e.g. batch_size = 32"));
    }
    if !(t.min_lr.is_finite() && t.min_lr >= 0.0 && t.min_lr <= t.lr) {
        problems.push(
            Problem::new("train.min_lr", format!("{} must be in [0, train.lr = {}]", t.min_lr, t.lr))
                .hint("nanoGPT decays to a tenth of the peak, e.g. lr = 6e-4 with min_lr = 6e-5"),
        );
    }
    if t.dtype != DType::Float32 {
        problems.push(
            Problem::new("train.dtype", "language models train in float32")
                .hint("use train.precision = \"bf16_autocast\" for bfloat16 on CUDA"),
        );
    }
    problems
}

/// Keys of nanoGPT's recipe that only language models read: set elsewhere they would be
/// silently ignored, so they are refused (each family checks its optimizer and schedule).
pub(crate) fn validate_not_text(t: &TrainConfig) -> Vec<Problem> {
    let mut problems = Vec::new();
    let set = [
        ("train.warmup_steps", t.warmup_steps != 0),
        ("train.min_lr", t.min_lr != 0.0),
        ("train.grad_clip", t.grad_clip != 0.0),
    ];
    for (key, is_set) in set {
        if is_set {
            problems.push(
                Problem::new(key, "is read by language models (problem.kind = \"text\") only")
                    .hint("remove it, or train a GPT-2 on a text corpus"),
            );
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use crate::{ModelConfig, Plan, ProblemConfig, ZooSpec};

    const SMALL: &str = include_str!("../../../examples/shakespeare-gpt2-small.toml");

    fn parse(overrides: &[&str]) -> Result<ZooSpec, crate::SpecError> {
        let o: Vec<String> = overrides.iter().map(|s| (*s).to_string()).collect();
        ZooSpec::parse(SMALL, "test.toml", &o)
    }

    fn keys(err: &crate::SpecError) -> Vec<String> {
        err.problems().iter().map(|p| p.key.clone()).collect()
    }

    #[test]
    fn the_gpt2_presets_parse_and_the_paper_zoo_has_264_models() {
        let small = parse(&[]).unwrap();
        let ModelConfig::Gpt2(m) = &small.model else { panic!("gpt2") };
        assert_eq!((m.vocab_size, m.heads()), (50257, m.model_dim / m.head_dim));
        let ProblemConfig::Text(t) = &small.problem else { panic!("text") };
        assert_eq!(t.corpus, "shakespeare");
        let paper = include_str!("../../../examples/paper/openwebtext-gpt2.toml");
        let paper = ZooSpec::parse(paper, "paper.toml", &[]).unwrap();
        assert_eq!(paper.grid.len(), 264, "SPEC 1.1: the GPT-2 zoo has 264 models");
        let plan = Plan::new(&paper).unwrap();
        let largest = plan
            .models
            .iter()
            .map(|m| match &m.config.model {
                ModelConfig::Gpt2(g) => g.parameter_count(),
                _ => unreachable!(),
            })
            .fold(0.0, f64::max);
        assert!((8.0e8..9.5e8).contains(&largest), "SPEC 1.1: up to about 900M parameters, got {largest}");
    }

    #[test]
    fn gpt2_sizes_are_checked_with_the_key_named() {
        let err = parse(&["model.model_dim=20", "grid.load.values=[16]"]).unwrap_err();
        assert_eq!(keys(&err), ["model.model_dim"]);
        assert!(err.to_string().contains("not a positive multiple of model.head_dim"), "{err}");
        let err = parse(&["model.vocab_size=1000"]).unwrap_err();
        assert_eq!(keys(&err), ["model.vocab_size"]);
        // An axis value that does not divide into heads is named on the axis.
        let err = parse(&["grid.load.values=[16, 20]"]).unwrap_err();
        assert_eq!(keys(&err), ["grid.load.values[1]"]);
    }

    #[test]
    fn the_text_recipe_is_checked() {
        let err = parse(&["problem.corpus=\"wikitext\""]).unwrap_err();
        assert_eq!(keys(&err), ["problem.corpus"]);
        assert!(err.to_string().contains("use one of shakespeare, openwebtext"), "{err}");
        let err = parse(&["train.optimizer=\"sgd\""]).unwrap_err();
        assert_eq!(keys(&err), ["train.optimizer"]);
        let err = parse(&["train.min_lr=1.0"]).unwrap_err();
        assert_eq!(keys(&err), ["train.min_lr"]);
        let err = parse(&["problem.eval_windows=0"]).unwrap_err();
        assert_eq!(keys(&err), ["problem.eval_windows"]);
        let err = parse(&["train.schedule=\"one_cycle\""]).unwrap_err();
        assert_eq!(keys(&err), ["train.schedule"]);
        let err = parse(&["problem.kind=\"image\"", "problem.dataset=\"cifar10\""]).unwrap_err();
        assert!(keys(&err).iter().any(|k| k.starts_with("problem")), "{err}");
    }

    #[test]
    fn nanogpt_keys_are_refused_outside_text_zoos_and_leave_old_ids_alone() {
        let err = ZooSpec::parse(crate::EMBEDDED_DEFAULT, "t", &["train.grad_clip=1.0".into()]).unwrap_err();
        assert_eq!(keys(&err), ["train.grad_clip"]);
        // Unset, the new train keys are not written, so existing models keep their ids.
        let spec = ZooSpec::embedded_default().unwrap();
        let toml = spec.to_toml();
        for key in ["warmup_steps", "min_lr", "grad_clip"] {
            assert!(!toml.contains(key), "{key} written: {toml}");
        }
    }

    #[test]
    fn a_token_budget_sets_the_steps_per_batch_size() {
        let spec = parse(&["problem.tokens_per_epoch=10000", "model.context=64"]).unwrap();
        let ProblemConfig::Text(t) = &spec.problem else { panic!("text") };
        let mut train = spec.train.clone();
        train.batch_size = 8;
        assert_eq!(t.steps_per_epoch(&train, 64), 20, "⌈10000 / 512⌉");
        train.batch_size = 32;
        assert_eq!(t.steps_per_epoch(&train, 64), 5, "⌈10000 / 2048⌉");
        let fixed = super::TextConfig { tokens_per_epoch: 0, ..t.clone() };
        assert_eq!(fixed.steps_per_epoch(&train, 64), u64::from(train.steps_per_epoch));
    }
}
