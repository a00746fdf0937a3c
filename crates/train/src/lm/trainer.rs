//! One GPT-2 and its nanoGPT recipe: AdamW with decay on matrices only, warm-up then cosine
//! decay, gradient clipping, random windows per (seed, step), gradient accumulation over
//! micro-batches, bf16 autocast on CUDA; evaluation on fixed windows; the checkpoint in and out.
//!
//! On CUDA the step is PyTorch's default fast path (`zero_grad(set_to_none=True)`,
//! `clip_grad_norm_(foreach=True)`, `AdamW(fused=True)`): a handful of launches for the whole
//! parameter list instead of a dozen per tensor (most of a small model's step), and about a
//! quarter of the per-tensor optimizer's memory traffic. Nothing in a step waits for the device:
//! the loss stays there (read once an epoch) and the windows are copied from pinned memory.
//! The CPU keeps per-tensor operations, whose results the tests pin to PyTorch's.

use pz_data::text::TokenFile;
use pz_models::gpt2::Gpt2;
use pz_models::{tensor_from_named, tensor_to_named};
use pz_spec::{ModelConfig, Precision, ResolvedModel};
use pz_store::{LoadedCheckpoint, NamedTensor};
use tch::{Device, Kind, Tensor};

use super::adamw::{clip_grad_norm, AdamW};
use super::data::{loss_sum_and_correct, training_windows, windows_at_once, Windows};
use super::graph_step::{CapturedLmStep, GraphState};
use super::schedule::LrSchedule;
use super::shadows::{self, Shadows};
use crate::Error;

/// A GPT-2 in training.
pub(crate) struct LmTrainer {
    pub(crate) model: Gpt2,
    /// The model's parameters in state-dict order (the tied embedding once).
    pub(super) params: Vec<Tensor>,
    opt: AdamW,
    schedule: LrSchedule,
    seed: u64,
    /// Windows per step, windows per forward pass, tokens per window.
    batch: usize,
    micro: usize,
    context: usize,
    grad_clip: f64,
    bf16: bool,
    /// The step's fast path (CUDA): gradients dropped, clipped and applied by multi-tensor and
    /// fused kernels.
    fused: bool,
    /// The step as a CUDA graph (see [`super::graph_step`]).
    graph: GraphState,
    /// bf16 copies of the matmul operands (see [`super::shadows`]; `PHASEZOO_BF16_SHADOWS=1`).
    shadows: Option<Shadows>,
    /// Steps the schedule runs in all.
    total_steps: u64,
}

/// A refused gradient or optimizer kernel as the trainer's error (a bug: the tensors are the
/// model's own).
pub(super) fn step_error(e: pz_device::StepError) -> Error {
    Error::Config(format!("optimizer step: {e}"))
}

/// The network shape of a resolved GPT-2 model.
///
/// # Errors
/// A config that is not a GPT-2 (validation makes it one).
pub(crate) fn net_config(config: &ResolvedModel) -> Result<pz_models::gpt2::Gpt2Config, Error> {
    let ModelConfig::Gpt2(g) = &config.model else {
        return Err(Error::Config(format!("model {} is not a GPT-2", config.model_id)));
    };
    Ok(pz_models::gpt2::Gpt2Config {
        vocab_size: i64::from(g.vocab_size),
        context: i64::from(g.context),
        model_dim: i64::from(g.model_dim),
        depth: i64::from(g.depth),
        heads: i64::from(g.heads()),
    })
}

