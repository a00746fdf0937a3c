//! Where and how a zoo runs (`[run]`) and which checkpoints it keeps (`[checkpoint]`).

use serde::{Deserialize, Serialize};

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
    /// On CUDA, run each image model's full-batch training step, a PINN population's step and a
    /// GPT-2's step (one forward pass per step) as a captured CUDA graph (one launch a step). `false` runs every kernel eagerly, for debugging; results agree to
    /// rounding either way, so the key is not part of a model's identity.
    #[serde(default = "crate::types::yes")]
    pub graph: bool,
    /// On CUDA, a PINN population computes its Adam update and, in forward mode
    /// (`problem.derivatives = "forward"`), its sweep with phasezoo's fused kernels (compiled at
    /// run time) instead of libtorch's tensor operations. Results agree to rounding, so the key
    /// is not part of a model's identity; `false` is for debugging and comparison.
    #[serde(default = "crate::types::yes")]
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
