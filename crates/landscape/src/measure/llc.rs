//! The local learning coefficient (LLC) of measured models at one epoch, by SGLD
//! ([`crate::estimate_llc`], devinterp's estimator), for any family through
//! [`MeasuredPopulation`]: one estimate per Hessian group on the training loss set, its rows
//! sampled at once.
//!
//! # The adapter
//! [`GroupSgld`] is the [`SgldProblem`] of one group. A family's loss is built by
//! `loss_graph` from the model's *live* parameters, so `loss(w)` copies w into them (no_grad
//! `copy_`), rebuilds the graph, takes the gradient with respect to the live parameters and
//! returns the loss as a function of w with that gradient: L.detach() + Σ ⟨w − w.detach(), g⟩
//! per row. Its value is L and its gradient g bit for bit, so the estimator sees the same
//! numbers as on a problem written in w directly (the tests check it). After the estimate the
//! live parameters get w* back, bit for bit.
//!
//! The metric batch is the full batch (`batches() = 1`), so the default nβ is n / ln n with n
//! the samples the family's loss set averages over ([`MeasuredPopulation::loss_samples`]), per
//! row: models trained on different fractions of a data set get each their own. A family that
//! does not say needs `[metrics.llc] nbeta`.

use std::cell::RefCell;
use std::collections::BTreeMap;

use pz_spec::{LlcConfig, PlannedModel};
use pz_store::{MetricKey, ZooDir};
use pz_train::{MeasuredPopulation, ZooFamily};
use tch::{Device, Kind, Tensor};

use super::{number, MeasureError};
use crate::{estimate_llc, model_stream, LlcEstimate, SgldProblem};

/// The loss set SGLD samples: the training data (`MeasuredPopulation::loss_sets`' first).
const TRAIN_SET: usize = 0;

/// Most points per chain of the stored loss trace: longer chains keep the draws at
/// ⌊i · draws / 100⌋, i < 100.
pub(crate) const TRACE_POINTS: usize = 100;

/// One Hessian group of a measured population as an [`SgldProblem`] (see the module notes).
pub(crate) struct GroupSgld<'a> {
    pop: &'a dyn MeasuredPopulation,
    group: usize,
    /// The group's live parameter tensors (shallow clones: writing them writes the model).
    live: Vec<Tensor>,
    /// Whether `live` has a row axis; else one model, presented to SGLD as one row.
    stacked: bool,
    /// w*, `[R, …]`, detached copies.
    init: Vec<Tensor>,
    rows: i64,
    streams: Vec<u64>,
    /// Samples of each row's loss (empty: unknown).
    samples: Vec<usize>,
    /// The first error `loss_graph` gave during sampling (its rows then read NaN).
    error: RefCell<Option<pz_train::Error>>,
}

impl<'a> GroupSgld<'a> {
    /// Group `group` of `pop` at its current weights (w*); row r draws noise from
    /// `streams[r]`; the family's sample counts give the default nβ.
    ///
    /// # Errors
    /// libtorch errors of building the loss.
    pub(crate) fn new(
        pop: &'a dyn MeasuredPopulation,
        group: usize,
        streams: Vec<u64>,
    ) -> Result<Self, pz_train::Error> {
        let graph = pop.loss_graph(group, TRAIN_SET)?;
        let init: Vec<Tensor> = graph
            .params
            .iter()
            .map(|p| if graph.stacked { p.detach().copy() } else { p.detach().copy().unsqueeze(0) })
            .collect();
        let rows = init.first().map_or(0, |t| t.size()[0]);
        Ok(Self {
            pop,
            group,
            live: graph.params,
            stacked: graph.stacked,
            init,
            rows,
            streams,
            samples: pop.loss_samples(group, TRAIN_SET),
            error: RefCell::new(None),
        })
    }

    /// Writes `w` (`[R, …]`) into the live parameters.
    fn set(&self, w: &[Tensor]) {
        tch::no_grad(|| {
            for (p, w) in self.live.iter().zip(w) {
                let src = if self.stacked { w.shallow_clone() } else { w.get(0) };
                p.shallow_clone().copy_(&src);
            }
        });
    }

    /// Puts w* back into the model.
    pub(crate) fn restore(&self) {
        self.set(&self.init);
    }

    /// The first error of sampling, if any.
    pub(crate) fn take_error(&self) -> Option<pz_train::Error> {
        self.error.borrow_mut().take()
    }

    /// Σ_b w_b L_b `[R]` at the live parameters, with its graph to them.
    fn total_loss(&self) -> Result<(Tensor, Vec<Tensor>), pz_train::Error> {
        // The graph is built with grad on even when SGLD asks under no_grad (L(w*)): some
        // losses (the PINN's) differentiate the network with respect to its inputs.
        tch::with_grad(|| {
            let graph = self.pop.loss_graph(self.group, TRAIN_SET)?;
            let total = graph
                .losses
                .iter()
                .map(|(wb, l)| l.reshape([self.rows]) * *wb)
                .reduce(|a, b| a + b)
                .ok_or_else(|| {
                    pz_train::Error::Config("llc: the family's loss graph has no batches".into())
                })?;
            Ok((total, graph.params))
        })
    }
}

