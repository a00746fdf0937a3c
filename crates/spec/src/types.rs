//! The typed zoo spec. Field names keep PyTorch's and the original PTMZ's names.
//!
//! Every struct denies unknown keys, so a typo is an error, never a silently ignored key.

use serde::{Deserialize, Serialize};

use crate::{Gpt2Config, MetricsConfig, ModArithConfig, TextConfig};

/// One zoo: model × problem × recipe over a load × temperature × seed grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZooSpec {
    /// Zoo name; also the default output folder `zoos/<name>`.
    pub name: String,
    /// Free text shown in reports.
    #[serde(default)]
    pub description: String,
    /// The architecture and its parameters.
    pub model: ModelConfig,
    /// The dataset or PDE problem and its parameters.
    pub problem: ProblemConfig,
    /// The training recipe.
    pub train: TrainConfig,
    /// The grid: load axis, temperature axis, seeds.
    pub grid: GridSpec,
    /// Which epochs keep a checkpoint. Does not change what is trained.
    #[serde(default)]
    pub checkpoint: CheckpointPolicy,
    /// Where and how to execute. Does not change what is trained.
    #[serde(default)]
    pub run: RunConfig,
    /// Thresholds for the first phase labels.
    #[serde(default)]
    pub phases: PhaseThresholds,
    /// Loss-landscape metrics (`phasezoo metrics`). Does not change what is trained.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// Transfer to a second dataset (`phasezoo apply finetune`); absent: not configured, and
    /// not written back, so specs without it serialize as before.
    #[serde(default, deserialize_with = "crate::finetune::valid", skip_serializing_if = "Option::is_none")]
    pub finetune: Option<crate::FinetuneConfig>,
}

/// The architecture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "architecture", rename_all = "snake_case", deny_unknown_fields)]
pub enum ModelConfig {
    /// A fully connected network.
    Mlp(MlpConfig),
    /// ResNet-18 of base width `width` (SPEC §1.2: 3×3 stride-1 stem, no max-pool).
    Resnet18(ResnetConfig),
    /// ResNet-50 (Bottleneck v1.5) of base width `width`.
    Resnet50(ResnetConfig),
    /// A CIFAR-size Vision Transformer whose width is its embedding dim (docs/MODELS.md).
    Vit(VitConfig),
    /// A GPT-2 decoder whose width is `model_dim` (the language-model zoo; lm.rs).
    Gpt2(Gpt2Config),
}

impl ModelConfig {
    /// The architecture's name as written in the spec.
    #[must_use]
    pub fn architecture(&self) -> &'static str {
        match self {
            Self::Mlp(_) => "mlp",
            Self::Resnet18(_) => "resnet18",
            Self::Resnet50(_) => "resnet50",
            Self::Vit(_) => "vit",
            Self::Gpt2(_) => "gpt2",
        }
    }
}

/// A width-scaled ResNet: stages of w, 2w, 4w, 8w channels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResnetConfig {
    /// Base width w (the load axis; 64 is the standard ResNet).
    #[serde(default = "d64")]
    pub width: u32,
}

/// A Vision Transformer (patch embedding, class token, pre-norm encoder blocks).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VitConfig {
    /// Embedding dim (the load axis); a multiple of `head_dim`.
    #[serde(default = "d128")]
    pub width: u32,
    /// Encoder blocks.
    #[serde(default = "d6")]
    pub depth: u32,
    /// Side of the square patches; must divide the image side.
    #[serde(default = "d4")]
    pub patch_size: u32,
    /// Dim of each attention head; heads = width / head_dim.
    #[serde(default = "d16")]
    pub head_dim: u32,
    /// MLP hidden dim = mlp_ratio × width.
    #[serde(default = "d4")]
    pub mlp_ratio: u32,
}

fn d64() -> u32 {
    64
}
fn d6() -> u32 {
    6
}
fn d4() -> u32 {
    4
}
fn d16() -> u32 {
    16
}

