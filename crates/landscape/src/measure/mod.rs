//! Measuring a trained zoo: which metrics are missing, on which populations, stored where.
//!
//! Model-level metrics (Hessian) run on populations of models; cell-level metrics (CKA, mode
//! connectivity) on the seeds of each cell, all cells of a chunk at once. Values go to each
//! model's `metrics.json` line of the measured epoch (cell values to every member, as PTMZ).
//! What a model's line already holds is not computed again, so an interrupted run resumes and a
//! finished one does nothing. Every value is a function of its model (or cell), never of the
//! models measured beside it: random probes come from each model's own stream, so a resumed,
//! partial or regrouped run writes the same numbers (issue 17).
//!
//! A model whose checkpoint cannot be loaded (damaged, wrong dtype or shape, missing) is skipped
//! with a warning, with the cells it belongs to; the others are measured, and the summary lists
//! what was skipped so that the caller can fail at the end.

mod cells;
mod hessian;
mod request;
mod spectral;

pub use request::{epochs_to_measure, Selection};

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use pz_spec::{CellIndex, Plan, PlannedModel};
use pz_store::{MetricKey, ModelState, ZooDir};
use pz_train::ZooFamily;
use tch::Device;

/// Progress callbacks (the CLI draws them).
pub trait MeasureReporter: Sync {
    /// `units` pieces of work (model-metrics) are planned.
    fn on_planned(&self, _units: u64) {}
    /// `units` more are done.
    fn on_done(&self, _units: u64) {}
}

/// What a measuring run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MeasureSummary {
    /// (model, epoch) Hessians computed.
    pub hessians: usize,
    /// (cell, epoch) CKAs computed.
    pub ckas: usize,
    /// (cell, epoch) mode connectivities computed.
    pub mcs: usize,
    /// (model, epoch) heavy-tail alphas computed.
    pub alphas: usize,
    /// Cells skipped because a model is not done.
    pub unfinished_cells: usize,
    /// Whether a stop request ended it early.
    pub interrupted: bool,
    /// Models that could not be loaded at an epoch, with the reason; their metrics (and their
    /// cells' CKA and mode connectivity) were not computed.
    pub skipped: Vec<SkippedModel>,
}

/// A model `measure_zoo` could not load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedModel {
    /// Its id.
    pub model: String,
    /// The epoch asked for.
    pub epoch: u32,
    /// Why its checkpoint could not be loaded (names the file).
    pub reason: String,
}

