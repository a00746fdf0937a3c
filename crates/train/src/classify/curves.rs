//! Mode connectivity of image classifiers (SPEC §3.3; Garipov et al. 2018, `dnn-mode-connectivity`):
//! the [`CurveProblem`] of the seed pairs of one cell, for ResNets and ViTs.
//!
//! # The model as a function of its weights
//! Training the bend θ₁ needs dL/dθ₁ through φ(t) = (1−t)²θ₀ + 2t(1−t)θ₁ + t²θ₂, with
//! BatchNorm on the batch's statistics. The vision models compute with whatever tensors they
//! are given (`VisionModel::forward_with`: every layer is one libtorch op on tensors found by
//! their place in the state dict, and the model's own forward is the same code at its own
//! tensors). So a row's loss is the model's forward at the views φ[r] of the stacked curve
//! point, autograd carries it back to θ₁, and the curve trainer is the one the PINN uses,
//! unchanged (`pz_landscape::train_bezier_middle`: its t draws, SGD with momentum and L2 term
//! at t). The alternative, copying φ into the model's parameters and applying
//! dL/dθ₁ = 2t(1−t)·dL/dφ by hand, would have needed a second trainer repeating that one's
//! math, and a BatchNorm whose momentum can change per call all the same (tch's `nn::BatchNorm`
//! fixes it at construction), which the functional forward gives for free.
//!
//! # Data
//! - Curve training: the training set as the model trained on it (its `train_subset`, with its
//!   augmentation when `problem.augment` is on), shuffled each curve epoch, in batches of
//!   [`BATCH`]; one step per batch, so an epoch is ⌈train images / 128⌉ steps
//!   ([`CurveProblem::steps_per_epoch`]), one t per batch per pair. Every pair sees the same
//!   batches: they are drawn from `metrics.curve.seed` alone, as the Hessian's are from its seed,
//!   so a curve's numbers depend only on its pair and the spec, never on the pairs measured
//!   beside it. Each row runs its own forward (the pairs of a cell share a width, not weights).
//! - Evaluation at each t (Garipov's `eval_curve.py`): BatchNorm statistics reset and recomputed
//!   by one pass over the training set in train mode at momentum b/(n_seen + b) (`update_bn`:
//!   the exact average of the batches' statistics, weighted by their sizes; skipped for a ViT,
//!   which has no BatchNorm); then, in eval mode, the training set (the same transformed batches)
//!   and the test set. Values: train loss = mean NLL + ½·wd·‖φ(t)‖² (Garipov's regularised
//!   "loss"), test loss = mean NLL, train and test error in percent (100 − accuracy, PTMZ's
//!   unit), in [`MetricKey::CLASSIFIER_MODE_CONNECTIVITY`]'s order.
//!
//! Batches are drawn from the data streams of `metrics.curve.seed` at stream epochs from
//! [`STREAM_EPOCHS`] on, which no training run reaches, so they never replay a model's own
//! training batches even when a model's seed is the curve seed.

use std::cell::{Cell, RefCell};

use pz_models::vision::{BatchNormStats, Norm, VisionModel};
use pz_store::MetricKey;
use tch::{Kind, Reduction, Tensor};

use super::ImageTask;
use crate::measured::CurveProblem;
use crate::vision::{augment_rng, epoch_permutation};

/// Images per curve-training and evaluation batch: PTMZ's `curve::batchsize` (SPEC §3.3). A
/// constant until `[metrics.curve]` has a key for it.
pub(super) const BATCH: usize = 128;

/// The stream epoch of the evaluation passes; curve epoch e (0-based) draws at `STREAM_EPOCHS +
/// 1 + e`. 2^22 epochs is beyond any training run, below the streams' limit of 2^23.
const STREAM_EPOCHS: u64 = 1 << 22;

/// What the spec says about a curve's data and loss.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct CurveData {
    /// `metrics.curve.seed`: the batches' shuffles and augmentations.
    pub seed: u64,
    /// `metrics.curve.weight_decay`: the L2 term of the reported train loss.
    pub weight_decay: f64,
}

