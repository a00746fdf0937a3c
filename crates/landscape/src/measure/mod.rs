//! Measuring a trained zoo: which metrics are missing, on which models, stored where.
//!
//! The work is cut into measuring units ([`measuring_units`]: runs of whole cells of at most
//! `ZooFamily::models_per_measuring_unit` models), picked and finished through claims as the
//! training's units are ([`pz_train::ClaimedRun`]): by `phasezoo metrics` (a thread per
//! device, the zoo held alone) and by `phasezoo work --metrics` (workers on many machines).
//! A unit measures, at each epoch asked, its models' Hessians (populations of at most that
//! many models) and alphas, then its cells' CKA and mode connectivity (all its cells at
//! once). Values go to each model's `metrics.json` line of the measured epoch (cell values to
//! every member, as PTMZ); units share no model, so no two workers update one file.
//!
//! What a model's line already holds is not computed again, so an interrupted run resumes and
//! a finished one does nothing. Every value is a function of its model (or cell), never of the
//! models measured beside it: random probes come from each model's own stream, so a resumed,
//! partial or regrouped run writes the same numbers (issue 17).
//!
//! A model whose checkpoint cannot be loaded (damaged, wrong dtype or shape, missing) is skipped
//! with a warning, with the cells it belongs to; the others are measured, the unit is recorded
//! failed (so that no other worker tries it again), and the summary lists what was skipped so
//! that the caller can fail at the end.

mod asked;
mod cells;
mod hessian;
mod llc;
mod request;
mod spectral;
mod unit;
mod units;

pub use asked::{measure_asked, MetricsAsk};
pub use request::{epochs_to_measure, what_to_measure, Selection};
pub use units::{measuring_units, MeasuringUnit};

use std::sync::atomic::AtomicBool;
use std::sync::Mutex;

use pz_spec::Plan;
use pz_store::{Claims, ZooDir};
use pz_train::{
    ClaimedRun, ClaimedUnit, Outcome, UnitEnd, UnitError, WorkOptions, WorkReport, ZooAccess, ZooFamily,
};
use tch::Device;

/// Progress callbacks (the CLI draws them).
pub trait MeasureReporter: Sync {
    /// `units` pieces of work (model-metrics) are planned.
    fn on_planned(&self, _units: u64) {}
    /// `units` more are done.
    fn on_done(&self, _units: u64) {}
}

/// No progress shown (workers).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMeasureReporter;

impl MeasureReporter for NoMeasureReporter {}

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
    /// (model, epoch) local learning coefficients computed (`[metrics.llc]`).
    pub llcs: usize,
    /// Cells skipped because a model is not done.
    pub unfinished_cells: usize,
    /// Whether a stop request ended it early.
    pub interrupted: bool,
    /// Models that could not be loaded at an epoch, with the reason; their metrics (and their
    /// cells' CKA and mode connectivity) were not computed.
    pub skipped: Vec<SkippedModel>,
    /// Measuring units this process measured (to their end).
    pub units: usize,
}

impl MeasureSummary {
    fn add(&mut self, other: Self) {
        self.hessians += other.hessians;
        self.ckas += other.ckas;
        self.mcs += other.mcs;
        self.alphas += other.alphas;
        self.llcs += other.llcs;
        self.skipped.extend(other.skipped);
    }
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

impl UnitError for MeasureError {
    fn panicked(message: String) -> Self {
        Self::Train(pz_train::Error::panicked(message))
    }
}

/// What and how to measure, and who measures it.
#[derive(Debug, Clone, Copy)]
pub struct MeasureRequest<'a> {
    /// Checkpoint epochs.
    pub epochs: &'a [u32],
    /// Which metrics (mode connectivity needs a family that measures curves: the caller
    /// checks `ZooFamily::measures_mode_connectivity`).
    pub selection: Selection,
    /// Who measures: devices, access, claims.
    pub workers: Measurers<'a>,
}

/// Who measures a zoo: the same three things whether the run names its metrics itself
/// ([`MeasureRequest`]) or takes them from the user ([`super::MetricsAsk`]).
#[derive(Debug, Clone, Copy)]
pub struct Measurers<'a> {
    /// Devices, one thread each.
    pub devices: &'a [Device],
    /// Alone (`phasezoo metrics`: claims a killed run left are cleared) or beside other
    /// workers (`phasezoo work --metrics`).
    pub access: ZooAccess<'a>,
    /// The claims' identity and lease.
    pub options: &'a WorkOptions,
}

