//! The modular-arithmetic population behind the [`Population`] seam: K stacked models, full-batch
//! AdamW steps on each member's training pairs, evaluated every epoch (= `train.steps_per_epoch`
//! steps, the logging interval) on its training and its validation pairs.
//!
//! `result.json` per epoch: `train_loss` is the mean of the epoch's full-batch losses (each
//! taken before its step; epoch 0: the untrained model's); `test_loss` and `test_error` are the
//! validation cross-entropy and 1 − validation accuracy at the epoch's end; `extra` holds
//! `train_acc`, `val_acc` and `val_loss` at the epoch's end, the numbers the learning-phase
//! labels read (pz_phases::learning), at `step`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use pz_spec::{PlannedModel, ResolvedModel};
use pz_store::{CheckpointState, EpochRecord, LoadedCheckpoint, NamedTensor};
use tch::{Device, Kind, Tensor};

use super::adamw::GroupedAdamW;
use super::net::{modarith, ModArithNet};
use crate::population::{MemberEpoch, Population};
use crate::{run_population, Error, Outcome, Run};

/// K models in lockstep with their optimizer.
#[derive(Debug)]
pub(crate) struct ModArithTraining {
    pub(crate) net: ModArithNet,
    pub(crate) adam: GroupedAdamW,
    steps_per_epoch: u64,
}

impl ModArithTraining {
    /// Fresh members (every member shares shapes and recipe but its seed, learning rates,
    /// weight decays and train fraction: `group_populations` guarantees it).
    pub(crate) fn new(members: &[&ResolvedModel], device: Device) -> Self {
        let net = ModArithNet::new(members, device);
        let t = &members[0].train;
        let per = |f: &dyn Fn(&ResolvedModel) -> f64| members.iter().map(|&m| f(m)).collect::<Vec<_>>();
        let adam = GroupedAdamW::new(
            &net.params(),
            net.representation.len(),
            [per(&|m| m.train.lr), per(&|m| modarith(m).decoder_lr)],
            [per(&|m| m.train.weight_decay), per(&|m| modarith(m).decoder_weight_decay)],
            t.adam_betas,
            t.adam_eps,
        );
        Self { net, adam, steps_per_epoch: u64::from(t.steps_per_epoch) }
    }

    /// One full-batch AdamW step of every member; the members' training losses before it, `[K]`.
    pub(crate) fn step(&mut self) -> Tensor {
        let params = self.net.params();
        let losses = self.net.losses_at(&params, false);
        let grads = Tensor::run_backward(&[losses.sum(losses.kind())], &params, false, false);
        self.adam.step(&params, &grads);
        losses.detach()
    }
}

/// A `[K]` tensor as host floats.
fn to_vec(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double).to_device(Device::Cpu)).expect("1-D tensor")
}

fn epochs_of(losses: Vec<f64>) -> Vec<MemberEpoch> {
    losses.into_iter().map(|train_loss| MemberEpoch { train_loss, extra: BTreeMap::new() }).collect()
}

impl Population for ModArithTraining {
    fn members(&self) -> usize {
        self.net.decoder.len()
    }

    fn steps_per_epoch(&self) -> u64 {
        self.steps_per_epoch
    }

    fn steps(&self) -> u64 {
        self.adam.step
    }

    fn export(&self, k: usize) -> (Vec<NamedTensor>, Vec<NamedTensor>) {
        let model = self.net.export_member(&self.net.params(), k, "");
        let mut optimizer = self.net.export_member(&self.adam.exp_avg, k, "exp_avg.");
        optimizer.extend(self.net.export_member(&self.adam.exp_avg_sq, k, "exp_avg_sq."));
        (model, optimizer)
    }

    fn restore(&mut self, k: usize, checkpoint: &LoadedCheckpoint, model: &str) -> Result<(), Error> {
        let mut params = self.net.params();
        self.net.import_member(&mut params, k, "", &checkpoint.model, model)?;
        // `exp_avg.` is not a prefix of `exp_avg_sq.`: the dot keeps the two sets apart.
        let mut m: Vec<Tensor> = self.adam.exp_avg.iter().map(Tensor::shallow_clone).collect();
        self.net.import_member(&mut m, k, "exp_avg.", &checkpoint.optimizer, model)?;
        let mut v: Vec<Tensor> = self.adam.exp_avg_sq.iter().map(Tensor::shallow_clone).collect();
        self.net.import_member(&mut v, k, "exp_avg_sq.", &checkpoint.optimizer, model)?;
        self.adam.step = checkpoint.state.step;
        Ok(())
    }

    /// Full-batch steps draw no random numbers: no stream positions to keep.
    fn state(&self, epoch: u32) -> CheckpointState {
        CheckpointState { epoch, step: self.adam.step, rng: BTreeMap::new() }
    }

    fn initial(&mut self) -> Vec<MemberEpoch> {
        let [train, _] = self.net.evaluate();
        epochs_of(to_vec(&train.loss))
    }

    fn train_epoch(
        &mut self,
        _epoch: u32,
        stop: &AtomicBool,
        on_steps: &mut dyn FnMut(u64),
    ) -> Result<Option<Vec<MemberEpoch>>, Error> {
        let mut sum: Option<Tensor> = None;
        for _ in 0..self.steps_per_epoch {
            if stop.load(Ordering::Relaxed) {
                return Ok(None);
            }
            let losses = self.step();
            sum = Some(match sum {
                None => losses,
                Some(s) => s + losses,
            });
        }
        let sum = sum.expect("steps_per_epoch >= 1");
        #[allow(clippy::cast_precision_loss)]
        let mean = to_vec(&(sum / self.steps_per_epoch as f64));
        on_steps(self.members() as u64 * self.steps_per_epoch);
        Ok(Some(epochs_of(mean)))
    }

    fn records(&self, epoch: u32, train: Vec<MemberEpoch>) -> Vec<EpochRecord> {
        let [train_set, val_set] = self.net.evaluate();
        let (train_acc, val_acc) = (to_vec(&train_set.accuracy), to_vec(&val_set.accuracy));
        let val_loss = to_vec(&val_set.loss);
        train
            .into_iter()
            .enumerate()
            .map(|(k, t)| {
                let mut extra = t.extra;
                extra.insert("train_acc".into(), serde_json::json!(train_acc[k]));
                extra.insert("val_acc".into(), serde_json::json!(val_acc[k]));
                extra.insert("val_loss".into(), serde_json::json!(val_loss[k]));
                EpochRecord {
                    epoch,
                    train_loss: t.train_loss,
                    test_loss: val_loss[k],
                    test_error: 1.0 - val_acc[k],
                    step: self.adam.step,
                    extra,
                }
            })
            .collect()
    }

    fn describe(&self) -> String {
        self.net.decoder.describe(&self.net.representation[0])
    }
}

/// Train one modular-arithmetic population to its last epoch through the one loop.
///
/// # Errors
/// As [`run_population`].
pub(crate) fn train_population(run: &Run, plan: &[PlannedModel]) -> Result<Outcome, Error> {
    let configs: Vec<_> = plan.iter().map(|p| &p.config).collect();
    let mut pop = ModArithTraining::new(&configs, run.device);
    run_population(run, plan, &mut pop)
}