/// A multilayer perceptron: `in → hidden[0] → … → hidden[n-1] → out`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpConfig {
    /// Hidden layer widths. Krishnapriyan et al. 2021: four layers of 50.
    #[serde(default = "default_hidden")]
    pub hidden: Vec<usize>,
    /// Nonlinearity after every hidden layer (tanh: the PINN needs smooth second derivatives).
    #[serde(default)]
    pub activation: Activation,
}

fn default_hidden() -> Vec<usize> {
    vec![50, 50, 50, 50]
}

/// Nonlinearity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// Hyperbolic tangent.
    #[default]
    Tanh,
}

/// The problem a zoo is trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ProblemConfig {
    /// 1-D convection `u_t + β u_x = 0` (Krishnapriyan et al. 2021).
    Convection(ConvectionConfig),
    /// Image classification on a dataset (`phasezoo data fetch NAME`).
    Image(ImageConfig),
    /// Next-token prediction on a text corpus (`phasezoo data fetch shakespeare`; lm.rs).
    Text(TextConfig),
    /// `a ∘ b mod p` classified by learned embeddings and an MLP decoder (modarith.rs).
    #[serde(rename = "modarith")]
    ModArith(ModArithConfig),
}

/// Image classification: the dataset and how much of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageConfig {
    /// One of [`DATASETS`].
    pub dataset: String,
    /// Train on the first n training images only (0 = all); for quick zoos and tests.
    #[serde(default)]
    pub train_subset: usize,
    /// Evaluate on the first n test images only (0 = all).
    #[serde(default)]
    pub test_subset: usize,
    /// The dataset's train-time augmentation (SPEC §1.2: crop with padding, flip, rotation).
    #[serde(default = "yes")]
    pub augment: bool,
}

/// The image datasets phasezoo reads.
pub const DATASETS: [&str; 5] = ["fashion-mnist", "cifar10", "cifar100", "svhn", "tiny-imagenet"];

fn yes() -> bool {
    true
}

/// 1-D convection on x ∈ [0, 2π), t ∈ [0, 1], u(x, 0) = sin x, periodic in x;
/// exact solution u = sin(x − βt).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvectionConfig {
    /// Convection coefficient β (the usual load axis).
    #[serde(default = "one")]
    pub beta: f64,
    /// Random residual (collocation) points per model, drawn once from the model's seed.
    #[serde(default = "d1000")]
    pub collocation_points: usize,
    /// Regularly spaced points on the initial line t = 0.
    #[serde(default = "d256")]
    pub initial_points: usize,
    /// Regularly spaced times at which u(0, t) = u(2π, t) is enforced.
    #[serde(default = "d100")]
    pub boundary_points: usize,
    /// Evaluation grid: points in x (Krishnapriyan et al.: 256).
    #[serde(default = "d256")]
    pub eval_x: usize,
    /// Evaluation grid: points in t (Krishnapriyan et al.: 100).
    #[serde(default = "d100")]
    pub eval_t: usize,
    /// How u_x and u_t are computed (same derivative, different rounding and speed).
    #[serde(default)]
    pub derivatives: Derivatives,
}

/// How a PINN's input derivatives are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Derivatives {
    /// Reverse mode: backward with create_graph for u_x, u_t, then a second backward for the
    /// parameter gradient (double backward), as PyTorch PINN code does.
    #[default]
    Autograd,
    /// Forward-mode tangents through the MLP, then one backward.
    Forward,
}

fn one() -> f64 {
    1.0
}
fn d1000() -> usize {
    1000
}
fn d256() -> usize {
    256
}
pub(crate) fn d100() -> usize {
    100
}

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
fn d128() -> u32 {
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

/// The grid of a zoo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridSpec {
    /// Load-like axis (model width, β, …).
    pub load: Axis,
    /// Temperature-like axis (batch size, learning rate, …).
    pub temperature: Axis,
    /// Seeds trained in every cell.
    pub seeds: Vec<u64>,
}

