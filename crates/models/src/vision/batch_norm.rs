//! `nn.BatchNorm2d` (eps 1e-5, momentum 0.1: PyTorch's defaults, SPEC §1.2) as a function of the
//! tensors it is given, and where a forward pass takes its statistics from ([`Norm`]).
//!
//! The layer is one `Tensor::batch_norm` call, the op tch's `nn::BatchNorm` makes, but with the
//! momentum an argument rather than a field fixed at construction: recomputing the running
//! statistics at a point of a mode-connectivity curve needs momentum b/(n_seen + b) per batch
//! (Garipov's `update_bn`), and training the curve needs the batch statistics of weights that
//! are not the model's own.

use tch::{Device, Kind, Tensor};

/// PyTorch's `BatchNorm2d` epsilon.
const EPS: f64 = 1e-5;
/// PyTorch's `BatchNorm2d` momentum, the one the models train with.
pub(crate) const MOMENTUM: f64 = 0.1;

/// The running statistics (`running_mean`, `running_var`) of every BatchNorm layer of a model,
/// in state-dict order. A model's own share storage with its state dict
/// ([`super::VisionModel::batch_norm_stats`]); fresh ones come from
/// [`super::VisionModel::new_batch_norm_stats`].
#[derive(Debug)]
pub struct BatchNormStats {
    layers: Vec<(Tensor, Tensor)>,
}

impl BatchNormStats {
    pub(crate) fn new(layers: Vec<(Tensor, Tensor)>) -> Self {
        Self { layers }
    }

    /// Statistics of layers with these channel counts, reset.
    pub(crate) fn fresh(channels: &[i64], device: Device) -> Self {
        let layers = channels
            .iter()
            .map(|&c| (Tensor::zeros([c], (Kind::Float, device)), Tensor::ones([c], (Kind::Float, device))))
            .collect();
        Self { layers }
    }

    /// Number of BatchNorm layers (0 for a ViT).
    #[must_use]
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Whether the model has no BatchNorm layer.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// Layer `i`'s (`running_mean`, `running_var`), sharing storage with these statistics.
    ///
    /// # Panics
    /// If `i` ≥ [`BatchNormStats::len`].
    pub fn layer(&self, i: usize) -> (Tensor, Tensor) {
        let (mean, var) = &self.layers[i];
        (mean.shallow_clone(), var.shallow_clone())
    }

    /// Means 0 and variances 1, PyTorch's `reset_running_stats` (in place).
    pub fn reset(&self) {
        tch::no_grad(|| {
            for (mean, var) in &self.layers {
                let _ = mean.shallow_clone().zero_();
                let _ = var.shallow_clone().fill_(1.0);
            }
        });
    }
}

/// Where BatchNorm's statistics come from in a forward pass (the ViT has no BatchNorm and
/// ignores it).
#[derive(Debug, Clone, Copy)]
pub enum Norm<'a> {
    /// Eval mode (`model.eval()`): normalise with these running statistics.
    Running(&'a BatchNormStats),
    /// Train mode (`model.train()`): normalise with the batch's statistics and fold them into
    /// these running statistics as PyTorch does, `new = (1 − m)·old + m·batch` with the batch's
    /// unbiased variance, at momentum m. m = b/(n_seen + b) over a pass gives the exact
    /// average of the batches' statistics weighted by their sizes (Garipov's `update_bn`).
    Update(&'a BatchNormStats, f64),
    /// Train mode without running statistics: the batch's statistics, nothing updated (curve
    /// training, whose running statistics are recomputed from scratch before any evaluation).
    Batch,
}

/// Which tensors of the trainable list and which statistics one BatchNorm layer uses.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchNormAt {
    pub weight: usize,
    pub bias: usize,
    pub layer: usize,
}

impl BatchNormAt {
    /// The layer applied to `xs` with the affine parameters in `params`.
    pub fn forward(&self, xs: &Tensor, params: &[Tensor], norm: Norm<'_>) -> Tensor {
        let (stats, train, momentum) = match norm {
            Norm::Running(stats) => (Some(&stats.layers[self.layer]), false, 0.0),
            Norm::Update(stats, momentum) => (Some(&stats.layers[self.layer]), true, momentum),
            Norm::Batch => (None, true, 0.0),
        };
        Tensor::batch_norm(
            xs,
            Some(&params[self.weight]),
            Some(&params[self.bias]),
            stats.map(|s| &s.0),
            stats.map(|s| &s.1),
            train,
            momentum,
            EPS,
            true, // cudnn_enabled, tch's nn::BatchNorm default
        )
    }
}