/// Errors of measuring.
#[derive(Debug, thiserror::Error)]
pub enum MeasureError {
    /// Reading or writing the zoo failed.
    #[error(transparent)]
    Store(#[from] pz_store::Error),
    /// Loading a population failed.
    #[error(transparent)]
    Train(#[from] pz_train::Error),
}

/// Compute the selected metrics that are missing at `epochs` for every finished cell of a zoo of
/// `family`, spreading the work over `devices` (one worker thread each). The metrics ask only
/// the family's [`pz_train::MeasuredPopulation`]s; mode connectivity needs a family that
/// measures curves (the caller checks `ZooFamily::measures_mode_connectivity`).
///
/// Metrics of one kind run in parallel on disjoint sets of models; the kinds run one after the
/// other, so no two workers ever update the same `metrics.json`.
///
/// # Errors
/// Unreadable files, missing checkpoints at an epoch asked for.
#[allow(clippy::too_many_arguments)] // what, where and on what data: each a separate choice
pub fn measure_zoo(
    zoo: &ZooDir,
    plan: &Plan,
    epochs: &[u32],
    selection: Selection,
    devices: &[Device],
    family: &dyn ZooFamily,
    reporter: &dyn MeasureReporter,
    stop: &AtomicBool,
) -> Result<MeasureSummary, MeasureError> {
    let mut summary = MeasureSummary::default();
    let cells = finished_cells(zoo, plan, &mut summary)?;
    let per_unit = family.models_per_measuring_unit(zoo.spec.run.max_population);
    for &epoch in epochs {
        let pending = |key: MetricKey| -> Result<Vec<PlannedModel>, MeasureError> {
            let mut todo = Vec::new();
            for models in cells.values() {
                for m in models {
                    if !has_key(zoo, m, epoch, key.as_str())? {
                        todo.push(m.clone());
                    }
                }
            }
            Ok(todo)
        };
        let hessian_todo = if selection.hessian { pending(MetricKey::HessianTrace)? } else { Vec::new() };
        let alpha_todo = if selection.alpha { pending(MetricKey::WwAlpha)? } else { Vec::new() };
        let cka_todo =
            if selection.cka { cells_needing(&cells, &pending(MetricKey::Cka)?) } else { Vec::new() };
        let mc_todo =
            if selection.mc { cells_needing(&cells, &pending(MetricKey::McTestError)?) } else { Vec::new() };
        reporter.on_planned(
            (hessian_todo.len() + alpha_todo.len()) as u64 + pair_count(&cka_todo) + pair_count(&mc_todo),
        );

        let skipped = Mutex::new(Vec::new());
        // Each unit of work skips the models that cannot be loaded (and, for cell metrics, their
        // cells) and measures the rest.
        let guard = |models: &[PlannedModel], device: Device, work: &ModelWork| {
            measure_loadable(zoo, family, models, epoch, device, &skipped, work)
        };
        let units: Vec<&[PlannedModel]> = chunks(&hessian_todo, per_unit).collect();
        summary.hessians += in_parallel(&units, devices, stop, |models, device| {
            let done = guard(models, device, &|ok| hessian::measure(zoo, family, ok, epoch, device))?;
            reporter.on_done(models.len() as u64);
            Ok(done)
        })?;
        // Heavy-tail alpha reads checkpoint files only: on this thread, after the Hessians so
        // that a model they could not load is already known as skipped.
        for m in &alpha_todo {
            let known = skipped
                .lock()
                .expect("not poisoned")
                .iter()
                .any(|s: &SkippedModel| s.model == m.id().as_str());
            if known || stop.load(Ordering::Relaxed) {
                continue;
            }
            match spectral::measure_one(zoo, m, epoch)? {
                Ok(()) => summary.alphas += 1,
                Err(reason) => {
                    tracing::warn!(model = %m.id(), epoch, "skipped: {reason}");
                    let s = SkippedModel { model: m.id().to_string(), epoch, reason };
                    skipped.lock().expect("not poisoned").push(s);
                }
            }
            reporter.on_done(1);
        }
        summary.ckas += in_parallel(&cell_chunks(&cka_todo, per_unit), devices, stop, |group, device| {
            let done =
                guard_cells(group, device, &guard, &|ok| cells::measure_cka(zoo, family, ok, epoch, device))?;
            reporter.on_done(pair_count(group));
            Ok(done)
        })?;
        summary.mcs += in_parallel(&cell_chunks(&mc_todo, per_unit), devices, stop, |group, device| {
            let done =
                guard_cells(group, device, &guard, &|ok| cells::measure_mc(zoo, family, ok, epoch, device))?;
            reporter.on_done(pair_count(group));
            Ok(done)
        })?;
        let mut skipped = skipped.into_inner().expect("no measuring thread panicked holding it");
        skipped.sort_by(|a: &SkippedModel, b| a.model.cmp(&b.model));
        skipped.dedup();
        summary.skipped.extend(skipped);
        if stop.load(Ordering::Relaxed) {
            summary.interrupted = true;
            return Ok(summary);
        }
    }
    Ok(summary)
}

/// Measuring work on a list of models.
type ModelWork<'a> = dyn Fn(&[PlannedModel]) -> Result<(), MeasureError> + 'a;
/// Measuring work on a list of cells.
type CellWork<'a> = dyn Fn(&[Vec<PlannedModel>]) -> Result<(), MeasureError> + 'a;
/// [`measure_loadable`] on a device, as the measuring loop binds it.
type Guard<'a> = dyn Fn(&[PlannedModel], Device, &ModelWork) -> Result<usize, MeasureError> + 'a;

/// Run `work` on `models`; if loading fails, find the models that cannot be loaded on their
/// own, record them in `skipped` with a warning and run `work` on the others. Returns how many
/// models were measured. Errors other than loading (writing metrics.json, …) end the run.
fn measure_loadable(
    zoo: &ZooDir,
    family: &dyn ZooFamily,
    models: &[PlannedModel],
    epoch: u32,
    device: Device,
    skipped: &Mutex<Vec<SkippedModel>>,
    work: &ModelWork,
) -> Result<usize, MeasureError> {
    let known: Vec<String> = skipped
        .lock()
        .expect("not poisoned")
        .iter()
        .filter(|s| s.epoch == epoch)
        .map(|s| s.model.clone())
        .collect();
    let mut ok: Vec<PlannedModel> =
        models.iter().filter(|m| !known.iter().any(|k| k == m.id().as_str())).cloned().collect();
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
            skipped.lock().expect("not poisoned").extend(bad);
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
fn guard_cells(
    group: &[Vec<PlannedModel>],
    device: Device,
    guard: &Guard,
    work: &CellWork,
) -> Result<usize, MeasureError> {
    let all = group.concat();
    let cells = std::cell::RefCell::new(0);
    guard(&all, device, &|ok| {
        let whole: Vec<Vec<PlannedModel>> = group
            .iter()
            .filter(|cell| cell.iter().all(|m| ok.iter().any(|o| o.id() == m.id())))
            .cloned()
            .collect();
        *cells.borrow_mut() = whole.len();
        if whole.is_empty() {
            return Ok(());
        }
        work(&whole)
    })?;
    Ok(cells.into_inner())
}

/// Seed pairs of a list of cells.
fn pair_count(cells: &[Vec<PlannedModel>]) -> u64 {
    cells.iter().map(|m| (m.len() * (m.len() - 1) / 2) as u64).sum()
}

/// Run `work` on every unit, one worker per device taking units first come (pz_exec::Pool);
/// stops taking units once `stop` is set. Returns the sum of what the units return. CUDA
/// streams are the work's own (a Hessian with graphs moves its thread off the default stream).
fn in_parallel<U: Sync>(
    units: &[U],
    devices: &[Device],
    stop: &AtomicBool,
    work: impl Fn(&U, Device) -> Result<usize, MeasureError> + Sync,
) -> Result<usize, MeasureError> {
    let done = std::sync::atomic::AtomicUsize::new(0);
    let items = units.iter().map(|unit| (unit, pz_exec::Cost::FIRST_COME)).collect();
    pz_exec::Pool::new(devices, devices.len())
        .with_stop(stop)
        .run(
            items,
            |_, _| {},
            |_| (),
            |(), unit, device| {
                done.fetch_add(work(unit, device)?, Ordering::Relaxed);
                Ok::<_, MeasureError>(pz_exec::Flow::Continue)
            },
        )
        .map_err(|e| e.into_work_error(|message| panic!("a measuring thread panicked: {message}")))?;
    Ok(done.into_inner())
}

/// Cells whose every model is done, in plan order; counts the others.
fn finished_cells(
    zoo: &ZooDir,
    plan: &Plan,
    summary: &mut MeasureSummary,
) -> Result<BTreeMap<CellIndex, Vec<PlannedModel>>, MeasureError> {
    let mut cells: BTreeMap<CellIndex, Vec<PlannedModel>> = BTreeMap::new();
    for m in &plan.models {
        cells.entry(m.cell).or_default().push(m.clone());
    }
    let mut finished = BTreeMap::new();
    for (cell, models) in cells {
        let mut done = true;
        for m in &models {
            done &= zoo.model(m.id()).read_status()?.state == ModelState::Done;
        }
        if done {
            finished.insert(cell, models);
        } else {
            summary.unfinished_cells += 1;
            tracing::warn!(load = cell.load, temperature = cell.temperature, "cell not finished: skipped");
        }
    }
    Ok(finished)
}

fn has_key(zoo: &ZooDir, m: &PlannedModel, epoch: u32, key: &str) -> Result<bool, MeasureError> {
    let records = zoo.model(m.id()).read_metrics()?;
    Ok(records.iter().any(|r| r.epoch == epoch && r.values.contains_key(key)))
}

/// The cells (as model lists) that contain a model of `todo`; cells with one seed have no pair.
fn cells_needing(
    cells: &BTreeMap<CellIndex, Vec<PlannedModel>>,
    todo: &[PlannedModel],
) -> Vec<Vec<PlannedModel>> {
    cells
        .values()
        .filter(|models| models.len() > 1 && models.iter().any(|m| todo.iter().any(|t| t.id() == m.id())))
        .cloned()
        .collect()
}

fn chunks(models: &[PlannedModel], max: usize) -> impl Iterator<Item = &[PlannedModel]> {
    models.chunks(if max == 0 { usize::MAX } else { max })
}

/// Groups of whole cells with at most `max` models each (at least one cell per group).
fn cell_chunks(cells: &[Vec<PlannedModel>], max: usize) -> Vec<&[Vec<PlannedModel>]> {
    let max = if max == 0 { usize::MAX } else { max };
    let mut groups = Vec::new();
    let (mut start, mut size) = (0, 0);
    for (i, c) in cells.iter().enumerate() {
        if size > 0 && size + c.len() > max {
            groups.push(&cells[start..i]);
            (start, size) = (i, 0);
        }
        size += c.len();
    }
    if start < cells.len() {
        groups.push(&cells[start..]);
    }
    groups
}

/// A JSON number, `null` when not finite.
pub(crate) fn number(v: f64) -> serde_json::Value {
    serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, serde_json::Value::Number)
}
