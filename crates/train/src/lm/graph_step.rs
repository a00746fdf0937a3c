//! A GPT-2's whole training step — forward under bf16 autocast, cross-entropy, backward,
//! gradient clipping, fused AdamW — captured once as a CUDA graph and replayed for every later
//! step: one launch instead of thousands of operator dispatches, which bound a step whose kernels
//! are short (small widths, small batches; the host's dispatch time per step is about the same
//! at any width). As for image zoos (`classify::graph_step`):
//! - fixed addresses: each step's windows are copied into static input and target buffers;
//! - the learning rate lives in AdamW's device tensor and the step count on the device
//!   ([`super::adamw::AdamW::prepare_fused_step`] writes the rate before each replay);
//! - gradients come out of `run_backward` as the graph's own tensors (no `.grad` to zero);
//! - one eager step first (cuBLAS handles, workspaces, autocast's first casts), then the capture;
//! - only when the batch is one forward pass (`train.micro_batch` unset or equal to the batch):
//!   gradient accumulation stays eager.

use pz_device::CudaGraph;
use tch::{Device, Kind, Tensor};

use super::data::Windows;
use super::trainer::LmTrainer;
use crate::Error;

/// Where a GPT-2 trainer stands with its CUDA graph.
pub(super) type GraphState = crate::graph_state::GraphState<CapturedLmStep>;

impl crate::graph_state::GraphState<CapturedLmStep> {
    /// The state of a new trainer on `device` whose batch is `micro_batches` forward passes.
    pub(super) fn initial(device: Device, micro_batches: usize, on: bool) -> Self {
        if on && micro_batches == 1 && device.is_cuda() && pz_device::cuda_graphs_available() {
            Self::WarmUp
        } else {
            Self::Off
        }
    }
}

/// A captured training step and the device tensors it reads and writes.
pub(super) struct CapturedLmStep {
    graph: CudaGraph,
    inputs: Tensor,
    targets: Tensor,
    /// The step's mean loss, written by every replay.
    loss: Tensor,
    /// The graph's gradient tensors: kept alive, since the replays write them.
    _grads: Vec<Tensor>,
}

impl CapturedLmStep {
    /// Capture the trainer's step on windows shaped like `windows` (their values are not used:
    /// a capture records kernels without running them). The learning rate must already be in
    /// AdamW's device tensor.
    ///
    /// # Errors
    /// If the graph cannot be made (no CUDA shim, the default stream, an operation that cannot
    /// be captured) or the optimizer refuses the tensors.
    pub(super) fn capture(trainer: &mut LmTrainer, windows: &Windows) -> Result<Self, Error> {
        let Device::Cuda(index) = windows.inputs.device() else {
            return Err(Error::Device("CUDA graphs need a CUDA device".into()));
        };
        // Buffers the graph reads are made before the capture, outside its memory pool; the
        // eager steps' `.grad` tensors are released (the graph has its own).
        let (inputs, targets) = pz_device::outside_captures(|| {
            pz_device::clear_grads(&trainer.params).map_err(super::trainer::step_error)?;
            Ok::<_, Error>((windows.inputs.copy(), windows.targets.copy()))
        })?;
        let mut outcome: Option<Result<(Tensor, Vec<Tensor>), Error>> = None;
        let graph = CudaGraph::capture(index, || {
            outcome = Some(trainer.graph_body(&inputs, &targets));
        })
        .map_err(|e| Error::Device(e.to_string()))?;
        let (loss, grads) = outcome.expect("the capture ran its closure")?;
        Ok(Self { graph, inputs, targets, loss, _grads: grads })
    }

    /// One step on `windows` (copied into the graph's buffers); the step's mean loss (0-dim
    /// float32 on the device, a copy the next replay leaves alone).
    ///
    /// # Errors
    /// If libtorch refuses the replay.
    pub(super) fn replay(&self, windows: &Windows) -> Result<Tensor, Error> {
        self.inputs.shallow_clone().copy_(&windows.inputs);
        self.targets.shallow_clone().copy_(&windows.targets);
        self.graph.replay().map_err(|e| Error::Device(e.to_string()))?;
        Ok(self.loss.to_kind(Kind::Float).copy())
    }
}
