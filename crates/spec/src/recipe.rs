//! The training recipe of a zoo's models (`[train]`): optimizer, schedule, precision, batch.

use serde::{Deserialize, Serialize};

/// The training recipe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Number of epochs; result.json gets one line per epoch 0..=epochs (0 = untrained).
    pub epochs: u32,
    /// Optimizer steps per epoch: full-batch steps of PDE problems (no dataset to sweep), and
    /// of language models unless `problem.tokens_per_epoch` sets them.
    #[serde(default = "d100u32")]
    pub steps_per_epoch: u32,
    /// Optimizer.
    #[serde(default)]
    pub optimizer: Optimizer,
    /// Learning rate (peak learning rate for schedules).
    pub lr: f64,
    /// L2 weight decay added to the gradient (PyTorch `weight_decay`).
    #[serde(default)]
    pub weight_decay: f64,
    /// Adam (β1, β2); PyTorch defaults.
    #[serde(default = "default_betas")]
    pub adam_betas: [f64; 2],
    /// Adam ε; PyTorch default 1e-8.
    #[serde(default = "default_eps")]
    pub adam_eps: f64,
    /// Learning-rate schedule.
    #[serde(default)]
    pub schedule: Schedule,
    /// Floating-point type of parameters and arithmetic.
    #[serde(default)]
    pub dtype: DType,
    // Keys below came after format v1 and are written (and hashed into model ids) only when
    // they differ from their default, so that adding them renamed no existing model.
    /// SGD momentum (OneCycle overrides it per step, cycling 0.95 → 0.85 → 0.95).
    #[serde(default = "d09", skip_serializing_if = "is_09")]
    pub momentum: f64,
    /// Images, or token windows of a language model, per optimizer step (the usual
    /// temperature axis of image and language-model zoos).
    #[serde(default = "d128", skip_serializing_if = "is_128")]
    pub batch_size: u32,
    /// Largest batch run at once; a larger batch is split and its gradients accumulated (one
    /// optimizer step per batch; BatchNorm normalizes over each micro-batch, as the original's
    /// gradient accumulation did). 0 = the whole batch at once.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub micro_batch: u32,
    /// Arithmetic of image and language models on CUDA (CPU always computes in float32).
    #[serde(default, skip_serializing_if = "is_default")]
    pub precision: Precision,
    /// Reproduce the original's gradient accumulation for image models (SPEC §1.2; off by
    /// default, which is correct accumulation): ResNet-50 on 3-channel images splits its batches
    /// by PTMZ's table when `micro_batch` is 0, OneCycle counts micro-batches (so it covers only
    /// 1/k of its schedule, k = micro-batches per batch) and the reported train loss is divided
    /// by k. For reproducing published numbers on purpose.
    #[serde(default, skip_serializing_if = "is_false")]
    pub ptmz_compat: bool,
    /// Channels-last memory format for image models on CUDA, whatever `run.layout` says (an
    /// older key, kept so that existing zoos keep their ids; prefer `run.layout`).
    #[serde(default, skip_serializing_if = "is_default")]
    pub channels_last: bool,
    /// Steps of linear warm-up before a `cosine` schedule's decay (nanoGPT `warmup_iters`;
    /// language models only).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub warmup_steps: u32,
    /// The learning rate a `cosine` schedule reaches at the last step (nanoGPT `min_lr`, there
    /// a tenth of `lr`; language models only).
    #[serde(default, skip_serializing_if = "is_default")]
    pub min_lr: f64,
    /// Before each update, scale the gradient down to this global L2 norm when it is larger
    /// (`torch.nn.utils.clip_grad_norm_`; nanoGPT `grad_clip` 1.0; language models only).
    /// 0 = no clipping.
    #[serde(default, skip_serializing_if = "is_default")]
    pub grad_clip: f64,
}

fn d09() -> f64 {
    0.9
}
fn is_09(v: &f64) -> bool {
    *v == 0.9
}
pub(crate) fn d128() -> u32 {
    128
}
fn is_128(v: &u32) -> bool {
    *v == 128
}
fn is_false(v: &bool) -> bool {
    !*v
}
fn is_zero(v: &u32) -> bool {
    *v == 0
}
fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// Arithmetic of image models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// float32 everywhere, as the original.
    #[default]
    Float32,
    /// bfloat16 autocast of the forward and backward (parameters and optimizer stay float32).
    Bf16Autocast,
}

pub(crate) fn d100u32() -> u32 {
    100
}
fn default_betas() -> [f64; 2] {
    [0.9, 0.999]
}
fn default_eps() -> f64 {
    1e-8
}

/// Optimizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Optimizer {
    /// Adam (Kingma & Ba), as `torch.optim.Adam`.
    #[default]
    Adam,
    /// SGD with momentum and weight decay, as `torch.optim.SGD` (the image zoos' recipe).
    Sgd,
    /// AdamW (Loshchilov & Hutter), as `torch.optim.AdamW`, with `weight_decay` applied to
    /// parameters of two or more dims only (nanoGPT's `configure_optimizers`; the language
    /// models' recipe).
    #[serde(rename = "adamw")]
    AdamW,
}

/// Learning-rate schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// The learning rate stays `lr`.
    #[default]
    Constant,
    /// `torch.optim.lr_scheduler.OneCycleLR` with PyTorch's defaults and `max_lr = lr`, stepped
    /// after every optimizer step (SPEC §1.2).
    OneCycle,
    /// nanoGPT's `get_lr`: linear warm-up over `warmup_steps`, then cosine decay from `lr` to
    /// `min_lr` at the last step of training (language models).
    Cosine,
}

/// Floating-point type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DType {
    /// 32-bit floats (the original's precision).
    #[default]
    Float32,
    /// 64-bit floats (reference computations, tests).
    Float64,
}
