//! The typed zoo spec. Field names keep PyTorch's and the original PTMZ's names.
//!
//! Every struct denies unknown keys, so a typo is an error, never a silently ignored key.

use serde::{Deserialize, Serialize};

use crate::{
    CheckpointPolicy, Gpt2Config, MetricsConfig, ModArithConfig, PhaseThresholds, RunConfig, TextConfig,
    TrainConfig,
};

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
    #[serde(default = "crate::recipe::d128")]
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

pub(crate) fn yes() -> bool {
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
