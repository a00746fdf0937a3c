//! What `phasezoo metrics DIR` and `phasezoo work DIR --metrics` both run: the zoo's data and
//! family, the metrics and epochs the user asked for (checked against the family before anything
//! runs), then [`measure_zoo`]. One function, so the two commands cannot drift apart.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use pz_spec::Plan;
use pz_store::ZooDir;
use pz_train::{zoo_data, zoo_family};

use super::{
    measure_zoo, what_to_measure, MeasureError, MeasureReporter, MeasureRequest, MeasureSummary, Measurers,
};

/// A measuring run as the user asked for it.
#[derive(Debug, Clone, Copy)]
pub struct MetricsAsk<'a> {
    /// `--only`: metric names (empty: every metric).
    pub only: &'a [String],
    /// `--epochs` (empty: the spec's `[metrics] epochs`, else the last).
    pub epochs: &'a [u32],
    /// `--all-epochs`: every kept checkpoint.
    pub all_epochs: bool,
    /// Where the image caches and text corpora are (`None`: `$PHASEZOO_DATA`, else the default).
    pub data_dir: Option<&'a Path>,
    /// Who measures.
    pub workers: Measurers<'a>,
}

/// Measure what `ask` asks for in the zoo `zoo` (planned as `plan`); `note` hears, before the
/// work starts, why a metric was dropped for this family. Returns the summary and the epochs
/// measured.
///
/// # Errors
/// The zoo's data cannot be read; an unknown metric, or epochs the zoo cannot have (the message
/// says what to ask instead); as [`measure_zoo`].
pub fn measure_asked(
    zoo: &ZooDir,
    plan: &Plan,
    ask: &MetricsAsk<'_>,
    reporter: &dyn MeasureReporter,
    stop: &AtomicBool,
    note: &dyn Fn(&str),
) -> Result<(MeasureSummary, Vec<u32>), MeasureError> {
    let data = zoo_data(&zoo.spec.problem, ask.data_dir)?;
    let family = zoo_family(&zoo.spec.problem, &data)?;
    let (selection, epochs, dropped) =
        what_to_measure(&zoo.spec, family.as_ref(), &zoo.path, ask.only, (ask.epochs, ask.all_epochs))
            .map_err(pz_train::Error::Config)?;
    if let Some(dropped) = dropped {
        note(&dropped);
    }
    let request = MeasureRequest { epochs: &epochs, selection, workers: ask.workers };
    let summary = measure_zoo(zoo, plan, family.as_ref(), &request, reporter, stop)?;
    Ok((summary, epochs))
}
