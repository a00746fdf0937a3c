//! The seam the landscape metrics work on: a family's trained models, loaded from their
//! checkpoints at one epoch for measuring (eval mode, no optimizer state).
//!
//! Training and measuring are two traits rather than one: a measured model needs no optimizer,
//! no schedule and no data order, and a family loads for measuring models it may never train
//! together (an image zoo's seeds, whose widths match, are measured side by side; they train
//! one per worker). The metrics (`pz_landscape::measure_zoo`) ask only this trait:
//!
//! - **Hessian**: per *group* of members measured together and per *loss set* (training data,
//!   test data), the loss with its autograd graph to the parameters, which the metrics
//!   differentiate twice;
//! - **CKA**: each member's representations of fixed inputs, batch by batch;
//! - **mode connectivity**: a [`CurveProblem`] for pairs of members: the endpoints, the loss at
//!   any point of weight space (with a graph, for training the curve) and the evaluation there,
//!   with the quantities evaluated and the steps of a curve epoch where the family fixes them.
//!
//! A group or curve problem has *rows*: the stacked models it computes at once. A member may
//! fill two rows: libtorch computes a batched matrix product of batch size 1 by another kernel
//! than of several (results differ in the last bits), so a family that stacks members measures
//! a lone one beside a copy of itself; values are taken from each member's first row.

use pz_spec::CkaConfig;
use pz_store::{MetricKey, TEST_SET_SUFFIX};
use tch::Tensor;

use crate::Error;

/// The loss of some rows of a measured population with its autograd graph.
#[derive(Debug)]
pub struct LossGraph {
    /// The leaf tensors the losses depend on (requiring grad): `[R, …]` each when `stacked`,
    /// else one model's own tensors (R = 1).
    pub params: Vec<Tensor>,
    /// Whether `params` carry a leading row axis.
    pub stacked: bool,
    /// (w_b, L_b): per-row losses `[R]` of batch b with their graph, weighted by w_b (the
    /// Hessian is of Σ_b w_b L_b; e.g. w_b = |b| / Σ|b| for the mean over samples).
    pub losses: Vec<(f64, Tensor)>,
}

/// Trained models of one family at one epoch, as the landscape metrics see them.
pub trait MeasuredPopulation {
    /// The number of members: the planned models it was loaded from, in that order.
    fn members(&self) -> usize;

    /// Suffixes of the loss sets Hessians are taken on, appended to the metric keys: `""` is
    /// the training data, `"_val"` the held-out data (PTMZ's name for its test-set values).
    /// Default: both (image and language models); a family without a held-out loss says so.
    fn loss_sets(&self) -> &'static [&'static str] {
        &["", TEST_SET_SUFFIX]
    }

    /// Members whose Hessians are computed together, as rows (member indices; a member may
    /// fill two rows, see the module notes). Every member is in one group. Default: one
    /// member per group (families whose members are separate networks).
    fn hessian_groups(&self) -> Vec<Vec<usize>> {
        (0..self.members()).map(|k| vec![k]).collect()
    }

    /// The loss of group `group` (an index into [`Self::hessian_groups`]) on loss set `set` (an
    /// index into [`Self::loss_sets`]), built when asked so that one graph lives at a time.
    ///
    /// # Errors
    /// libtorch errors.
    fn loss_graph(&self, group: usize, set: usize) -> Result<LossGraph, Error>;

    /// The samples each row of group `group`'s loss on set `set` averages over (images,
    /// tokens, pairs, collocation points), one per row of [`Self::hessian_groups`]: the n of
    /// the local learning coefficient's default nβ = n / ln n. Empty (default): unknown, and
    /// the LLC then needs `[metrics.llc] nbeta`.
    fn loss_samples(&self, _group: usize, _set: usize) -> Vec<usize> {
        Vec::new()
    }

    /// What CKA compares, per member: its representations of the same inputs, batch by batch,
    /// each `[n, features]` float64 on the CPU. CKA is taken per batch and averaged.
    ///
    /// # Errors
    /// libtorch errors.
    fn representations(&self, cka: &CkaConfig) -> Result<Vec<Vec<Tensor>>, Error>;

    /// The curve problem between the members of each pair (i, j).
    ///
    /// # Errors
    /// [`Error::Config`] for a family whose curves are not measured.
    fn curves(&self, pairs: &[(usize, usize)]) -> Result<Box<dyn CurveProblem + '_>, Error>;
}

/// Bézier curves between pairs of members, as rows: what curve training and evaluation need.
pub trait CurveProblem {
    /// The pair of members (i, j) of each row; every asked pair has a row, first rows first.
    fn rows(&self) -> &[(usize, usize)];

    /// The endpoints θ₀ and θ₂, stacked by row (`[R, …]` per tensor, detached).
    fn endpoints(&self) -> (&[Tensor], &[Tensor]);

    /// Per-row training losses `[R]` at stacked weights `phi` (the graph kept, for training
    /// the curve's bend).
    fn loss(&self, phi: &[Tensor]) -> Tensor;

    /// Per-row values `[R]` at `phi`, one tensor per entry of [`CurveProblem::metrics`], in
    /// its order. Called under `no_grad`.
    fn evaluate(&self, phi: &[Tensor]) -> Vec<Tensor>;

    /// The quantities [`CurveProblem::evaluate`] gives, as their (`mc_*`, `curve_*`) keys: the
    /// family's choice. Default: [`MetricKey::MODE_CONNECTIVITY`] (train loss, test loss, test
    /// error); classifiers add the train error ([`MetricKey::CLASSIFIER_MODE_CONNECTIVITY`]).
    fn metrics(&self) -> &'static [(MetricKey, MetricKey)] {
        &MetricKey::MODE_CONNECTIVITY
    }

    /// Curve-training steps per epoch when the problem's data fixes them (one per mini-batch of
    /// its training set, as an epoch means for image zoos); `None`: the spec's
    /// `metrics.curve.steps_per_epoch` (full-batch problems such as the PINN).
    fn steps_per_epoch(&self) -> Option<usize> {
        None
    }
}