/// Compute the selected metrics that are missing at the request's epochs for every finished
/// cell of a zoo of `family`, unit by unit through claims (see the module notes), until no
/// unit is left to anyone.
///
/// # Errors
/// Unreadable files, claims' I/O, errors other than a model that cannot be loaded.
pub fn measure_zoo(
    zoo: &ZooDir,
    plan: &Plan,
    family: &dyn ZooFamily,
    request: &MeasureRequest<'_>,
    reporter: &dyn MeasureReporter,
    stop: &AtomicBool,
) -> Result<MeasureSummary, MeasureError> {
    let claims = Claims::new(&zoo.path, request.workers.options.lease);
    if let ZooAccess::Exclusive(lock) = request.workers.access {
        claims.clear_stale(lock)?;
    }
    let per_unit = family.models_per_measuring_unit(zoo.spec.run.max_population);
    let units = measuring_units(plan, per_unit);
    let (epochs, selection) = (request.epochs, request.selection);
    if selection.llc
        && zoo.spec.metrics.llc.is_none()
        && !(selection.hessian || selection.alpha || selection.cka || selection.mc)
    {
        tracing::warn!(
            "llc asked, but the zoo has no [metrics.llc] table: add one to measure it (docs/METRICS.md)"
        );
    }
    let mut summary = MeasureSummary::default();
    let mut planned = 0;
    for unit in &units {
        let (work, unfinished) = units::left_to_measure(zoo, unit, epochs, selection)?;
        planned += work.iter().map(units::EpochWork::size).sum::<u64>();
        summary.unfinished_cells += unfinished;
    }
    if summary.unfinished_cells > 0 {
        tracing::warn!(cells = summary.unfinished_cells, "cells not finished: skipped");
    }
    reporter.on_planned(planned);
    let measured = Mutex::new(MeasureSummary::default());
    let pending = || -> Result<Vec<ClaimedUnit<MeasuringUnit>>, MeasureError> {
        let mut out = Vec::new();
        for unit in &units {
            // A unit recorded failed (a model it cannot load) is not tried again by a worker.
            if claims.failure(&unit.id)?.is_none()
                && !units::left_to_measure(zoo, unit, epochs, selection)?.0.is_empty()
            {
                out.push(ClaimedUnit::first_come(unit.id.clone(), unit.clone()));
            }
        }
        Ok(out)
    };
    let run = ClaimedRun {
        zoo: &zoo.path,
        devices: request.workers.devices,
        jobs: request.workers.devices.len(),
        stop,
        options: request.workers.options,
    };
    let report: WorkReport = run.run(pending, |_| (), |(), unit: &MeasuringUnit, device, unit_stop| {
        // Read again under the claim: its last holder may have measured it meanwhile.
        let (work, _) = units::left_to_measure(zoo, unit, epochs, selection)?;
        if work.is_empty() {
            return Ok(UnitEnd::NothingLeft);
        }
        tracing::info!(unit = %unit.id, models = unit.cells.iter().map(Vec::len).sum::<usize>(), "measuring");
        let done = unit::measure_unit(zoo, family, &work, per_unit, device, reporter, unit_stop)?;
        if !done.skipped.is_empty() && !done.interrupted {
            let reasons: Vec<String> =
                done.skipped.iter().map(|s| format!("model {} at epoch {}: {}", s.model, s.epoch, s.reason)).collect();
            claims.mark_failed(&unit.id, &reasons)?;
        }
        let end = if done.interrupted { UnitEnd::Interrupted } else { UnitEnd::Done };
        measured.lock().expect("not poisoned").add(done);
        Ok(end)
    })?;
    if let ZooAccess::Exclusive(lock) = request.workers.access {
        claims.clear_stale(lock)?; // alone on the zoo: its failure records were this run's
    }
    let measured = measured.into_inner().expect("no measuring thread panicked holding it");
    summary.add(measured);
    summary.skipped.sort_by(|a, b| (&a.model, a.epoch).cmp(&(&b.model, b.epoch)));
    summary.interrupted = report.outcome == Outcome::Interrupted;
    summary.units = report.units;
    Ok(summary)
}

/// How many measuring units of the zoo have work left at `epochs` for `selection` (what
/// `phasezoo submit --metrics` starts workers for).
///
/// # Errors
/// Unreadable status or metrics files.
pub fn measuring_units_left(
    zoo: &ZooDir,
    plan: &Plan,
    family: &dyn ZooFamily,
    epochs: &[u32],
    selection: Selection,
) -> Result<usize, MeasureError> {
    let mut left = 0;
    for unit in measuring_units(plan, family.models_per_measuring_unit(zoo.spec.run.max_population)) {
        left += usize::from(!units::left_to_measure(zoo, &unit, epochs, selection)?.0.is_empty());
    }
    Ok(left)
}

/// A JSON number, `null` when not finite.
pub(crate) fn number(v: f64) -> serde_json::Value {
    serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, serde_json::Value::Number)
}
