//! Cell metrics: CKA and mode connectivity between the seeds of each cell.

use std::collections::BTreeMap;

use pz_spec::{CkaConfig, CkaKernel, PlannedModel};
use pz_store::{MetricKey, ZooDir};
use pz_train::ZooFamily;
use tch::{Device, Tensor};

use super::{number, MeasureError};
use crate::{
    evaluate_curve, feature_space_linear_cka, linear_cka, mode_connectivity, model_stream, pair_stream,
    rbf_cka, straight_middle, train_bezier_middle, CurveTraining, Hsic,
};

/// Most points of a Gram-matrix CKA (n × n matrices): a regular subset of the grid beyond it.
const MAX_GRAM_POINTS: i64 = 2048;

/// Unordered pairs (i < j) of `n` seeds.
pub(super) fn pairs(n: usize) -> Vec<(usize, usize)> {
    (0..n).flat_map(|i| (i + 1..n).map(move |j| (i, j))).collect()
}

/// CKA of every pair of seeds, per cell, on the representations the family gives (per batch,
/// averaged over the batches: SPEC §3.2).
pub(super) fn measure_cka(
    zoo: &ZooDir,
    family: &dyn ZooFamily,
    cells: &[Vec<PlannedModel>],
    epoch: u32,
    device: Device,
) -> Result<(), MeasureError> {
    let cfg = &zoo.spec.metrics.cka;
    let all = cells.concat();
    let reps = family.load_measured(zoo, &all, epoch, device)?.representations(cfg)?;
    let mut offset = 0;
    for models in cells {
        let values: Vec<f64> = pairs(models.len())
            .into_iter()
            .map(|(i, j)| {
                let (x, y) = (&reps[offset + i], &reps[offset + j]);
                let per_batch = x.iter().zip(y).map(|(x, y)| cka(cfg, x, y));
                #[allow(clippy::cast_precision_loss)]
                let batches = x.len() as f64;
                per_batch.sum::<f64>() / batches
            })
            .collect();
        store_cka(zoo, models, epoch, &values)?;
        offset += models.len();
    }
    Ok(())
}

/// CKA of two representations of the same inputs as `[metrics.cka]` asks.
fn cka(cfg: &CkaConfig, x: &Tensor, y: &Tensor) -> f64 {
    match (cfg.kernel, cfg.unbiased) {
        // Kornblith's identity: the biased linear CKA needs only d × d matrices.
        (CkaKernel::Linear, false) => feature_space_linear_cka(x, y),
        (kernel, unbiased) => {
            let (x, y) = (subsample(x), subsample(y));
            let hsic = if unbiased { Hsic::Unbiased } else { Hsic::Biased };
            match kernel {
                CkaKernel::Linear => linear_cka(&x, &y, hsic),
                CkaKernel::Rbf => rbf_cka(&x, &y, 1.0, hsic),
            }
        }
    }
}

/// A cell's CKA on every model of it: `cka` (the mean over seed pairs) and `cka_pairs` (each
/// pair's value, in [`pairs`] order).
pub(super) fn store_cka(
    zoo: &ZooDir,
    models: &[PlannedModel],
    epoch: u32,
    per_pair: &[f64],
) -> Result<(), MeasureError> {
    #[allow(clippy::cast_precision_loss)]
    let mean = per_pair.iter().sum::<f64>() / per_pair.len() as f64;
    for m in models {
        let entry = BTreeMap::from([
            (MetricKey::Cka.as_str().to_string(), number(mean)),
            (MetricKey::CkaPairs.as_str().to_string(), per_pair.iter().copied().map(number).collect()),
        ]);
        zoo.model(m.id()).merge_metrics(epoch, entry)?;
    }
    tracing::info!(models = models.len(), epoch, cka = mean, "cka");
    Ok(())
}

/// Per pair, a series of numbers (non-finite ones as null, as every metric).
fn series_json(per_pair: &[Vec<f64>]) -> serde_json::Value {
    per_pair.iter().map(|v| v.iter().copied().map(number).collect::<serde_json::Value>()).collect()
}

/// The i-th of `points` evaluation points, linspace(0, 1) as [`evaluate_curve`] walks them.
fn t_at(i: usize, points: usize) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    if points > 1 {
        i as f64 / (points - 1) as f64
    } else {
        0.0
    }
}

/// Every `step`-th row so that at most [`MAX_GRAM_POINTS`] remain.
fn subsample(x: &Tensor) -> Tensor {
    let n = x.size()[0];
    let step = (n + MAX_GRAM_POINTS - 1) / MAX_GRAM_POINTS;
    x.slice(0, 0, n, step.max(1))
}

