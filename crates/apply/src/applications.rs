//! The four applications on one grid cell (SPEC §5), each returning the cell's named values
//! and the scores of every set of weights it evaluated. Weights are read from checkpoints,
//! combined on the host by `pz-align`, and scored by the zoo's family
//! ([`pz_train::ZooFamily::evaluate_weights`]).

use std::collections::BTreeMap;

use pz_align::{align, average, weighted_average, AveragingRule, MatchConfig, StateDict};
use pz_spec::{FinetuneConfig, PlannedModel};
use pz_store::ZooDir;
use pz_train::ZooFamily;
use pz_train::{BnConditioning, FinetuneRequest, Scores, WeightsRequest, ZooData};
use tch::Device;

use crate::cells::{permutation_spec, recorded_test_acc, weights_at};
use crate::record::{finite, ScoreRecord};
use crate::state::to_named;
use crate::Error;

/// Epochs averaged over, E−4 … E: the original's `epoch_list` (SPEC §5.1).
pub const EPOCH_WINDOW: u32 = 5;

/// A cell's named values and the scores behind them.
pub(crate) type CellResult = (BTreeMap<String, Option<f64>>, Vec<ScoreRecord>);

/// What every application of one run shares.
pub(crate) struct Context<'a> {
    pub zoo: &'a ZooDir,
    pub family: &'a dyn ZooFamily,
    pub device: Device,
    /// The averaging rule (`PtmzCompat`: the original's "weight"-keys-only quirk).
    pub rule: AveragingRule,
    /// BatchNorm conditioning of averaged and interpolated weights.
    pub conditioning: BnConditioning,
    /// Align seeds to the cell's first before averaging or interpolating.
    pub align: bool,
    /// Fine-tuning's target data and settings (`[finetune]`), loaded for that application.
    pub target: Option<(&'a ZooData, &'a FinetuneConfig)>,
}

impl Context<'_> {
    /// Scores of `model`'s network at each state dict.
    fn evaluate(
        &self,
        model: &PlannedModel,
        dicts: &[StateDict],
        conditioning: BnConditioning,
        ensemble: bool,
    ) -> Result<(Vec<Scores>, Option<Scores>), Error> {
        let weights: Vec<_> = dicts.iter().map(to_named).collect();
        let request = WeightsRequest { weights: &weights, conditioning, ensemble };
        let scores = self.family.evaluate_weights(model, &request, self.device)?;
        Ok((scores.members, scores.ensemble))
    }

    /// The cell's models at `epoch`, every later seed aligned to the first when asked.
    fn seeds_at(&self, models: &[PlannedModel], epoch: u32) -> Result<Vec<StateDict>, Error> {
        let mut dicts =
            models.iter().map(|m| weights_at(self.zoo, m, epoch)).collect::<Result<Vec<_>, _>>()?;
        if self.align && dicts.len() > 1 {
            let spec = permutation_spec(&models[0], &dicts[0])?;
            for (k, m) in models.iter().enumerate().skip(1) {
                let (aligned, report) = align(&spec, &dicts[0], &dicts[k], &MatchConfig::default())
                    .map_err(|source| Error::align(m.id(), source))?;
                tracing::debug!(model = %m.id(), iterations = report.iterations, objective = report.objective, "aligned");
                dicts[k] = aligned;
            }
        }
        Ok(dicts)
    }
}

/// Averaging over epochs (the original's "Wise-FT", SPEC §5.1): each seed's checkpoints at
/// E−4 … E averaged uniformly, conditioned, scored; the cell's `wiseft_acc_test` is the mean
/// over seeds, its `wiseft_acc_test_delta` that minus the seeds' mean recorded test accuracy
/// at E.
pub(crate) fn average_epochs(
    ctx: &Context<'_>,
    models: &[PlannedModel],
    epoch: u32,
) -> Result<CellResult, Error> {
    let mut scores = Vec::with_capacity(models.len());
    let mut records = Vec::with_capacity(models.len());
    for m in models {
        let dicts = (epoch + 1 - EPOCH_WINDOW..=epoch)
            .map(|e| weights_at(ctx.zoo, m, e))
            .collect::<Result<Vec<_>, _>>()?;
        let averaged = average(&dicts, ctx.rule).map_err(|source| Error::align(m.id(), source))?;
        let s = ctx.evaluate(m, &[averaged], ctx.conditioning, false)?.0[0];
        records.push(ScoreRecord::new(m.id().as_str(), None, &s));
        scores.push(s);
    }
    let values = averaged_values("wiseft", &scores, baseline(ctx.zoo, models, epoch)?);
    Ok((values, records))
}

