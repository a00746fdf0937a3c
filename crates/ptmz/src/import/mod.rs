//! A PTMZ image experiment into a phasezoo zoo (issue 19): the spec inferred from the trials
//! ([`spec`]), then per trial the folder phasezoo's trainer writes (`params.json`, verified
//! safetensors checkpoints under the torchvision names, `result.json`, `status.json`), then the
//! indexes. The zoo then works with `status`, `phases`, `plot`, `report` and `metrics`.
//!
//! Re-running is a no-op: a file is written only when what is on disk differs from what the
//! import would write (a checkpoint counts as the same when it verifies against its manifest
//! and holds the same tensors). An interrupted import resumes: the zoo's lock removes partial
//! writes, and every model is compared again. Models are written checkpoints first, then
//! results, then status, as the trainer does.

mod published;
mod records;
mod spec;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use pz_spec::{Plan, PlannedModel, ResolvedModel};
use pz_store::{
    collect_rows, write_index, Checkpoint, CheckpointState, Dtype, FileLayout, ModelDir, ModelState,
    ModelStatus, NamedTensor, ZooDir,
};

pub(crate) use records::ptmz_line;
pub(crate) use spec::{BATCH_KEY, WIDTH_KEY};

use crate::{read_experiment, read_state_dict, strip_module_prefix, Error, Result, Tensor, Trial};

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
/// models before it complete.
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
    let mut work = Vec::new();
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
                model_tensors(&first.model, &layout)?;
            }
            layouts.insert(shape_key.clone(), layout);
        }
        let steps_per_epoch =
            records::recorded_steps_per_epoch(trial).unwrap_or_else(|| shapes.steps_per_epoch(config));
        let records = records::epoch_records(trial, steps_per_epoch)?;
        for dir in &trial.incomplete_checkpoints {
            report.skipped.push(format!("{}: no `checkpoints` file (an interrupted save)", dir.display()));
        }
        work.push((planned, trial, shape_key, steps_per_epoch, records));
    }
    report.trials = work.len();

    let (zoo, _lock) = ZooDir::create_or_open_locked(out, &spec)?;
    let total = work.iter().map(|(_, t, ..)| t.checkpoints.len() as u64).sum();
    progress(Progress::Planned { checkpoints: total });
    for (planned, trial, shape_key, steps_per_epoch, records) in work {
        let written = import_model(
            &zoo,
            planned,
            trial,
            &layouts[&shape_key],
            steps_per_epoch,
            &records,
            progress,
            &mut report,
        )?;
        report.models_written += usize::from(written);
    }
    if report.models_written > 0 || !zoo.index_path().exists() {
        write_index(&zoo.index_path(), &collect_rows(&zoo, &plan)?)?;
        pz_phases::write_labelled_index(&zoo, &plan)?;
    }
    Ok(report)
}

/// One trial into its model folder; whether any file was written.
#[allow(clippy::too_many_arguments)]
fn import_model(
    zoo: &ZooDir,
    planned: &PlannedModel,
    trial: &Trial,
    layout: &FileLayout,
    steps_per_epoch: u64,
    records: &[pz_store::EpochRecord],
    progress: &mut dyn FnMut(Progress),
    report: &mut ImportReport,
) -> Result<bool> {
    let dir = zoo.model(planned.id());
    let mut written = false;
    if dir.read_params().ok().as_ref() != Some(&planned.config) {
        fs_err::create_dir_all(&dir.path)?;
        dir.write_params(&planned.config)?;
        written = true;
    }
    for files in &trial.checkpoints {
        let model = model_tensors(&files.model, layout)?;
        let step = u64::from(files.epoch) * steps_per_epoch;
        // The optimizer's step count, as phasezoo's SGD writes it; PTMZ's momentum buffers are
        // not imported (a nested optimizer state dict, and no metric reads them).
        #[allow(clippy::cast_possible_wrap)]
        let optimizer = vec![NamedTensor {
            name: "step".into(),
            dtype: Dtype::I64,
            shape: Vec::new(),
            data: (step as i64).to_le_bytes().to_vec(),
        }];
        let state = CheckpointState { epoch: files.epoch, step, rng: Default::default() };
        let existing =
            Checkpoint { dir: dir.path.join(Checkpoint::dir_name(files.epoch)), epoch: files.epoch };
        let same = existing.dir.exists()
            && existing
                .load()
                .is_ok_and(|l| same_tensors(l.model, &model) && l.optimizer == optimizer && l.state == state);
        if same {
            report.checkpoints_unchanged += 1;
        } else {
            Checkpoint::write(&dir.path, &model, &optimizer, &state)?;
            report.checkpoints_written += 1;
            written = true;
        }
        progress(Progress::Checkpoint);
    }
    if !records::same_records(&dir.read_results().unwrap_or_default(), records) {
        dir.write_results(records)?;
        written = true;
    }
    // The original's own landscape metrics, where its result lines carry them.
    let stored = dir.read_metrics().unwrap_or_default();
    for (epoch, values) in published::published_metrics(records) {
        let present =
            stored.iter().any(|m| m.epoch == epoch && values.iter().all(|(k, v)| m.values.get(k) == Some(v)));
        if !present {
            dir.merge_metrics(epoch, values)?;
            written = true;
        }
    }
    let status = status_of(planned, records);
    if read_status_file(&dir).as_ref() != Some(&status) {
        dir.write_status(&status)?;
        written = true;
    }
    Ok(written)
}

