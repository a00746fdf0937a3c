//! A model's whole training step — forward, loss, backward, SGD — captured once as a CUDA graph
//! and replayed for every later full batch: one launch instead of hundreds, which is what bounds
//! small cells (../shared/PERF-NOTES.md: ~2.9× for one model, ~7.7× for eight sharing a GPU).
//!
//! What the graph needs, and how the trainer keeps it:
//! - fixed addresses and shapes: each batch is copied into static input and label buffers, and
//!   only full batches replay (the epoch's last partial batch runs eagerly, so no image is
//!   dropped and the recipe stays the original's);
//! - values that change per step live in device tensors: the learning rate and momentum of
//!   OneCycle are written into 0-dim tensors before each replay (a number would be frozen at
//!   capture), and the SGD step reads them ([`pz_device::sgd_step`]);
//! - state the graph updates in place is the trainer's own: parameters, BatchNorm statistics,
//!   momentum buffers (shared with the optimizer's state, so checkpoints see them) and the
//!   epoch's loss and accuracy sums;
//! - augmentation, shuffling and the batch gather run eagerly before the copy: they take their
//!   random draws on the host, per (seed, epoch, batch), which a replay could not redraw;
//! - one eager step first (the trainer's warm-up) so that cuBLAS/cuDNN handles and workspaces
//!   exist before capture, as PyTorch's CUDA-graph notes ask.

use pz_device::CudaGraph;
use tch::{Device, Kind, Tensor};

use super::ImageTrainer;
use crate::Error;

/// Multiply-adds per training step from which a model never captures: its GPU time per step
/// (≈ 11 ms at 10^12 on an H100, TF32 convolutions) already exceeds the host time of an eager
/// step, so there is no launch overhead for a graph to remove, while its capture costs up to a
/// second (a width-256 ResNet-18 at batch 1024 allocates ~16 GiB anew) and its private memory
/// pool holds that memory twice. Measured on the H100 zoo grid: width 256 at batches 256 and 512
/// ran 6–9 % slower with graphs. Set with a margin of 4 over the break-even.
pub(super) const GRAPH_MAX_MULTIPLY_ADDS: f64 = 4e12;

/// Where an image trainer stands with its CUDA graph.
pub(super) type GraphState = crate::graph_state::GraphState<CapturedStep>;

impl crate::graph_state::GraphState<CapturedStep> {
    /// The state a new trainer starts in on `device`, for a step of `step_multiply_adds`.
    pub(super) fn initial(device: Device, step_multiply_adds: f64) -> Self {
        if step_multiply_adds < GRAPH_MAX_MULTIPLY_ADDS
            && device.is_cuda()
            && pz_device::cuda_graphs_available()
        {
            Self::WarmUp
        } else {
            Self::Off
        }
    }
}

/// A captured training step and the device tensors it reads.
pub(super) struct CapturedStep {
    graph: CudaGraph,
    inputs: Tensor,
    labels: Tensor,
    lr: Tensor,
    momentum: Tensor,
}

impl CapturedStep {
    /// Capture the trainer's step on a batch shaped like `inputs` (its values are not used: the
    /// capture records kernels without running them).
    ///
    /// # Errors
    /// If the graph cannot be made (no CUDA shim, the default stream, an operation that cannot
    /// be captured) or the SGD step is refused.
    pub(super) fn capture(
        trainer: &mut ImageTrainer,
        inputs: &Tensor,
        labels: &Tensor,
    ) -> Result<Self, Error> {
        let device = inputs.device();
        let Device::Cuda(index) = device else {
            return Err(Error::Device("CUDA graphs need a CUDA device".into()));
        };
        // Everything the graph reads or writes is allocated before capture, outside its pool.
        let (static_inputs, static_labels, lr, momentum, buffers) = pz_device::outside_captures(|| {
            let kind = trainer.params.first().map_or(Kind::Float, Tensor::kind);
            (
                inputs.copy(),
                labels.copy(),
                Tensor::zeros([], (kind, device)),
                Tensor::zeros([], (kind, device)),
                trainer.sgd.buffers_in_place(&trainer.params),
            )
        });
        let weight_decay = trainer.sgd.weight_decay;
        let mut refused = None;
        let graph = CudaGraph::capture(index, || {
            let (grads, loss, correct) = trainer.batch_gradients(&static_inputs, &static_labels);
            let _ = trainer.loss_sum.g_add_(&loss);
            let _ = trainer.correct.g_add_(&correct);
            refused = tch::no_grad(|| {
                pz_device::sgd_step(&trainer.params, &grads, &buffers, weight_decay, &momentum, &lr).err()
            });
        })
        .map_err(|e| Error::Device(e.to_string()))?;
        if let Some(e) = refused {
            return Err(Error::Device(e.to_string()));
        }
        Ok(Self { graph, inputs: static_inputs, labels: static_labels, lr, momentum })
    }

    /// One step on a full batch with this step's learning rate and momentum.
    ///
    /// # Errors
    /// If libtorch refuses the replay.
    pub(super) fn replay(
        &self,
        inputs: &Tensor,
        labels: &Tensor,
        lr: f64,
        momentum: f64,
    ) -> Result<(), Error> {
        self.inputs.shallow_clone().copy_(inputs);
        self.labels.shallow_clone().copy_(labels);
        let _ = self.lr.shallow_clone().fill_(lr);
        let _ = self.momentum.shallow_clone().fill_(momentum);
        self.graph.replay().map_err(|e| Error::Device(e.to_string()))
    }
}

/// The trainer's side of its graph: capture once, then replay or say the step runs eagerly.
impl ImageTrainer {
    /// Captures the step on a batch shaped like `inputs`; if that fails, graphs stay off for
    /// this model, with a warning.
    pub(super) fn capture(&mut self, inputs: &Tensor, labels: &Tensor) {
        match CapturedStep::capture(self, inputs, labels) {
            Ok(step) => self.graph = GraphState::Ready(Box::new(step)),
            Err(e) => {
                tracing::warn!("CUDA graph capture failed, this model trains eagerly: {e}");
                self.graph = GraphState::Off;
            }
        }
    }

    /// Replays this model's captured step on a full batch. False if the step must run eagerly
    /// instead: graphs off or unavailable (CPU), or the warm-up step (after which the next full
    /// batch is captured, if enough steps are left for the capture to pay).
    pub(super) fn replay(
        &mut self,
        inputs: &Tensor,
        labels: &Tensor,
        lr: f64,
        momentum: f64,
    ) -> Result<bool, Error> {
        match &self.graph {
            GraphState::Off | GraphState::Capture => Ok(false),
            GraphState::WarmUp => {
                let left_after_this = self.planned_steps.saturating_sub(self.sgd.steps() + 1);
                self.graph = GraphState::after_warm_up(left_after_this);
                Ok(false)
            }
            GraphState::Ready(step) => {
                step.replay(inputs, labels, lr, momentum)?;
                Ok(true)
            }
        }
    }
}