/// Train a Bezier curve between every pair of seeds of each cell and score it: `[metrics.curve]`'s
/// settings, except an epoch's steps where the family's problem fixes them (one per mini-batch
/// of an image zoo's training set), and the quantities the problem evaluates (a classifier adds
/// the train error).
pub(super) fn measure_mc(
    zoo: &ZooDir,
    family: &dyn ZooFamily,
    cells: &[Vec<PlannedModel>],
    epoch: u32,
    device: Device,
) -> Result<(), MeasureError> {
    let cfg = &zoo.spec.metrics.curve;
    let all = cells.concat();
    let (mut asked, mut cell_of) = (Vec::new(), Vec::new());
    let mut offset = 0;
    for (c, models) in cells.iter().enumerate() {
        for (i, j) in pairs(models.len()) {
            asked.push((offset + i, offset + j));
            cell_of.push(c);
        }
        offset += models.len();
    }
    let pop = family.load_measured(zoo, &all, epoch, device)?;
    let curves = pop.curves(&asked)?;
    let (theta0, theta2) = curves.endpoints();
    let training = CurveTraining {
        steps_per_epoch: curves.steps_per_epoch().unwrap_or(cfg.steps_per_epoch as usize),
        epochs: cfg.epochs as usize,
        lr: cfg.lr,
        momentum: cfg.momentum,
        weight_decay: cfg.weight_decay,
        seed: cfg.seed,
        // A pair's t draws follow its two models, not its place among the pairs measured.
        streams: curves
            .rows()
            .iter()
            .map(|&(i, j)| pair_stream(model_stream(all[i].id()), model_stream(all[j].id())))
            .collect(),
        ptmz_compat: cfg.ptmz_compat,
        adam: cfg.optimizer == pz_spec::CurveOptimizer::Adam,
    };
    let fit = train_bezier_middle(|p| curves.loss(p), theta0, theta2, &training);
    let series = evaluate_curve(|p| curves.evaluate(p), theta0, &fit.middle, theta2, cfg.points); // [t][metric][row]
                                                                                                  // The straight line at the same t: what the curve's bend bought (issue 23 item 2).
    let line =
        evaluate_curve(|p| curves.evaluate(p), theta0, &straight_middle(theta0, theta2), theta2, cfg.points);
    let converged = fit.converged();
    let keys = curves.metrics();
    for (c, models) in cells.iter().enumerate() {
        let mine: Vec<usize> = (0..cell_of.len()).filter(|&p| cell_of[p] == c).collect();
        let mut values = BTreeMap::new();
        let per_pair = |s: &[Vec<Vec<f64>>], metric: usize| -> Vec<Vec<f64>> {
            mine.iter().map(|&p| s.iter().map(|at_t| at_t[metric][p]).collect()).collect()
        };
        let (mut curve_values, mut line_values) = (serde_json::Map::new(), serde_json::Map::new());
        // The series' metrics are in the order of the problem's keys.
        for (metric, (mc_key, curve_key)) in keys.iter().enumerate() {
            let curves = per_pair(&series, metric);
            curve_values.insert(curve_key.as_str().to_string(), series_json(&curves));
            line_values.insert(curve_key.as_str().to_string(), series_json(&per_pair(&line, metric)));
            #[allow(clippy::cast_precision_loss)]
            let mc = curves.iter().map(|v| mode_connectivity(v)).sum::<f64>() / curves.len() as f64;
            #[allow(clippy::cast_precision_loss)]
            let mean_curve: Vec<f64> = (0..cfg.points)
                .map(|t| curves.iter().map(|v| v[t]).sum::<f64>() / curves.len() as f64)
                .collect();
            values.insert(mc_key.as_str().to_string(), number(mc));
            values.insert(curve_key.as_str().to_string(), mean_curve.into_iter().map(number).collect());
        }
        #[allow(clippy::cast_precision_loss)]
        let share = mine.iter().filter(|&&p| converged[p]).count() as f64 / mine.len() as f64;
        values.insert(MetricKey::CurveConverged.as_str().to_string(), number(share));
        let diagnostics = serde_json::json!({
            "pairs": mine.iter().map(|&p| [all[asked[p].0].config.seed, all[asked[p].1].config.seed]).collect::<Vec<_>>(),
            "t": (0..cfg.points).map(|i| number(t_at(i, cfg.points))).collect::<Vec<_>>(),
            "curve": curve_values,
            "line": line_values,
            "fit_loss": series_json(&mine.iter().map(|&p| fit.epoch_losses.iter().map(|e| e[p]).collect()).collect::<Vec<_>>()),
            "fit_data_loss": series_json(&mine.iter().map(|&p| fit.epoch_data.iter().map(|e| e[p].mean).collect()).collect::<Vec<_>>()),
            "converged": mine.iter().map(|&p| converged[p]).collect::<Vec<_>>(),
        });
        values.insert(MetricKey::CurveDiagnostics.as_str().to_string(), diagnostics);
        tracing::info!(models = models.len(), epoch, mc_test_error = ?values[MetricKey::McTestError.as_str()], "mode connectivity");
        for m in models {
            zoo.model(m.id()).merge_metrics(epoch, values.clone())?;
        }
    }
    Ok(())
}
