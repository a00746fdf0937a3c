//! The seam every zoo family implements: a population of K ≥ 1 models trained in lockstep.
//!
//! The one training loop ([`crate::train_population`]) drives any [`Population`]: it picks the
//! resume point, writes results before checkpoints, applies the checkpoint policy, marks members
//! whose numbers turn non-finite as failed, and reports progress. A family says only how its
//! members step, evaluate and travel to and from checkpoints. The PINN family is a population
//! of K stacked MLPs; an image model is a population of one. (Anchor: burn-train's `TrainStep`,
//! which a model implements and one generic `Learner` runs.)

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;

use pz_store::{CheckpointLayout, CheckpointState, EpochRecord, LoadedCheckpoint, NamedTensor};

use crate::Error;

/// One member's numbers from an epoch of training (or from the untrained model, epoch 0).
#[derive(Debug, Clone, PartialEq)]
pub struct MemberEpoch {
    /// The epoch's mean training loss.
    pub train_loss: f64,
    /// Further `result.json` values of the family (images: `train_acc`).
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// K models of one family trained in lockstep; member k is the k-th planned model given to the
/// family's constructor.
pub trait Population {
    /// The number of members K.
    fn members(&self) -> usize;

    /// Optimizer steps of one member per epoch.
    fn steps_per_epoch(&self) -> u64;

    /// Optimizer steps each member has taken.
    fn steps(&self) -> u64;

    /// Work to start before the first step (PINN: compiling its CUDA kernels on a thread of
    /// their own); the loop joins the handle on every way out.
    fn start_background_work(&self) -> Option<std::thread::JoinHandle<()>> {
        None
    }

    /// Member `k`'s parameters and optimizer state as checkpoint tensors (PyTorch names).
    fn export(&self, k: usize) -> (Vec<NamedTensor>, Vec<NamedTensor>);

    /// What member `k`'s checkpoints must hold (names, dtypes, shapes): by default exactly what
    /// it exports now.
    fn checkpoint_layout(&self, k: usize) -> CheckpointLayout {
        let (model, optimizer) = self.export(k);
        CheckpointLayout::exactly(&model, &optimizer)
    }

    /// Restore member `k` from its checkpoint (every member is restored at the same epoch).
    ///
    /// # Errors
    /// A tensor that does not fit.
    fn restore(&mut self, k: usize, checkpoint: &LoadedCheckpoint, model: &str) -> Result<(), Error>;

    /// What a checkpoint of the population at `epoch` records besides tensors.
    fn state(&self, epoch: u32) -> CheckpointState;

    /// The untrained members' training numbers: the first line of `result.json` (epoch 0).
    fn initial(&mut self) -> Vec<MemberEpoch>;

    /// One epoch (1-based) of steps of every member; `on_steps(n)` after every `n` model-steps
    /// taken (for progress). `None` when `stop` was raised: the epoch is incomplete and is
    /// redone from a checkpoint.
    ///
    /// # Errors
    /// libtorch or CUDA errors.
    fn train_epoch(
        &mut self,
        epoch: u32,
        stop: &AtomicBool,
        on_steps: &mut dyn FnMut(u64),
    ) -> Result<Option<Vec<MemberEpoch>>, Error>;

    /// Evaluate every member and make its `result.json` line for `epoch` from its training
    /// numbers `train`.
    fn records(&self, epoch: u32, train: Vec<MemberEpoch>) -> Vec<EpochRecord>;

    /// Fields for the log line of a member starting from initialization.
    fn describe(&self) -> String {
        String::new()
    }
}