impl LmTrainer {
    /// The model initialized from its seed, with fresh AdamW state, to train `total_steps`
    /// steps (the schedule's length).
    ///
    /// # Errors
    /// A config that does not build.
    pub(crate) fn new(config: &ResolvedModel, total_steps: u64, device: Device) -> Result<Self, Error> {
        let shape = net_config(config)?;
        let model = Gpt2::new(&shape, device, config.seed)
            .map_err(|e| Error::Config(format!("model {}: {e}", config.model_id)))?;
        let t = &config.train;
        let params = model.parameters();
        // nanoGPT's groups: every tensor of two or more dims decays (Gpt2::decayed_parameters).
        let decays = params.iter().map(|p| p.dim() >= 2).collect();
        let mut opt =
            AdamW::new(&params, model.parameter_names(), decays, t.adam_betas, t.adam_eps, t.weight_decay);
        let fused = device.is_cuda();
        if fused {
            opt.use_fused_kernel(device);
        }
        if !device.is_cuda() && t.precision != Precision::Float32 {
            tracing::warn!(model = %config.model_id, "train.precision applies on CUDA only; this CPU run is float32");
        }
        let batch = t.batch_size as usize;
        let micro = if t.micro_batch == 0 { batch } else { (t.micro_batch as usize).min(batch) };
        let bf16 = device.is_cuda() && t.precision == Precision::Bf16Autocast;
        // One forward pass a step: a copy's gradient must not accumulate over micro-batches in bf16.
        let shadows = (bf16 && fused && micro == batch && shadows::switched_on())
            .then(|| Shadows::new(&model, &params));
        Ok(Self {
            params,
            opt,
            schedule: LrSchedule::new(t, total_steps),
            seed: config.seed,
            batch,
            micro,
            context: usize::try_from(shape.context).expect("positive"),
            grad_clip: t.grad_clip,
            bf16,
            fused,
            shadows,
            // Off until `with_cuda_graphs` turns it on (the zoo's `run.graph`).
            graph: GraphState::Off,
            total_steps,
            model,
        })
    }

    /// Whether every step after the first may replay a captured CUDA graph (CUDA, one forward
    /// pass a step; `run.graph`, on by default). Takes effect before the first step.
    #[must_use]
    pub(crate) fn with_cuda_graphs(mut self, on: bool) -> Self {
        let micro_batches = self.batch.div_ceil(self.micro);
        self.graph = GraphState::initial(self.model.device(), micro_batches, on && self.fused);
        self
    }

    /// Whether steps now replay a captured CUDA graph.
    #[cfg(test)]
    pub(crate) fn replays_cuda_graph(&self) -> bool {
        matches!(self.graph, GraphState::Ready(_))
    }

    /// One step as the captured graph runs it ([`LmTrainer::graph_body`] between writing the
    /// rate and counting the step), launched eagerly: what tests can check on the CPU.
    #[cfg(test)]
    pub(crate) fn graph_body_step(&mut self, train: &TokenFile) -> Tensor {
        let step = self.steps();
        let windows =
            training_windows(train, self.seed, step, self.batch, self.context, self.model.device()).unwrap();
        self.opt.prepare_fused_step(self.schedule.lr_at(step));
        let (loss, _grads) = self.graph_body(&windows.inputs, &windows.targets).unwrap();
        self.opt.count_step();
        loss
    }

    /// Take the CUDA fast path on this device whatever it is (tests run it on the CPU).
    #[cfg(test)]
    pub(crate) fn use_fused_step(&mut self) {
        self.fused = true;
        self.opt.use_fused_kernel(self.model.device());
    }

    /// Train under bf16 autocast on this device whatever it is (the CPU's autocast in tests).
    #[cfg(test)]
    pub(crate) fn use_bf16_autocast(&mut self) {
        self.bf16 = true;
    }

    /// Keep bf16 copies of the matmul operands whatever the switch says (tests).
    #[cfg(test)]
    pub(crate) fn use_shadows(&mut self) {
        // As `new` only keeps them: bf16 copies beside float32 activations fail in the first
        // matmul ("mat1 and mat2 must have the same dtype").
        assert!(self.bf16, "bf16 copies need bf16 autocast: call use_bf16_autocast first");
        self.shadows = Some(Shadows::new(&self.model, &self.params));
    }

    /// The bf16 copies and their float32 parameters, when kept.
    #[cfg(test)]
    pub(crate) fn shadow_copies(&self) -> Option<(&[Tensor], &[Tensor])> {
        self.shadows.as_ref().map(Shadows::copies)
    }

    /// Optimizer steps taken.
    pub(crate) fn steps(&self) -> u64 {
        self.opt.steps()
    }