/// Curves between pairs of image models of one architecture and width, on one dataset.
pub(super) struct ImageCurves<'a> {
    rows: Vec<(usize, usize)>,
    theta0: Vec<Tensor>,
    theta2: Vec<Tensor>,
    /// The network every row computes with (at the row's weights, never its own).
    model: &'a VisionModel,
    task: &'a ImageTask,
    data: CurveData,
    /// Curve-training batches drawn so far: the next loss is on batch `drawn`.
    drawn: Cell<usize>,
    /// The shuffle of the curve epoch being drawn from.
    order: RefCell<Option<(usize, Tensor)>>,
}

impl<'a> ImageCurves<'a> {
    /// Curves with endpoints `theta0`, `theta2` (`[R, …]` per trainable tensor of `model`).
    pub(super) fn new(
        rows: Vec<(usize, usize)>,
        theta0: Vec<Tensor>,
        theta2: Vec<Tensor>,
        model: &'a VisionModel,
        task: &'a ImageTask,
        data: CurveData,
    ) -> Self {
        Self { rows, theta0, theta2, model, task, data, drawn: Cell::new(0), order: RefCell::new(None) }
    }

    /// The next curve-training batch (transformed images, labels).
    fn training_batch(&self) -> (Tensor, Tensor) {
        let step = self.drawn.get();
        self.drawn.set(step + 1);
        let per_epoch = self.task.train_len().div_ceil(BATCH);
        let (epoch, b) = (step / per_epoch, step % per_epoch);
        let stream_epoch = STREAM_EPOCHS + 1 + epoch as u64;
        let mut order = self.order.borrow_mut();
        if order.as_ref().is_none_or(|(e, _)| *e != epoch) {
            let device = self.task.train_labels.device();
            *order = Some((
                epoch,
                epoch_permutation(self.data.seed, stream_epoch, self.task.train_len()).to_device(device),
            ));
        }
        let (_, order) = order.as_ref().expect("set above");
        let (start, len) = span(b, self.task.train_len());
        let idx = order.narrow(0, start, len);
        let images = self.task.train_images.index_select(0, &idx);
        let x = self
            .task
            .train_transform
            .train_batch(&images, &mut augment_rng(self.data.seed, stream_epoch, b as u64));
        (x, self.task.train_labels.index_select(0, &idx))
    }

    /// The training set in its stored order, transformed as in training with the evaluation
    /// pass's draws: the same batches at every t, for the BatchNorm pass and for the scores.
    pub(super) fn evaluation_train_batches(&self) -> impl Iterator<Item = (Tensor, Tensor)> + '_ {
        let task = self.task;
        (0..task.train_len().div_ceil(BATCH)).map(move |b| {
            let (start, len) = span(b, task.train_len());
            let images = task.train_images.narrow(0, start, len);
            let mut rng = augment_rng(self.data.seed, STREAM_EPOCHS, b as u64);
            (task.train_transform.train_batch(&images, &mut rng), task.train_labels.narrow(0, start, len))
        })
    }

    /// The test set in order, normalised only.
    fn test_batches(&self) -> impl Iterator<Item = (Tensor, Tensor)> + '_ {
        let task = self.task;
        let n = usize::try_from(task.test_labels.size()[0]).expect("a length");
        (0..n.div_ceil(BATCH)).map(move |b| {
            let (start, len) = span(b, n);
            (
                task.eval_transform.eval_batch(&task.test_images.narrow(0, start, len)),
                task.test_labels.narrow(0, start, len),
            )
        })
    }

    /// Row `r`'s weights out of the stacked point `phi`.
    fn row(phi: &[Tensor], r: usize) -> Vec<Tensor> {
        let r = i64::try_from(r).expect("few rows");
        phi.iter().map(|p| p.get(r)).collect()
    }

    /// [train loss, test loss, train error %, test error %] of one row's weights.
    fn evaluate_row(&self, params: &[Tensor]) -> [f64; 4] {
        let stats = recompute_batch_norm(self.model, params, self.evaluation_train_batches());
        let (train_nll, train_error) = score(self.model, params, &stats, self.evaluation_train_batches());
        let (test_nll, test_error) = score(self.model, params, &stats, self.test_batches());
        let l2: f64 =
            params.iter().map(|p| p.to_kind(Kind::Double).square().sum(Kind::Double).double_value(&[])).sum();
        [train_nll + 0.5 * self.data.weight_decay * l2, test_nll, train_error, test_error]
    }
}

