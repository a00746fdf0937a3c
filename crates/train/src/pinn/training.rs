//! The PINN family behind the [`Population`] seam: K stacked MLPs on the convection problem,
//! full-batch Adam steps, evaluated on the exact solution's grid.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use pz_device::outside_captures;
use pz_store::{CheckpointState, EpochRecord, LoadedCheckpoint, NamedTensor};
use tch::Tensor;

use super::population::to_vec;
use crate::population::{MemberEpoch, Population};
use crate::{Error, PinnPopulation};

/// Per-member losses as epoch numbers without extra values.
fn epochs_of(losses: Vec<f64>) -> Vec<MemberEpoch> {
    losses.into_iter().map(|train_loss| MemberEpoch { train_loss, extra: BTreeMap::new() }).collect()
}

/// Steps per epoch of the population (every member shares its recipe).
pub(crate) struct PinnTraining {
    pub(crate) pop: PinnPopulation,
    pub(crate) steps_per_epoch: u32,
}

impl Population for PinnTraining {
    fn members(&self) -> usize {
        self.pop.params()[0].size()[0].try_into().expect("K >= 0")
    }

    fn steps_per_epoch(&self) -> u64 {
        u64::from(self.steps_per_epoch)
    }

    fn steps(&self) -> u64 {
        self.pop.step_count()
    }

    fn start_background_work(&self) -> Option<std::thread::JoinHandle<()>> {
        self.pop.compile_kernels_in_background()
    }

    fn export(&self, k: usize) -> (Vec<NamedTensor>, Vec<NamedTensor>) {
        outside_captures(|| self.pop.export(k))
    }

    fn restore(&mut self, k: usize, checkpoint: &LoadedCheckpoint, model: &str) -> Result<(), Error> {
        outside_captures(|| self.pop.import(k, checkpoint, model))
    }

    fn state(&self, epoch: u32) -> CheckpointState {
        self.pop.state(epoch)
    }

    fn initial(&mut self) -> Vec<MemberEpoch> {
        epochs_of(outside_captures(|| to_vec(&self.pop.loss())))
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
            let losses = self.pop.step();
            sum = Some(match sum {
                None => losses,
                Some(s) => outside_captures(|| s + losses),
            });
        }
        // Reading the losses synchronizes the device, so a clock around this call covers the
        // steps' kernels.
        let sum = sum.expect("steps_per_epoch >= 1");
        let mean = outside_captures(|| to_vec(&(sum / f64::from(self.steps_per_epoch))));
        on_steps(self.members() as u64 * self.steps_per_epoch());
        Ok(Some(epochs_of(mean)))
    }

    fn records(&self, epoch: u32, train: Vec<MemberEpoch>) -> Vec<EpochRecord> {
        let eval = outside_captures(|| self.pop.evaluate());
        let step = self.pop.step_count();
        train
            .into_iter()
            .enumerate()
            .map(|(k, t)| EpochRecord {
                epoch,
                train_loss: t.train_loss,
                test_loss: eval.test_loss[k],
                test_error: eval.test_error[k],
                step,
                extra: t.extra,
            })
            .collect()
    }
}
