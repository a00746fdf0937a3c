//! The resumable loop of one image model: the same on-disk contract as the PINN populations
//! (results first, then the checkpoint; on resume, results cut back to the checkpoint).

use std::collections::BTreeMap;

use pz_spec::PlannedModel;
use pz_store::{
    Checkpoint, CheckpointState, EpochRecord, LoadedCheckpoint, ModelDir, ModelState, ModelStatus,
};

use super::{EpochStats, ImageTask, ImageTrainer};
use crate::{Error, Outcome, Reporter, Run};

/// Train one image model to its last epoch, resuming from its newest intact checkpoint. A model
/// whose loss turns non-finite is marked failed with the reason and training stops there.
///
/// # Errors
/// I/O errors, a model that cannot be built, libtorch errors.
pub fn train_image_model(run: &Run, plan: &PlannedModel, task: &ImageTask) -> Result<Outcome, Error> {
    let Run { zoo, policy, device, cuda_graphs, layout, reporter, stop, .. } = *run;
    let dir = zoo.model(plan.id());
    let id = plan.id();
    let epochs = plan.config.train.epochs;
    let steps_per_epoch = task.steps_per_epoch(plan.config.train.batch_size);
    let removed = dir.remove_partial_writes()?;
    if removed > 0 {
        tracing::info!(model = %id, removed, "removed partial writes of an interrupted run");
    }
    let mut trainer =
        ImageTrainer::new(&plan.config, task, device)?.with_cuda_graphs(cuda_graphs).with_layout(layout);
    let mut records;
    let start = match newest_intact_checkpoint(&dir)? {
        Some(checkpoint) => {
            trainer.restore(&checkpoint)?;
            let epoch = checkpoint.state.epoch;
            records = dir.read_results()?.into_iter().filter(|r| r.epoch <= epoch).collect::<Vec<_>>();
            // A crash between a diverged epoch's checkpoint and its `failed` status: it stays failed.
            if let Some(last) =
                records.last().filter(|r| !(r.train_loss.is_finite() && r.test_loss.is_finite()))
            {
                let message = format!("loss became non-finite at epoch {}", last.epoch);
                return finish(&dir, plan, reporter, last.epoch, Some(message));
            }
            tracing::info!(model = %id, epoch, "resuming from checkpoint");
            epoch
        }
        None => {
            dir.write_params(&plan.config)?;
            tracing::info!(model = %id, parameters = trainer.model.parameter_count(), channels_last = trainer.trains_channels_last(), "starting from initialization");
            // Epoch 0, as the original: the untrained model on the augmented training set and on
            // the test set, both in eval mode.
            let train =
                trainer.evaluate(&task.train_images, &task.train_labels, &task.train_transform, Some(0));
            records = Vec::new();
            let failed = record(&dir, &mut records, &trainer, task, 0, train, 0.0)?;
            checkpoint(&dir, &trainer, 0)?;
            if let Some(message) = failed {
                return finish(&dir, plan, reporter, 0, Some(message));
            }
            0
        }
    };
    dir.write_status(&ModelStatus { state: ModelState::Running, epoch: Some(start), message: None })?;
    reporter.on_population_start(1, u64::from(start) * steps_per_epoch);

    for epoch in start + 1..=epochs {
        let mut on_step = || reporter.on_model_steps(1);
        let Some(train) = trainer.train_epoch(task, epoch, stop, &mut on_step)? else {
            return Ok(Outcome::Interrupted);
        };
        let lr = trainer.last_lr();
        let failed = record(&dir, &mut records, &trainer, task, epoch, train, lr)?;
        if failed.is_some() || policy.keeps(epoch, epochs) {
            checkpoint(&dir, &trainer, epoch)?;
        }
        if failed.is_some() {
            return finish(&dir, plan, reporter, epoch, failed);
        }
        dir.write_status(&ModelStatus { state: ModelState::Running, epoch: Some(epoch), message: None })?;
    }
    finish(&dir, plan, reporter, epochs, None)
}

fn finish(
    dir: &ModelDir,
    plan: &PlannedModel,
    reporter: &dyn Reporter,
    epoch: u32,
    failed: Option<String>,
) -> Result<Outcome, Error> {
    let state = if failed.is_some() { ModelState::Failed } else { ModelState::Done };
    dir.write_status(&ModelStatus { state, epoch: Some(epoch), message: failed })?;
    reporter.on_model_done(plan.id(), state);
    Ok(Outcome::Finished)
}

/// Evaluate on the test set, append the epoch's line to result.json; the failure message if a
/// number is not finite.
fn record(
    dir: &ModelDir,
    records: &mut Vec<EpochRecord>,
    trainer: &ImageTrainer,
    task: &ImageTask,
    epoch: u32,
    train: EpochStats,
    lr: f64,
) -> Result<Option<String>, Error> {
    let test = trainer.evaluate(&task.test_images, &task.test_labels, &task.eval_transform, None);
    let mut extra = BTreeMap::new();
    extra.insert("train_acc".to_string(), serde_json::json!(train.accuracy));
    extra.insert("test_acc".to_string(), serde_json::json!(test.accuracy));
    if epoch > 0 {
        extra.insert("lr".to_string(), serde_json::json!(lr));
    }
    let record = EpochRecord {
        epoch,
        train_loss: train.loss,
        test_loss: test.loss,
        test_error: 1.0 - test.accuracy,
        step: trainer.steps(),
        extra,
    };
    let id = dir.id.as_str();
    tracing::info!(
        model = id,
        epoch,
        train_loss = record.train_loss,
        train_acc = train.accuracy,
        test_loss = record.test_loss,
        test_acc = test.accuracy,
        "epoch"
    );
    let failed = (!(record.train_loss.is_finite() && record.test_loss.is_finite()))
        .then(|| format!("loss became non-finite at epoch {epoch}"));
    if let Some(message) = &failed {
        tracing::warn!(model = id, "{message}");
    }
    records.push(record);
    dir.write_results(records)?;
    Ok(failed)
}

fn checkpoint(dir: &ModelDir, trainer: &ImageTrainer, epoch: u32) -> Result<(), Error> {
    let (model, optimizer) = trainer.checkpoint_tensors();
    let state = CheckpointState { epoch, step: trainer.steps(), rng: BTreeMap::new() };
    Checkpoint::write(&dir.path, &model, &optimizer, &state)?;
    Ok(())
}

/// The newest checkpoint that verifies; damaged ones are reported and skipped.
fn newest_intact_checkpoint(dir: &ModelDir) -> Result<Option<LoadedCheckpoint>, Error> {
    let mut list = Checkpoint::list(&dir.path)?;
    list.sort_by_key(|c| c.epoch);
    while let Some(c) = list.pop() {
        match c.load() {
            Ok(loaded) => return Ok(Some(loaded)),
            Err(e) => tracing::warn!(model = %dir.id, "damaged checkpoint, falling back: {e}"),
        }
    }
    Ok(None)
}