/// (start, length) of batch `b` of a set of `n`.
fn span(b: usize, n: usize) -> (i64, i64) {
    let start = b * BATCH;
    let len = BATCH.min(n - start);
    (i64::try_from(start).expect("a length"), i64::try_from(len).expect("a length"))
}

/// BatchNorm statistics of `model` at weights `params`, from scratch: reset, then one pass over
/// `batches` in train mode at momentum b/(n_seen + b), which leaves the exact average of the
/// batches' statistics weighted by their sizes (Garipov's `update_bn`). Empty for a model
/// without BatchNorm (a ViT), whose pass is skipped as `update_bn` skips it.
pub(super) fn recompute_batch_norm(
    model: &VisionModel,
    params: &[Tensor],
    batches: impl Iterator<Item = (Tensor, Tensor)>,
) -> BatchNormStats {
    let stats = model.new_batch_norm_stats();
    if stats.is_empty() {
        return stats;
    }
    tch::no_grad(|| {
        let mut seen = 0i64;
        for (x, _) in batches {
            let b = x.size()[0];
            #[allow(clippy::cast_precision_loss)]
            let momentum = b as f64 / (seen + b) as f64;
            let _ = model.forward_with(params, Norm::Update(&stats, momentum), &x);
            seen += b;
        }
    });
    stats
}

/// (mean NLL, error in percent) of `model` at `params` in eval mode on `stats` over `batches`.
pub(super) fn score(
    model: &VisionModel,
    params: &[Tensor],
    stats: &BatchNormStats,
    batches: impl Iterator<Item = (Tensor, Tensor)>,
) -> (f64, f64) {
    tch::no_grad(|| {
        // Sums stay on the device until the end: one synchronisation per pass, not per batch.
        let device = model.device();
        let (mut nll, mut wrong, mut n) =
            (Tensor::zeros([], (Kind::Double, device)), Tensor::zeros([], (Kind::Int64, device)), 0i64);
        for (x, y) in batches {
            let logits = model.forward_with(params, Norm::Running(stats), &x);
            nll += logits
                .log_softmax(-1, Kind::Float)
                .nll_loss_nd::<Tensor>(&y, None, Reduction::Sum, -100)
                .to_kind(Kind::Double);
            wrong += logits.argmax(-1, false).ne_tensor(&y).sum(Kind::Int64);
            n += y.size()[0];
        }
        #[allow(clippy::cast_precision_loss)]
        let n = n.max(1) as f64;
        #[allow(clippy::cast_precision_loss)]
        (nll.double_value(&[]) / n, 100.0 * wrong.int64_value(&[]) as f64 / n)
    })
}

impl CurveProblem for ImageCurves<'_> {
    fn rows(&self) -> &[(usize, usize)] {
        &self.rows
    }

    fn endpoints(&self) -> (&[Tensor], &[Tensor]) {
        (&self.theta0, &self.theta2)
    }

    /// Mean cross-entropy of each row on the next training batch, BatchNorm on the batch's
    /// statistics (train mode), with the graph to `phi`.
    fn loss(&self, phi: &[Tensor]) -> Tensor {
        let (x, y) = self.training_batch();
        let losses: Vec<Tensor> = (0..self.rows.len())
            .map(|r| {
                let logits = self.model.forward_with(&Self::row(phi, r), Norm::Batch, &x);
                logits.log_softmax(-1, Kind::Float).nll_loss_nd::<Tensor>(&y, None, Reduction::Mean, -100)
            })
            .collect();
        Tensor::stack(&losses, 0)
    }

    fn evaluate(&self, phi: &[Tensor]) -> Vec<Tensor> {
        let per_row: Vec<[f64; 4]> =
            (0..self.rows.len()).map(|r| self.evaluate_row(&Self::row(phi, r))).collect();
        (0..4).map(|m| Tensor::from_slice(&per_row.iter().map(|v| v[m]).collect::<Vec<f64>>())).collect()
    }

    fn metrics(&self) -> &'static [(MetricKey, MetricKey)] {
        &MetricKey::CLASSIFIER_MODE_CONNECTIVITY
    }

    fn steps_per_epoch(&self) -> Option<usize> {
        Some(self.task.train_len().div_ceil(BATCH))
    }
}
