//! The resumable loop of one image model: the same on-disk contract as the PINN populations
//! (results first, then the checkpoint; on resume, results cut back to the checkpoint).

use std::collections::BTreeMap;

use pz_spec::PlannedModel;
use pz_store::{
    Checkpoint, CheckpointLayout, CheckpointState, Dtype, EpochRecord, ModelDir, ModelState, ModelStatus,
    TensorLayout,
};
use tch::Kind;

use super::{EpochStats, ImageTask, ImageTrainer};
use crate::resume::{resume_point, Resume};
use crate::{Error, Outcome, Reporter, Run};

/// Train one image model to its last epoch, resuming from its newest intact checkpoint that its
/// results reach (one that fails a check is skipped with a warning, as for PINNs). A model
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
    let expected = checkpoint_layout(&trainer);
    let start = match resume_point(&[&dir], std::slice::from_ref(&expected))? {
        Some(Resume { epoch, checkpoints, records: mut lines }) => {
            trainer.restore(&checkpoints[0])?;
            records = lines.swap_remove(0);
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

/// What the checkpoints of `trainer`'s model must hold: its state dict exactly; the optimizer's
/// step count, and a momentum buffer of its parameter's dtype and shape for any parameter that
/// has one (buffers are made by the first update: epoch 0 has none).
fn checkpoint_layout(trainer: &ImageTrainer) -> CheckpointLayout {
    let (model, optimizer) = trainer.checkpoint_tensors();
    let mut layout = CheckpointLayout::exactly(&model, &optimizer);
    layout.optimizer.optional = trainer
        .params
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let dtype = match p.kind() {
                Kind::Float => Dtype::F32,
                Kind::Double => Dtype::F64,
                _ => return None,
            };
            #[allow(clippy::cast_sign_loss)]
            let shape = p.size().iter().map(|&d| d as usize).collect();
            // The names `Sgd::state_tensors` gives its buffers (vision/sgd.rs).
            Some(TensorLayout { name: format!("momentum_buffer.{i}"), dtype, shape })
        })
        .collect();
    layout
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use pz_data::vision::{DatasetName, ImageSet, VisionData};
    use pz_spec::{Plan, ProblemConfig, ZooSpec};
    use pz_store::{Checkpoint, ZooDir};
    use tch::Device;

    use super::*;
    use crate::NoReporter;

    /// 48 random 1×12×12 images of 10 classes: a real ResNet-18 at width 2, tiny.
    fn data() -> VisionData {
        let mut x: u32 = 2024;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        let mut set = |n: usize| ImageSet {
            #[allow(clippy::cast_possible_truncation)]
            images: (0..n * 144).map(|_| next() as u8).collect(),
            labels: (0..n).map(|_| i64::from(next() % 10)).collect(),
            n,
            channels: 1,
            height: 12,
            width: 12,
        };
        VisionData { name: DatasetName::FashionMnist, classes: 10, train: set(48), test: set(16) }
    }

    #[test]
    fn issue_17_image_checkpoints_fit_their_layout_and_a_misfit_one_is_skipped() {
        let overrides: Vec<String> = [
            "grid.load.values=[2]",
            "grid.temperature.values=[32]",
            "train.epochs=2",
            "problem.train_subset=0",
            "problem.test_subset=0",
            "checkpoint.every=1",
        ]
        .map(String::from)
        .to_vec();
        let spec =
            ZooSpec::parse(include_str!("../../../../examples/fashion-resnet18-small.toml"), "t", &overrides)
                .unwrap();
        let plan = Plan::new(&spec).unwrap();
        let m = &plan.models[0];
        let ProblemConfig::Image(image) = &m.config.problem else { panic!("an image zoo") };
        let task = ImageTask::new(&data(), image, Device::Cpu);
        let tmp = tempfile::tempdir().unwrap();
        let zoo = ZooDir::create_or_open(tmp.path(), &spec).unwrap();
        let stop = AtomicBool::new(false);
        let run = Run {
            zoo: &zoo,
            policy: &spec.checkpoint,
            device: Device::Cpu,
            cuda_graphs: false,
            fused_kernels: false,
            layout: pz_spec::Layout::Auto,
            reporter: &NoReporter,
            stop: &stop,
        };
        train_image_model(&run, m, &task).unwrap();
        let dir = zoo.model(m.id());
        // Every checkpoint, with momentum buffers (epochs 1, 2) or without (epoch 0), fits the
        // layout of a freshly built model.
        let fresh = ImageTrainer::new(&m.config, &task, Device::Cpu).unwrap();
        let expected = checkpoint_layout(&fresh);
        let list = Checkpoint::list(&dir.path).unwrap();
        assert_eq!(list.len(), 3);
        for c in &list {
            c.load_as(&expected).unwrap();
        }
        assert!(list[2].load().unwrap().optimizer.len() > 1, "momentum buffers were saved");
        let last = std::fs::read(list[2].model_file()).unwrap();

        // The last checkpoint rewritten with a manifest that matches but a tensor of another
        // shape: training again falls back to epoch 1 and rewrites it as it was.
        let mut loaded = list[2].load().unwrap();
        loaded.model[0].shape.push(1);
        Checkpoint::write(&dir.path, &loaded.model, &loaded.optimizer, &loaded.state).unwrap();
        assert!(list[2].load_as(&expected).unwrap_err().to_string().contains("has shape"));
        train_image_model(&run, m, &task).unwrap();
        assert!(std::fs::read(list[2].model_file()).unwrap() == last, "epoch 2 retrained identically");
    }
}
