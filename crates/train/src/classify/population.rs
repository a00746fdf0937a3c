//! The image-classifier family behind the [`Population`] seam: one model (its widths differ
//! from its neighbours', so models do not stack), SGD + OneCycle over the dataset on the device,
//! evaluated on the test set; `result.json` carries the original's accuracies.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;

use pz_store::{
    CheckpointLayout, CheckpointState, Dtype, EpochRecord, LoadedCheckpoint, NamedTensor, TensorLayout,
};
use tch::Kind;

use super::{EpochStats, ImageTask, ImageTrainer};
use crate::population::{MemberEpoch, Population};
use crate::Error;

/// One image model and the dataset it trains on.
pub(crate) struct ImageTraining<'a> {
    pub(crate) trainer: ImageTrainer,
    pub(crate) task: &'a ImageTask,
    pub(crate) batch_size: u32,
}

/// A training pass's numbers as a member's epoch: the loss, and `train_acc` as the original.
fn member_epoch(train: &EpochStats) -> Vec<MemberEpoch> {
    let extra = BTreeMap::from([("train_acc".to_string(), serde_json::json!(train.accuracy))]);
    vec![MemberEpoch { train_loss: train.loss, extra }]
}

impl Population for ImageTraining<'_> {
    fn members(&self) -> usize {
        1
    }

    fn steps_per_epoch(&self) -> u64 {
        self.task.steps_per_epoch(self.batch_size)
    }

    fn steps(&self) -> u64 {
        self.trainer.steps()
    }

    fn export(&self, _k: usize) -> (Vec<NamedTensor>, Vec<NamedTensor>) {
        self.trainer.checkpoint_tensors()
    }

    fn checkpoint_layout(&self, _k: usize) -> CheckpointLayout {
        checkpoint_layout(&self.trainer)
    }

    fn restore(&mut self, _k: usize, checkpoint: &LoadedCheckpoint, _model: &str) -> Result<(), Error> {
        self.trainer.restore(checkpoint)
    }

    fn state(&self, epoch: u32) -> CheckpointState {
        CheckpointState { epoch, step: self.trainer.steps(), rng: BTreeMap::new() }
    }

    fn initial(&mut self) -> Vec<MemberEpoch> {
        // As the original: the untrained model on the augmented training set, in eval mode.
        let t = self.task;
        member_epoch(&self.trainer.evaluate(&t.train_images, &t.train_labels, &t.train_transform, Some(0)))
    }

    fn train_epoch(
        &mut self,
        epoch: u32,
        stop: &AtomicBool,
        on_steps: &mut dyn FnMut(u64),
    ) -> Result<Option<Vec<MemberEpoch>>, Error> {
        let mut on_step = || on_steps(1);
        Ok(self.trainer.train_epoch(self.task, epoch, stop, &mut on_step)?.map(|train| member_epoch(&train)))
    }

    fn records(&self, epoch: u32, train: Vec<MemberEpoch>) -> Vec<EpochRecord> {
        let t = self.task;
        let test = self.trainer.evaluate(&t.test_images, &t.test_labels, &t.eval_transform, None);
        train
            .into_iter()
            .map(|m| {
                let mut extra = m.extra;
                extra.insert("test_acc".to_string(), serde_json::json!(test.accuracy));
                if epoch > 0 {
                    extra.insert("lr".to_string(), serde_json::json!(self.trainer.last_lr()));
                }
                EpochRecord {
                    epoch,
                    train_loss: m.train_loss,
                    test_loss: test.loss,
                    test_error: 1.0 - test.accuracy,
                    step: self.trainer.steps(),
                    extra,
                }
            })
            .collect()
    }

    fn describe(&self) -> String {
        format!(
            "parameters={} channels_last={}",
            self.trainer.model.parameter_count(),
            self.trainer.trains_channels_last()
        )
    }
}

/// What the checkpoints of `trainer`'s model must hold: its state dict exactly; the optimizer's
/// step count, and a momentum buffer of its parameter's dtype and shape for any parameter that
/// has one (buffers are made by the first update: epoch 0 has none).
pub(crate) fn checkpoint_layout(trainer: &ImageTrainer) -> CheckpointLayout {
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