/// Averaging over seeds (SPEC §5.2): the cell's seeds at E, aligned to the first by weight
/// matching (the original's "Git Re-Basin") or not, averaged uniformly, conditioned, scored;
/// deltas against the seeds' mean recorded test accuracy at E.
pub(crate) fn average_seeds(
    ctx: &Context<'_>,
    models: &[PlannedModel],
    epoch: u32,
) -> Result<CellResult, Error> {
    let dicts = ctx.seeds_at(models, epoch)?;
    let averaged = average(&dicts, ctx.rule).map_err(|source| Error::align(models[0].id(), source))?;
    let s = ctx.evaluate(&models[0], &[averaged], ctx.conditioning, false)?.0[0];
    let prefix = if ctx.align { "gitrebasin" } else { "seedavg" };
    let values = averaged_values(prefix, &[s], baseline(ctx.zoo, models, epoch)?);
    Ok((values, vec![ScoreRecord::new("average", None, &s)]))
}

/// Linear interpolation (SPEC §5.3, repaired) between the cell's first two seeds at E (the
/// second aligned to the first, or not) at `points` evenly spaced α in [0, 1], each
/// conditioned and scored; barrier heights of the train and test loss and error.
pub(crate) fn interpolate(
    ctx: &Context<'_>,
    models: &[PlannedModel],
    epoch: u32,
    points: usize,
) -> Result<CellResult, Error> {
    let pair = ctx.seeds_at(&models[..2], epoch)?;
    let alphas = alphas(points);
    let dicts = alphas
        .iter()
        .map(|&a| weighted_average(&pair, &[1.0 - a, a], ctx.rule))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| Error::align(models[1].id(), source))?;
    let scores = ctx.evaluate(&models[0], &dicts, ctx.conditioning, false)?.0;
    let curve = |f: fn(&Scores) -> f64| scores.iter().map(f).collect::<Vec<f64>>();
    let values = [
        ("barrier_train_loss", barrier(&alphas, &curve(|s| s.train_loss))),
        ("barrier_test_loss", barrier(&alphas, &curve(|s| s.test_loss))),
        ("barrier_train_error", barrier(&alphas, &curve(|s| 1.0 - s.train_acc))),
        ("barrier_test_error", barrier(&alphas, &curve(|s| 1.0 - s.test_acc))),
    ];
    let records =
        alphas.iter().zip(&scores).map(|(&a, s)| ScoreRecord::new("interpolation", Some(a), s)).collect();
    Ok((values.into_iter().map(|(k, v)| (k.to_string(), finite(v))).collect(), records))
}

/// Ensembling (issue 18 item 4): the cell's seeds at E, each on its own BatchNorm statistics,
/// as one classifier averaging their softmax probabilities; delta against the members' mean
/// accuracy, scored on the same batches.
pub(crate) fn ensemble(ctx: &Context<'_>, models: &[PlannedModel], epoch: u32) -> Result<CellResult, Error> {
    let dicts = models.iter().map(|m| weights_at(ctx.zoo, m, epoch)).collect::<Result<Vec<_>, _>>()?;
    let (members, ensemble) = ctx.evaluate(&models[0], &dicts, BnConditioning::Keep, true)?;
    let ensemble = ensemble.expect("asked for");
    let member_acc = mean(members.iter().map(|s| s.test_acc));
    let values = [
        ("ensemble_acc_test", ensemble.test_acc),
        ("ensemble_loss_test", ensemble.test_loss),
        ("ensemble_acc_train", ensemble.train_acc),
        ("ensemble_loss_train", ensemble.train_loss),
        ("member_acc_test", member_acc),
        ("ensemble_acc_test_delta", ensemble.test_acc - member_acc),
    ];
    let mut records: Vec<ScoreRecord> =
        models.iter().zip(&members).map(|(m, s)| ScoreRecord::new(m.id().as_str(), None, s)).collect();
    records.push(ScoreRecord::new("ensemble", None, &ensemble));
    Ok((values.into_iter().map(|(k, v)| (k.to_string(), finite(v))).collect(), records))
}