/// Whether two tensor lists hold the same tensors (safetensors stores them in its own order).
fn same_tensors(mut stored: Vec<NamedTensor>, tensors: &[NamedTensor]) -> bool {
    let mut tensors = tensors.to_vec();
    stored.sort_by(|a, b| a.name.cmp(&b.name));
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    stored == tensors
}

/// Done when the results reach the last epoch with finite numbers; failed at the first
/// non-finite line (the trainer's rule); else running at the last line (a trial Ray had not
/// finished).
fn status_of(planned: &PlannedModel, records: &[pz_store::EpochRecord]) -> ModelStatus {
    let last = records.last().map(|r| r.epoch);
    if let Some(r) = records
        .iter()
        .find(|r| !(r.train_loss.is_finite() && r.test_loss.is_finite() && r.test_error.is_finite()))
    {
        let message = Some(format!("loss became non-finite at epoch {}", r.epoch));
        return ModelStatus { state: ModelState::Failed, epoch: last, message };
    }
    if last == Some(planned.config.train.epochs) {
        ModelStatus { state: ModelState::Done, epoch: last, message: None }
    } else {
        let message = Some("imported from an unfinished PTMZ trial".to_owned());
        ModelStatus { state: ModelState::Running, epoch: last, message }
    }
}

/// `status.json` as written (without `read_status`'s checks against `result.json`).
fn read_status_file(dir: &ModelDir) -> Option<ModelStatus> {
    serde_json::from_slice(&fs_err::read(dir.status_path()).ok()?).ok()
}

/// The tensors of a PTMZ checkpoint under phasezoo's names (`module.` stripped), checked
/// against `layout`.
///
/// # Errors
/// The reader's errors; [`Error::Layout`] naming the file and the first tensor missing, unknown
/// to phasezoo's model, or of another dtype or shape.
fn model_tensors(path: &Path, layout: &FileLayout) -> Result<Vec<NamedTensor>> {
    let mut tensors = read_state_dict(path)?;
    strip_module_prefix(&mut tensors).map_err(|e| match e {
        Error::InvalidTensor { tensor, message } => Error::Layout { path: path.to_owned(), tensor, message },
        other => other,
    })?;
    let fail = |tensor: &str, message: String| Error::Layout {
        path: path.to_owned(),
        tensor: tensor.to_owned(),
        message,
    };
    let expected: HashMap<&str, &pz_store::TensorLayout> =
        layout.required.iter().chain(&layout.optional).map(|t| (t.name.as_str(), t)).collect();
    for t in &tensors {
        let Some(e) = expected.get(t.name.as_str()) else {
            return Err(fail(&t.name, "phasezoo's model has no such tensor (not a torchvision ResNet state dict of this architecture?)".into()));
        };
        if (t.dtype, &t.shape) != (e.dtype, &e.shape) {
            return Err(fail(
                &t.name,
                format!("{:?} {:?}, phasezoo's model expects {:?} {:?}", t.dtype, t.shape, e.dtype, e.shape),
            ));
        }
    }
    if let Some(missing) = layout.required.iter().find(|e| !tensors.iter().any(|t| t.name == e.name)) {
        return Err(fail(&missing.name, "missing; phasezoo's model needs it".into()));
    }
    Ok(tensors
        .into_iter()
        .map(|Tensor { name, dtype, shape, data }| NamedTensor { name, dtype, shape, data })
        .collect())
}
