//! Measuring one unit's work: at each epoch its Hessians (in runs of the family's measuring
//! size), heavy-tail alphas, then CKA and mode connectivity of its cells. A model whose
//! checkpoint cannot be loaded is skipped with a warning, with the cells it belongs to; the
//! others are measured.

use std::sync::atomic::{AtomicBool, Ordering};

use pz_spec::PlannedModel;
use pz_store::ZooDir;
use pz_train::ZooFamily;
use tch::Device;

use super::units::{cell_chunks, chunks, pair_count, EpochWork};
use super::{cells, hessian, llc, spectral, MeasureError, MeasureReporter, MeasureSummary, SkippedModel};

/// Measure `work` on `device`, loading at most `per_unit` models at once (0: no limit);
/// stops between pieces once `stop` is raised. Returns what was measured and skipped.
///
/// # Errors
/// Errors other than a model that cannot be loaded (writing `metrics.json`, …).
pub(super) fn measure_unit(
    zoo: &ZooDir,
    family: &dyn ZooFamily,
    work: &[EpochWork],
    per_unit: usize,
    device: Device,
    reporter: &dyn MeasureReporter,
    stop: &AtomicBool,
) -> Result<MeasureSummary, MeasureError> {
    let mut summary = MeasureSummary::default();
    let stopped = || stop.load(Ordering::Relaxed);
    for w in work {
        let epoch = w.epoch;
        let mut skipped: Vec<SkippedModel> = Vec::new();
        for models in chunks(&w.hessian, per_unit) {
            if stopped() {
                break;
            }
            let work = |ok: &[PlannedModel]| hessian::measure(zoo, family, ok, epoch, device);
            summary.hessians += measure_loadable(zoo, family, models, epoch, device, &mut skipped, &work)?;
            reporter.on_done(models.len() as u64);
        }
        // Heavy-tail alpha reads checkpoint files only, after the Hessians so that a model
        // they could not load is already known as skipped.
        for m in &w.alpha {
            if stopped() {
                break;
            }
            if !skipped.iter().any(|s| s.model == m.id().as_str()) {
                match spectral::measure_one(zoo, m, epoch)? {
                    Ok(()) => summary.alphas += 1,
                    Err(reason) => {
                        tracing::warn!(model = %m.id(), epoch, "skipped: {reason}");
                        skipped.push(SkippedModel { model: m.id().to_string(), epoch, reason });
                    }
                }
            }
            reporter.on_done(1);
        }
        // The LLC loads the models as the Hessian does (it samples their training loss).
        for models in chunks(&w.llc, per_unit) {
            if stopped() {
                break;
            }
            let work = |ok: &[PlannedModel]| llc::measure(zoo, family, ok, epoch, device);
            summary.llcs += measure_loadable(zoo, family, models, epoch, device, &mut skipped, &work)?;
            reporter.on_done(models.len() as u64);
        }
        for group in cell_chunks(&w.cka, per_unit) {
            if stopped() {
                break;
            }
            let work = |ok: &[Vec<PlannedModel>]| cells::measure_cka(zoo, family, ok, epoch, device);
            summary.ckas += measure_cells(zoo, family, group, epoch, device, &mut skipped, &work)?;
            reporter.on_done(pair_count(group));
        }
        for group in cell_chunks(&w.mc, per_unit) {
            if stopped() {
                break;
            }
            let work = |ok: &[Vec<PlannedModel>]| cells::measure_mc(zoo, family, ok, epoch, device);
            summary.mcs += measure_cells(zoo, family, group, epoch, device, &mut skipped, &work)?;
            reporter.on_done(pair_count(group));
        }
        skipped.sort_by(|a, b| a.model.cmp(&b.model));
        skipped.dedup();
        summary.skipped.extend(skipped);
    }
    summary.interrupted = stopped();
    Ok(summary)
}

/// Measuring work on a list of models.
type ModelWork<'a> = dyn Fn(&[PlannedModel]) -> Result<(), MeasureError> + 'a;
/// Measuring work on a list of cells.
type CellWork<'a> = dyn Fn(&[Vec<PlannedModel>]) -> Result<(), MeasureError> + 'a;

/// Run `work` on `models` but those known to be unloadable; if loading fails, find the models
/// that cannot be loaded on their own, add them to `skipped` with a warning and run `work` on
/// the others. Returns how many models were measured. Errors other than loading end the run.
fn measure_loadable(
    zoo: &ZooDir,
    family: &dyn ZooFamily,
    models: &[PlannedModel],
    epoch: u32,
    device: Device,
    skipped: &mut Vec<SkippedModel>,
    work: &ModelWork,
) -> Result<usize, MeasureError> {
    let mut ok: Vec<PlannedModel> =
        models.iter().filter(|m| !skipped.iter().any(|s| s.model == m.id().as_str())).cloned().collect();
    if ok.is_empty() {
        return Ok(0);
    }
    match work(&ok) {
        Err(MeasureError::Train(first)) => {
            let mut bad = Vec::new();
            for m in &ok {
                // Loading one model alone tells which model of the unit fails.
                if let Err(e) = family.load_measured(zoo, std::slice::from_ref(m), epoch, device) {
                    let reason = pz_store::error_chain(&e);
                    tracing::warn!(model = %m.id(), epoch, "skipped: {reason}");
                    bad.push(SkippedModel { model: m.id().to_string(), epoch, reason });
                }
            }
            if bad.is_empty() {
                return Err(MeasureError::Train(first)); // not a loading problem of one model
            }
            ok.retain(|m| !bad.iter().any(|b| b.model == m.id().as_str()));
            skipped.extend(bad);
            if ok.is_empty() {
                return Ok(0);
            }
            work(&ok)?;
            Ok(ok.len())
        }
        Err(e) => Err(e),
        Ok(()) => Ok(ok.len()),
    }
}

/// [`measure_loadable`] for a group of cells: a cell with an unloadable model is dropped whole
/// (its seed pairs need every seed). Returns the number of cells measured.
fn measure_cells(
    zoo: &ZooDir,
    family: &dyn ZooFamily,
    group: &[Vec<PlannedModel>],
    epoch: u32,
    device: Device,
    skipped: &mut Vec<SkippedModel>,
    work: &CellWork,
) -> Result<usize, MeasureError> {
    let all = group.concat();
    let cells = std::cell::Cell::new(0);
    measure_loadable(zoo, family, &all, epoch, device, skipped, &|ok| {
        let whole: Vec<Vec<PlannedModel>> = group
            .iter()
            .filter(|cell| cell.iter().all(|m| ok.iter().any(|o| o.id() == m.id())))
            .cloned()
            .collect();
        cells.set(whole.len());
        if whole.is_empty() {
            return Ok(());
        }
        work(&whole)
    })?;
    Ok(cells.get())
}
