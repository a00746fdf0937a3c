//! A PTMZ image experiment into a phasezoo zoo (issue 19): the spec inferred from the trials
//! ([`spec`]), then per trial the folder phasezoo's trainer writes (`params.json`, verified
//! safetensors checkpoints under the torchvision names, `result.json`, `status.json`), then the
//! indexes. The zoo then works with `status`, `phases`, `plot`, `report` and `metrics`.
//!
//! Re-running is a no-op: a file is written only when what is on disk differs from what the
//! import would write (a checkpoint counts as the same when it verifies against its manifest
//! and holds the same tensors). An interrupted import resumes: the zoo's lock removes partial
//! writes, and every model is compared again. Models are written checkpoints first, then
//! results, then status, as the trainer does ([`model`]).
//!
//! Speed (BENCHMARKS.md, issue 19): models are imported on several threads, so that one
//! thread's hashing and copying overlaps another's waiting for the disk, and each thread
//! converts a checkpoint with one copy of its bytes into a buffer it reuses ([`convert`]).

mod convert;
mod model;
mod published;
mod records;
mod spec;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use pz_spec::{Plan, ResolvedModel};
use pz_store::{collect_rows, write_index, FileLayout, ZooDir};

pub(crate) use records::ptmz_line;
pub(crate) use spec::{BATCH_KEY, WIDTH_KEY};

use crate::{read_experiment, Error, Result};
use convert::Converter;
use model::{import_model, ModelOutcome, ModelWork};

/// What the importer needs to know of phasezoo's models that this crate cannot compute: it does
/// not link libtorch, and the vision models live in `pz-models`. The binary implements it.
pub trait ModelShapes {
    /// The state dict of phasezoo's model for `model`: every tensor's name, dtype and shape
    /// (`required`; `optional` is allowed too). Called once per distinct architecture and width.
    ///
    /// # Errors
    /// Why no such model can be built (e.g. an unknown dataset).
    fn state_dict(&self, model: &ResolvedModel) -> std::result::Result<FileLayout, String>;

    /// Optimizer steps in one epoch of `model`, for trials whose `result.json` does not record
    /// `scheduler::steps_per_epoch`.
    fn steps_per_epoch(&self, model: &ResolvedModel) -> u64;
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// The zoo folder.
    pub zoo: PathBuf,
    /// Models of the inferred grid.
    pub models: usize,
    /// Models with a trial folder (the others stay pending).
    pub trials: usize,
    /// Checkpoints written by this run.
    pub checkpoints_written: usize,
    /// Checkpoints already in the zoo with the same tensors.
    pub checkpoints_unchanged: usize,
    /// Models any of whose files this run wrote.
    pub models_written: usize,
    /// Things left out, one line each (incomplete checkpoint folders, grid cells without a trial).
    pub skipped: Vec<String>,
}

/// Progress of an import or export, for a bar: the total once planned, then one call per
/// checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// This many checkpoints will be read.
    Planned {
        /// Checkpoints of all trials.
        checkpoints: u64,
    },
    /// One more checkpoint converted (or found unchanged).
    Checkpoint,
}