impl GridSpec {
    /// Number of models in the grid.
    #[must_use]
    pub fn len(&self) -> usize {
        self.load.values.len() * self.temperature.values.len() * self.seeds.len()
    }
    /// Whether the grid has no model.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One axis of the grid: the spec key it sets and its values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Axis {
    /// Dotted key of the spec that the axis sets, e.g. `problem.beta` or `train.lr`.
    pub key: String,
    /// Values in grid order.
    pub values: Vec<f64>,
    /// Short name for plots and the index (default: the key's last segment).
    #[serde(default)]
    pub name: String,
    /// What the axis means, with units, for plot labels.
    #[serde(default)]
    pub label: String,
}

impl Axis {
    /// The short name, defaulting to the key's last segment.
    #[must_use]
    pub fn short_name(&self) -> &str {
        if self.name.is_empty() {
            self.key.rsplit('.').next().unwrap_or(&self.key)
        } else {
            &self.name
        }
    }
}

/// Which epochs keep a checkpoint: epoch 0, every `every` epochs, the listed `epochs`, and the
/// last. A resumed run restarts from the newest intact one, so `every` bounds lost work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointPolicy {
    /// Keep every n-th epoch (0 = none besides the listed and the last).
    #[serde(default = "d5u32")]
    pub every: u32,
    /// Further epochs to keep.
    #[serde(default)]
    pub epochs: Vec<u32>,
}

fn d5u32() -> u32 {
    5
}

impl Default for CheckpointPolicy {
    fn default() -> Self {
        Self { every: 5, epochs: Vec::new() }
    }
}

impl CheckpointPolicy {
    /// Whether `epoch` (of `last`) keeps a checkpoint.
    #[must_use]
    pub fn keeps(&self, epoch: u32, last: u32) -> bool {
        epoch == 0
            || epoch == last
            || (self.every > 0 && epoch.is_multiple_of(self.every))
            || self.epochs.contains(&epoch)
    }
}

/// Execution settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// `auto` (CUDA when present), `cpu`, `cuda` or `cuda:N`.
    #[serde(default = "default_device")]
    pub device: String,
    /// Most models trained in one population (0 = all of a kind at once); lower it to fit memory.
    #[serde(default)]
    pub max_population: usize,
    /// On CUDA, run each image model's full-batch training step as a captured CUDA graph (one
    /// launch a step). `false` runs every kernel eagerly, for debugging; results agree to
    /// rounding either way, so the key is not part of a model's identity.
    #[serde(default = "yes")]
    pub graph: bool,
    /// On CUDA, a PINN population computes its Adam update and, in forward mode
    /// (`problem.derivatives = "forward"`), its sweep with phasezoo's fused kernels (compiled at
    /// run time) instead of libtorch's tensor operations. Results agree to rounding, so the key
    /// is not part of a model's identity; `false` is for debugging and comparison.
    #[serde(default = "yes")]
    pub fused_kernels: bool,
    /// On CUDA, the memory layout of image models' activations and convolution weights. Results
    /// agree to rounding in every layout, so the key is not part of a model's identity.
    #[serde(default)]
    pub layout: Layout,
    /// `phasezoo train` measures the zoo (`phasezoo metrics`) right after training, so that its
    /// report ends with the phase map (`--no-metrics` skips it once). Default off; the embedded
    /// zoo turns it on. Not part of a model's identity.
    #[serde(default)]
    pub metrics_after_training: bool,
}

/// Memory layout of image models on CUDA (CPU runs are always contiguous).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// Channels-last for ResNet steps large enough to gain from it, contiguous for the small
    /// launch-bound ones where it costs and for ViTs (measured; `pz_train::classify` says where
    /// the line is).
    #[default]
    Auto,
    /// Channels-last (NHWC strides) for every model.
    ChannelsLast,
    /// Contiguous NCHW for every model, as PyTorch's default.
    Contiguous,
}

fn default_device() -> String {
    "auto".into()
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            device: default_device(),
            max_population: 0,
            graph: true,
            fused_kernels: true,
            layout: Layout::Auto,
            metrics_after_training: false,
        }
    }
}