impl SgldProblem for GroupSgld<'_> {
    fn init(&self) -> &[Tensor] {
        &self.init
    }

    fn batches(&self) -> usize {
        1
    }

    fn batch_size(&self) -> usize {
        self.samples.first().copied().unwrap_or(0)
    }

    fn row_batch_sizes(&self) -> Vec<usize> {
        match self.samples.len() {
            // One count for a row axis of many: every row has it.
            1 => Vec::new(),
            _ => self.samples.clone(),
        }
    }

    fn loss(&self, w: &[Tensor], _batch: usize) -> Tensor {
        self.set(w);
        let (total, params) = match self.total_loss() {
            Ok(t) => t,
            Err(e) => {
                self.error.borrow_mut().get_or_insert(e);
                return Tensor::full([self.rows], f64::NAN, (w[0].kind(), w[0].device()));
            }
        };
        if !w[0].requires_grad() {
            return total.detach(); // L(w*), under no_grad
        }
        let grads =
            tch::with_grad(|| Tensor::run_backward(&[total.sum(total.kind())], &params, false, false));
        // Value L, gradient g: the estimator differentiates this with respect to w. Out of
        // place: `total.detach()` shares the loss's storage.
        w.iter().zip(&grads).filter(|(_, g)| g.defined()).fold(total.detach(), |out, (w, g)| {
            let g = if self.stacked { g.shallow_clone() } else { g.unsqueeze(0) };
            out + ((w - w.detach()) * g).reshape([self.rows, -1]).sum_dim_intlist(1, false, None::<Kind>)
        })
    }

    fn streams(&self) -> Vec<u64> {
        self.streams.clone()
    }
}

/// The LLC of group `group` of `pop` (rows in group order), the model left at w*.
///
/// # Errors
/// A bad `[metrics.llc]` or a libtorch error of the family's loss.
pub(crate) fn estimate_group(
    pop: &dyn MeasuredPopulation,
    group: usize,
    streams: Vec<u64>,
    cfg: &LlcConfig,
    device: Device,
) -> Result<LlcEstimate, pz_train::Error> {
    let problem = GroupSgld::new(pop, group, streams)?;
    let estimate = estimate_llc(&problem, cfg, device);
    problem.restore();
    if let Some(e) = problem.take_error() {
        return Err(e);
    }
    estimate.map_err(|e| pz_train::Error::Config(format!("[metrics.llc]: {e}")))
}

/// `llc`, `llc_std`, `llc_r_hat`, `llc_nbeta` and `llc_trace` of every model of `models` at
/// `epoch`, into their `metrics.json` (nothing without `[metrics.llc]`).
///
/// # Errors
/// An unset nβ, loading the models, libtorch, writing `metrics.json`.
pub(super) fn measure(
    zoo: &ZooDir,
    family: &dyn ZooFamily,
    models: &[PlannedModel],
    epoch: u32,
    device: Device,
) -> Result<(), MeasureError> {
    let Some(cfg) = zoo.spec.metrics.llc.as_ref() else {
        return Ok(());
    };
    let pop = family.load_measured(zoo, models, epoch, device)?;
    let mut values: Vec<BTreeMap<String, serde_json::Value>> = vec![BTreeMap::new(); models.len()];
    for (g, rows) in pop.hessian_groups().iter().enumerate() {
        // Row r draws its noise from its model's stream: its value does not depend on the rows
        // beside it.
        let streams: Vec<u64> = rows.iter().map(|&k| model_stream(models[k].id())).collect();
        if cfg.nbeta.is_none() && pop.loss_samples(g, TRAIN_SET).is_empty() {
            return Err(MeasureError::Train(pz_train::Error::Config(format!(
                "{}: [metrics.llc] nbeta is unset, and this family does not say how many samples its \
                 loss averages over (the n of the default n / ln n)\n  hint: set metrics.llc.nbeta",
                zoo.path.display()
            ))));
        }
        let estimate = estimate_group(pop.as_ref(), g, streams, cfg, device)?;
        for (r, &k) in rows.iter().enumerate() {
            if rows[..r].contains(&k) {
                continue; // a copy measured beside its model (pz_train::MeasuredPopulation)
            }
            values[k] = entry(&estimate, r);
            let row = &estimate.rows[r];
            tracing::info!(model = %models[k].id(), epoch, llc = row.llc_mean, std = row.llc_std, r_hat = row.r_hat, "llc");
        }
    }
    for (m, v) in models.iter().zip(values) {
        zoo.model(m.id()).merge_metrics(epoch, v)?;
    }
    Ok(())
}

/// Row `r`'s `metrics.json` values.
fn entry(estimate: &LlcEstimate, r: usize) -> BTreeMap<String, serde_json::Value> {
    let row = &estimate.rows[r];
    let trace: Vec<serde_json::Value> =
        row.loss_trace.iter().map(|c| subsample(c).into_iter().map(number).collect()).collect();
    BTreeMap::from([
        (MetricKey::Llc.to_string(), number(row.llc_mean)),
        (MetricKey::LlcStd.to_string(), number(row.llc_std)),
        (MetricKey::LlcRHat.to_string(), number(row.r_hat)),
        (MetricKey::LlcNbeta.to_string(), number(row.nbeta)),
        (MetricKey::LlcTrace.to_string(), serde_json::Value::Array(trace)),
    ])
}

/// At most [`TRACE_POINTS`] evenly spaced draws of a chain, the first included.
pub(crate) fn subsample(chain: &[f64]) -> Vec<f64> {
    if chain.len() <= TRACE_POINTS {
        return chain.to_vec();
    }
    (0..TRACE_POINTS).map(|i| chain[i * chain.len() / TRACE_POINTS]).collect()
}

#[cfg(test)]
#[path = "llc_tests.rs"]
mod tests;