    /// The learning rate of the last step taken.
    pub(crate) fn last_lr(&self) -> f64 {
        self.schedule.lr_at(self.steps().saturating_sub(1))
    }

    /// Tokens trained on so far.
    pub(crate) fn tokens(&self) -> u64 {
        self.steps() * self.tokens_per_step()
    }

    /// Tokens of one step: windows × context.
    pub(crate) fn tokens_per_step(&self) -> u64 {
        (self.batch * self.context) as u64
    }

    /// Windows run forward at once: a micro-batch (the memory a training pass holds).
    fn micro_batch(&self) -> i64 {
        i64::try_from(self.micro).expect("small")
    }

    /// One optimizer step on this step's windows of `train`; the batch's mean loss (0-dim,
    /// on the device, detached).
    ///
    /// # Errors
    /// A training file too short for a window.
    pub(crate) fn train_step(&mut self, train: &TokenFile) -> Result<Tensor, Error> {
        let step = self.steps();
        let device = self.model.device();
        let windows = pz_device::outside_captures(|| {
            training_windows(train, self.seed, step, self.batch, self.context, device)
        })?;
        let lr = self.schedule.lr_at(step);
        if matches!(self.graph, GraphState::Capture) {
            // The capture runs alone in the process (outside `outside_captures`).
            pz_device::outside_captures(|| self.opt.prepare_fused_step(lr));
            self.graph = match CapturedLmStep::capture(self, &windows) {
                Ok(captured) => GraphState::Ready(Box::new(captured)),
                Err(e) => {
                    tracing::warn!("CUDA graph capture failed, this model trains eagerly: {e}");
                    GraphState::Off
                }
            };
        }
        pz_device::outside_captures(|| {
            if let GraphState::Ready(captured) = &self.graph {
                self.opt.prepare_fused_step(lr);
                let loss = captured.replay(&windows)?;
                self.opt.count_step();
                return Ok(loss);
            }
            if matches!(self.graph, GraphState::WarmUp) {
                let left_after_this = self.total_steps.saturating_sub(step + 1);
                self.graph = GraphState::after_warm_up(left_after_this);
            }
            self.eager_step(&windows, lr)
        })
    }

    /// What a captured step runs: the batch's mean loss under the recipe's precision, its
    /// gradients as fresh tensors, clipping and the fused AdamW update at the rate already on
    /// the device (with shadows: on the bf16 copies, their gradients widened, the copies
    /// refreshed after the update). Returns the loss (detached) and the step's gradient tensors
    /// (a graph's replays write them: the caller keeps them alive).
    ///
    /// # Errors
    /// The multi-tensor or fused kernels refusing the tensors.
    pub(super) fn graph_body(
        &self,
        inputs: &Tensor,
        targets: &Tensor,
    ) -> Result<(Tensor, Vec<Tensor>), Error> {
        let (loss, grads, mut keep) = match &self.shadows {
            Some(sh) => {
                let loss = self.autocast(|| self.model.loss_with(&sh.by_name, inputs, targets));
                let narrow = Tensor::run_backward(&[&loss], &sh.trainables, false, false);
                (loss, sh.widen(&narrow).map_err(step_error)?, narrow)
            }
            None => {
                let loss = self.autocast(|| self.model.loss(inputs, targets));
                (loss.shallow_clone(), Tensor::run_backward(&[&loss], &self.params, false, false), Vec::new())
            }
        };
        if self.grad_clip > 0.0 {
            let _norm = pz_device::clip_grad_norm(&grads, self.grad_clip).map_err(step_error)?;
        }
        self.opt.launch_fused(&self.params, &grads).map_err(step_error)?;
        if let Some(sh) = &self.shadows {
            sh.refresh().map_err(step_error)?;
        }
        keep.extend(grads);
        Ok((loss.detach(), keep))
    }