/// Thresholds of the phase labels (docs/FORMAT.md, "phases"). SPEC §4: the original has no
/// thresholds (boundaries were drawn by eye); these are phasezoo's documented choices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseThresholds {
    /// A cell whose seed-mean final train loss exceeds this is "high loss".
    #[serde(default = "default_loss_threshold")]
    pub train_loss: f64,
    /// If set, the loss threshold is this factor times the smallest cell loss of the zoo
    /// instead (relative to the zoo, SPEC §4 "τ_L = k·min cell loss").
    #[serde(default)]
    pub train_loss_relative: Option<f64>,
    /// A cell whose seed-mean final test error exceeds this "fails" (first labels).
    #[serde(default = "default_error_threshold")]
    pub test_error: f64,
    /// Metric key of the mode connectivity used by the rules (PTMZ: mc of train error; a PINN
    /// has no train error, so its train loss).
    #[serde(default = "default_mc_metric")]
    pub mc_metric: String,
    /// Dead zone ε: |mc| ≤ ε counts as "no barrier" (PTMZ plots: about 1–2 percentage points
    /// of train error; in the mc metric's units).
    #[serde(default = "default_mc_epsilon")]
    pub mc_epsilon: f64,
    /// If set and `mc_metric` is a loss (`mc_train_loss`, `mc_test_loss`), the dead zone is
    /// this fraction of the cell's seed-mean loss of that kind (the curve's endpoints) instead
    /// of `mc_epsilon`: losses span orders of magnitude across a zoo (7e-5 … 0.5 in the
    /// embedded PINN zoo), so one absolute ε is too wide for some cells and too narrow for
    /// others. PINN zoos default to 0.1 (docs/FORMAT.md).
    #[serde(default)]
    pub mc_epsilon_relative: Option<f64>,
    /// Low-loss, connected cells with seed-mean CKA below this are IV-A (over-fitted), at or
    /// above IV-B (generalizing).
    #[serde(default = "default_cka_threshold")]
    pub cka: f64,
    /// Learning-phase labels (modular-arithmetic zoos; Liu et al. 2022): the accuracy a model
    /// must reach on train and on validation data. Paper: 0.9.
    #[serde(default = "default_learning_accuracy", skip_serializing_if = "is_learning_accuracy")]
    pub learning_accuracy: f64,
    /// Learning-phase labels: steps between reaching it on train and on validation above which a
    /// model groks rather than comprehends. Paper: 10³.
    #[serde(default = "default_learning_gap", skip_serializing_if = "is_learning_gap")]
    pub learning_gap_steps: u64,
    /// Learning-phase labels: the step budget within which the accuracy must be reached (paper:
    /// 10⁵, the steps it trained); default: all steps trained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learning_budget_steps: Option<u64>,
}

fn default_learning_accuracy() -> f64 {
    0.9
}
fn is_learning_accuracy(v: &f64) -> bool {
    *v == 0.9
}
fn default_learning_gap() -> u64 {
    1000
}
fn is_learning_gap(v: &u64) -> bool {
    *v == 1000
}

fn default_loss_threshold() -> f64 {
    1e-3
}
fn default_error_threshold() -> f64 {
    0.1
}
fn default_mc_metric() -> String {
    "mc_train_loss".into()
}
fn default_mc_epsilon() -> f64 {
    1e-3
}
fn default_cka_threshold() -> f64 {
    0.9
}

impl Default for PhaseThresholds {
    fn default() -> Self {
        Self {
            train_loss: default_loss_threshold(),
            train_loss_relative: None,
            test_error: default_error_threshold(),
            mc_metric: default_mc_metric(),
            mc_epsilon: default_mc_epsilon(),
            mc_epsilon_relative: None,
            cka: default_cka_threshold(),
            learning_accuracy: default_learning_accuracy(),
            learning_gap_steps: default_learning_gap(),
            learning_budget_steps: None,
        }
    }
}
