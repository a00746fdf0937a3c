//! One trial into its model folder, written as the trainer writes one: params, checkpoints,
//! results, published metrics, then status. A file is written only when what is on disk differs
//! from what the import would write.

use pz_spec::PlannedModel;
use pz_store::{
    Checkpoint, CheckpointState, Dtype, EpochRecord, FileLayout, ModelDir, ModelState, ModelStatus,
    NamedTensor, ZooDir,
};
use safetensors::SafeTensors;

use super::convert::Converter;
use super::{published, records};
use crate::{Result, Trial};

/// One model to import: its plan, its trial and what was read of the trial.
pub(super) struct ModelWork<'a> {
    pub(super) planned: &'a PlannedModel,
    pub(super) trial: &'a Trial,
    pub(super) layout: &'a FileLayout,
    pub(super) steps_per_epoch: u64,
    pub(super) records: Vec<EpochRecord>,
}

/// What importing one model did.
#[derive(Debug, Default)]
pub(super) struct ModelOutcome {
    /// Whether any of its files was written.
    pub(super) written: bool,
    pub(super) checkpoints_written: usize,
    pub(super) checkpoints_unchanged: usize,
}

/// Import one trial; `None` when `go_on` said to stop before a checkpoint (another model failed
/// first), leaving the model as an interrupted import would. `on_checkpoint` is called once per
/// checkpoint converted or found unchanged.
pub(super) fn import_model(
    zoo: &ZooDir,
    work: &ModelWork<'_>,
    converter: &mut Converter,
    on_checkpoint: &dyn Fn(),
    go_on: &dyn Fn() -> bool,
) -> Result<Option<ModelOutcome>> {
    let (planned, trial, records) = (work.planned, work.trial, &work.records[..]);
    let dir = zoo.model(planned.id());
    let mut outcome = ModelOutcome::default();
    if dir.read_params().ok().as_ref() != Some(&planned.config) {
        fs_err::create_dir_all(&dir.path)?;
        dir.write_params(&planned.config)?;
        outcome.written = true;
    }
    for files in &trial.checkpoints {
        if !go_on() {
            return Ok(None);
        }
        let model = converter.convert(&files.model, work.layout)?;
        let step = u64::from(files.epoch) * work.steps_per_epoch;
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
                .is_ok_and(|l| same_tensors(&l.model, model) && l.optimizer == optimizer && l.state == state);
        if same {
            outcome.checkpoints_unchanged += 1;
        } else {
            Checkpoint::write_encoded(&dir.path, model, &optimizer, &state)?;
            outcome.checkpoints_written += 1;
            outcome.written = true;
        }
        on_checkpoint();
    }
    if !records::same_records(&dir.read_results().unwrap_or_default(), records) {
        dir.write_results(records)?;
        outcome.written = true;
    }
    // The original's own landscape metrics, where its result lines carry them.
    let stored = dir.read_metrics().unwrap_or_default();
    for (epoch, values) in published::published_metrics(records) {
        let present =
            stored.iter().any(|m| m.epoch == epoch && values.iter().all(|(k, v)| m.values.get(k) == Some(v)));
        if !present {
            dir.merge_metrics(epoch, values)?;
            outcome.written = true;
        }
    }
    let status = status_of(planned, records);
    if read_status_file(&dir).as_ref() != Some(&status) {
        dir.write_status(&status)?;
        outcome.written = true;
    }
    Ok(Some(outcome))
}

/// Whether a stored checkpoint's tensors are those of the safetensors file `file` (whatever the
/// order or metadata either was written with).
fn same_tensors(stored: &[NamedTensor], file: &[u8]) -> bool {
    let Ok(file) = SafeTensors::deserialize(file) else { return false };
    stored.len() == file.len()
        && stored.iter().all(|t| {
            file.tensor(&t.name).is_ok_and(|v| {
                v.dtype() == t.dtype && v.shape() == t.shape.as_slice() && v.data() == t.data.as_slice()
            })
        })
}

/// Done when the results reach the last epoch with finite numbers; failed at the first
/// non-finite line (the trainer's rule); else running at the last line (a trial Ray had not
/// finished).
fn status_of(planned: &PlannedModel, records: &[EpochRecord]) -> ModelStatus {
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