/// Import the PTMZ experiment folder `src` into the zoo folder `out` (created, or opened when it
/// holds the zoo of an earlier import).
///
/// Before anything is written, the trials are read, the grid and spec inferred, every trial's
/// result lines checked, and the first checkpoint of each model shape checked against phasezoo's
/// model; a later checkpoint that does not fit stops the import with the same error, leaving the
/// models before it complete (models after it, imported on other threads meanwhile, may be
/// partly written; a rerun completes them).
///
/// # Errors
/// Unreadable or malformed trials ([`Error::Trial`], [`Error::Json`]); not a grid
/// ([`Error::Grid`]); not an importable image zoo ([`Error::Unsupported`], [`Error::Spec`]); a
/// refused or damaged checkpoint (the reader's errors, naming the file); a tensor that does not
/// fit the model ([`Error::Layout`], naming the file and the tensor); the zoo locked or made by
/// another spec ([`Error::Store`]).
pub fn import_experiment(
    src: &Path,
    out: &Path,
    shapes: &dyn ModelShapes,
    progress: &mut dyn FnMut(Progress),
) -> Result<ImportReport> {
    let experiment = read_experiment(src)?;
    if experiment.trials.is_empty() {
        return Err(Error::Grid { path: src.to_owned(), message: "no trial folders".into() });
    }
    let grid = experiment.grid()?;
    let spec = spec::infer_spec(&experiment, &grid)?;
    let plan = Plan::new(&spec).map_err(|source| Error::Spec { path: src.to_owned(), source })?;
    let mut report =
        ImportReport { zoo: out.to_owned(), models: plan.models.len(), ..ImportReport::default() };

    // Plan models with their trials, and what each will hold, checked before the first write.
    let mut layouts: HashMap<String, FileLayout> = HashMap::new();
    let mut planned_work = Vec::new();
    for planned in &plan.models {
        let config = &planned.config;
        let Some(trial) = grid
            .cell(config.load.value, config.temperature.value)
            .and_then(|c| c.trials.iter().find(|(s, _)| u64::try_from(*s).ok() == Some(config.seed)))
            .map(|&(_, i)| &experiment.trials[i])
        else {
            report.skipped.push(format!(
                "no trial for width {} × batch size {} × seed {}: model {} stays pending",
                config.load.value,
                config.temperature.value,
                config.seed,
                planned.id()
            ));
            continue;
        };
        let shape_key = serde_json::to_string(&config.model).expect("configs serialize");
        if !layouts.contains_key(&shape_key) {
            let layout = shapes
                .state_dict(config)
                .map_err(|message| Error::Unsupported { path: trial.dir.clone(), message })?;
            if let Some(first) = trial.checkpoints.first() {
                Converter::default().convert(&first.model, &layout)?;
            }
            layouts.insert(shape_key.clone(), layout);
        }
        let steps_per_epoch =
            records::recorded_steps_per_epoch(trial).unwrap_or_else(|| shapes.steps_per_epoch(config));
        let records = records::epoch_records(trial, steps_per_epoch)?;
        for dir in &trial.incomplete_checkpoints {
            report.skipped.push(format!("{}: no `checkpoints` file (an interrupted save)", dir.display()));
        }
        planned_work.push((planned, trial, shape_key, steps_per_epoch, records));
    }
    report.trials = planned_work.len();
    let work: Vec<ModelWork<'_>> = planned_work
        .into_iter()
        .map(|(planned, trial, shape_key, steps_per_epoch, records)| ModelWork {
            planned,
            trial,
            layout: &layouts[&shape_key],
            steps_per_epoch,
            records,
        })
        .collect();

    let (zoo, _lock) = ZooDir::create_or_open_locked(out, &spec)?;
    let total = work.iter().map(|w| w.trial.checkpoints.len() as u64).sum();
    progress(Progress::Planned { checkpoints: total });
    for outcome in import_models(&zoo, &work, progress)? {
        report.checkpoints_written += outcome.checkpoints_written;
        report.checkpoints_unchanged += outcome.checkpoints_unchanged;
        report.models_written += usize::from(outcome.written);
    }
    if report.models_written > 0 || !zoo.index_path().exists() {
        write_index(&zoo.index_path(), &collect_rows(&zoo, &plan)?)?;
        pz_phases::write_labelled_index(&zoo, &plan)?;
    }
    Ok(report)
}

/// Threads importing models: one per core, plus two so that the cores stay busy while threads
/// wait for the disk (each checkpoint is synced before its folder is renamed into place).
fn import_threads(models: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    (cores + 2).min(8).min(models).max(1)
}

/// What a thread reports to the one that owns `progress`.
enum Event {
    Checkpoint,
    Model(usize, Result<Option<ModelOutcome>>),
}

/// Import every model of `work` on [`import_threads`] threads, each taking the next model in
/// order; `progress` is called on this thread. On an error, models after the failing one are
/// not started (and stop at their next checkpoint), models before it complete, and the error
/// of the first failing model in `work`'s order is returned, as a one-thread import would.
fn import_models(
    zoo: &ZooDir,
    work: &[ModelWork<'_>],
    progress: &mut dyn FnMut(Progress),
) -> Result<Vec<ModelOutcome>> {
    let next = AtomicUsize::new(0);
    let first_failure = AtomicUsize::new(usize::MAX);
    let (sender, events) = mpsc::channel();
    let mut outcomes: Vec<Option<Result<Option<ModelOutcome>>>> = work.iter().map(|_| None).collect();
    std::thread::scope(|scope| {
        for _ in 0..import_threads(work.len()) {
            let (sender, next, first_failure) = (sender.clone(), &next, &first_failure);
            scope.spawn(move || {
                let mut converter = Converter::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= work.len() || i > first_failure.load(Ordering::Relaxed) {
                        return;
                    }
                    let on_checkpoint = || drop(sender.send(Event::Checkpoint));
                    let go_on = || i <= first_failure.load(Ordering::Relaxed);
                    let result = import_model(zoo, &work[i], &mut converter, &on_checkpoint, &go_on);
                    if result.is_err() {
                        first_failure.fetch_min(i, Ordering::Relaxed);
                    }
                    // The receiver lives until every sender is gone.
                    drop(sender.send(Event::Model(i, result)));
                }
            });
        }
        drop(sender);
        for event in events {
            match event {
                Event::Checkpoint => progress(Progress::Checkpoint),
                Event::Model(i, result) => outcomes[i] = Some(result),
            }
        }
    });
    let mut done = Vec::with_capacity(work.len());
    for outcome in outcomes {
        match outcome {
            Some(Ok(Some(outcome))) => done.push(outcome),
            Some(Err(e)) => return Err(e),
            // Stopped or not started: only after a failing model, whose error comes first.
            Some(Ok(None)) | None => {}
        }
    }
    Ok(done)
}