    /// One optimizer step launched operator by operator; the batch's mean loss.
    fn eager_step(&mut self, windows: &Windows, lr: f64) -> Result<Tensor, Error> {
        if self.shadows.is_some() {
            // One forward pass (shadows need it): the graph's body, launched eagerly.
            self.opt.prepare_fused_step(lr);
            let (loss, _) = self.graph_body(&windows.inputs, &windows.targets)?;
            self.opt.count_step();
            return Ok(loss.to_kind(Kind::Float));
        }
        if self.fused {
            pz_device::clear_grads(&self.params).map_err(step_error)?;
        } else {
            for p in &self.params {
                p.shallow_clone().zero_grad();
            }
        }
        // Micro-batches of the same windows: the gradient of the batch mean whatever the split.
        let mut loss_sum = Tensor::zeros([], (Kind::Float, self.model.device()));
        #[allow(clippy::cast_precision_loss)]
        for part in windows.chunks(self.micro_batch()) {
            let share = part.len() as f64 / self.batch as f64;
            let loss = self.autocast(|| self.model.loss(&part.inputs, &part.targets)) * share;
            loss.backward();
            loss_sum += loss.detach().to_kind(Kind::Float);
        }
        let grads: Vec<Tensor> = self.params.iter().map(Tensor::grad).collect();
        if self.grad_clip > 0.0 {
            let _norm = if self.fused {
                pz_device::clip_grad_norm(&grads, self.grad_clip).map_err(step_error)?
            } else {
                clip_grad_norm(&grads, self.grad_clip)
            };
        }
        self.opt.step(&self.params, &grads, lr).map_err(step_error)?;
        Ok(loss_sum)
    }

    /// Mean loss (nats per token) and next-token accuracy on `windows`, at most a micro-batch
    /// at once (on the CPU, fewer: [`windows_at_once`]).
    pub(crate) fn evaluate(&self, windows: &Windows) -> (f64, f64) {
        tch::no_grad(|| {
            let device = self.model.device();
            let mut loss = Tensor::zeros([], (Kind::Double, device));
            let mut correct = Tensor::zeros([], (Kind::Int64, device));
            for part in windows.chunks(windows_at_once(&self.model, self.micro_batch())) {
                let logits = self.autocast(|| self.model.forward(&part.inputs));
                let (l, c) = loss_sum_and_correct(&logits, &part.targets);
                loss += l;
                correct += c;
            }
            #[allow(clippy::cast_precision_loss)]
            let tokens = windows.inputs.numel() as f64;
            #[allow(clippy::cast_precision_loss)]
            (loss.double_value(&[]) / tokens, correct.int64_value(&[]) as f64 / tokens)
        })
    }

    /// `f` under bf16 autocast when the recipe asks for it (CUDA only, but for tests).
    fn autocast<T>(&self, f: impl FnOnce() -> T) -> T {
        if self.bf16 {
            pz_device::with_bf16_autocast_on(self.model.device(), f)
        } else {
            f()
        }
    }

    /// The checkpoint: the state dict under Hugging Face's names, and AdamW's state.
    pub(crate) fn checkpoint_tensors(&self) -> (Vec<NamedTensor>, Vec<NamedTensor>) {
        let optimizer = self.opt.state_tensors().iter().map(|(n, t)| tensor_to_named(n, t)).collect();
        (self.model.named_tensors(), optimizer)
    }

    /// Restore model and optimizer from a checkpoint.
    ///
    /// # Errors
    /// Missing, unknown or misshapen tensors.
    pub(crate) fn restore(&mut self, checkpoint: &LoadedCheckpoint) -> Result<(), Error> {
        self.model.load_named(&checkpoint.model)?;
        let device = self.model.device();
        let state = checkpoint
            .optimizer
            .iter()
            .map(|t| {
                let tensor = tensor_from_named(t).ok_or_else(|| {
                    Error::Checkpoint(format!("tensor {} has an unsupported dtype", t.name))
                })?;
                Ok((t.name.clone(), tensor.to_device(device)))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        self.opt
            .load_state(&self.params, &state)
            .map_err(|e| Error::Checkpoint(format!("optimizer state: {e}")))?;
        if let Some(sh) = &self.shadows {
            sh.refresh().map_err(step_error)?;
        }
        Ok(())
    }
}