/// Transfer (SPEC §5.4): each seed at E transferred to the `[finetune]` dataset in each of its
/// modes (`probe`: head only; `full`: everything), scored on the target's sets;
/// `finetune_<mode>_{acc,loss}_{test,train}` are the means over seeds.
pub(crate) fn finetune(ctx: &Context<'_>, models: &[PlannedModel], epoch: u32) -> Result<CellResult, Error> {
    let Some((target, config)) = ctx.target else {
        return Err(Error::Config("finetune needs a [finetune] table and its dataset".into()));
    };
    let mut values = BTreeMap::new();
    let mut records = Vec::new();
    for mode in &config.modes {
        let mut scores = Vec::with_capacity(models.len());
        for m in models {
            let weights = to_named(&weights_at(ctx.zoo, m, epoch)?);
            let request = FinetuneRequest { weights: &weights, target, config, probe: mode == "probe" };
            let s = ctx.family.finetune(m, &request, ctx.device)?;
            tracing::info!(model = %m.id(), mode = %mode, test_acc = s.test_acc, "fine-tuned");
            records.push(ScoreRecord::new(&format!("{} {mode}", m.id()), None, &s));
            scores.push(s);
        }
        for (k, v) in [
            ("acc_test", mean(scores.iter().map(|s| s.test_acc))),
            ("loss_test", mean(scores.iter().map(|s| s.test_loss))),
            ("acc_train", mean(scores.iter().map(|s| s.train_acc))),
            ("loss_train", mean(scores.iter().map(|s| s.train_loss))),
        ] {
            values.insert(format!("finetune_{mode}_{k}"), finite(v));
        }
    }
    Ok((values, records))
}

/// The seeds' mean test accuracy at `epoch` as `result.json` records it.
fn baseline(zoo: &ZooDir, models: &[PlannedModel], epoch: u32) -> Result<f64, Error> {
    let accs = models.iter().map(|m| recorded_test_acc(zoo, m, epoch)).collect::<Result<Vec<_>, _>>()?;
    Ok(mean(accs.into_iter()))
}

/// `<prefix>_{acc,loss}_{test,train}` (means over `scores`), `<prefix>_acc_test_delta` against
/// `base`, and `test_acc` = `base`.
fn averaged_values(prefix: &str, scores: &[Scores], base: f64) -> BTreeMap<String, Option<f64>> {
    let acc = mean(scores.iter().map(|s| s.test_acc));
    [
        ("acc_test", acc),
        ("loss_test", mean(scores.iter().map(|s| s.test_loss))),
        ("acc_train", mean(scores.iter().map(|s| s.train_acc))),
        ("loss_train", mean(scores.iter().map(|s| s.train_loss))),
        ("acc_test_delta", acc - base),
    ]
    .into_iter()
    .map(|(k, v)| (format!("{prefix}_{k}"), finite(v)))
    .chain([("test_acc".to_string(), finite(base))])
    .collect()
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0u32), |(s, n), v| (s + v, n + 1));
    sum / f64::from(n.max(1))
}

/// `points` evenly spaced values from 0 to 1, both included (`numpy.linspace(0, 1, points)`).
#[must_use]
pub fn alphas(points: usize) -> Vec<f64> {
    let points = points.max(2);
    #[allow(clippy::cast_precision_loss)]
    let last = (points - 1) as f64;
    #[allow(clippy::cast_precision_loss)]
    (0..points).map(|i| i as f64 / last).collect()
}

/// The barrier height of a curve `values` over `alphas` (sorted, from 0 to 1): the largest
/// excess of the curve over the straight line between its endpoints,
/// max_α [f(α) − ((1−α)·f(0) + α·f(1))] (Frankle et al. 2020; SPEC §5.3's repaired design).
/// 0 when the curve never rises above the line; NaN when a value is NaN.
#[must_use]
pub fn barrier(alphas: &[f64], values: &[f64]) -> f64 {
    let (Some(&first), Some(&last)) = (values.first(), values.last()) else {
        return f64::NAN;
    };
    alphas.iter().zip(values).fold(0.0f64, |worst, (&a, &v)| {
        let excess = v - ((1.0 - a) * first + a * last);
        if excess.is_nan() || worst.is_nan() {
            f64::NAN
        } else {
            worst.max(excess)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alphas_run_evenly_from_zero_to_one() {
        assert_eq!(alphas(5), [0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(alphas(1), [0.0, 1.0]);
    }

    #[test]
    fn barrier_is_the_largest_excess_over_the_line_between_the_endpoints() {
        let a = alphas(5);
        // Line from 1 to 3: 1, 1.5, 2, 2.5, 3; the curve rises 2 above it at α = 0.5.
        assert_eq!(barrier(&a, &[1.0, 2.0, 4.0, 2.5, 3.0]), 2.0);
        // A curve below its chord (convex) has no barrier.
        assert_eq!(barrier(&a, &[1.0, 0.5, 0.25, 0.5, 1.0]), 0.0);
        assert!(barrier(&a, &[1.0, f64::NAN, 0.0, 0.0, 1.0]).is_nan());
    }
}
