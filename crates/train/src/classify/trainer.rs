//! One image model's training state and its epoch: shuffled batches, augmentation, forward,
//! cross-entropy, backward (accumulated over micro-batches), an SGD step at the schedule's
//! learning rate and momentum.

use std::sync::atomic::{AtomicBool, Ordering};

use pz_models::vision::{VisionArch, VisionModel, VisionModelConfig};
use pz_models::{tensor_from_named, tensor_to_named};
use pz_spec::{Layout, ModelConfig, Precision, ResolvedModel, Schedule};
use pz_store::{LoadedCheckpoint, NamedTensor};
use tch::{Device, Kind, Tensor};

use pz_device::outside_captures;

use super::accumulation::Accumulation;
use super::graph_step::GraphState;
use super::layout::{auto_channels_last, channels_last, set_weight_layout, trains_channels_last};
use super::ImageTask;
use crate::vision::{augment_rng, epoch_permutation, Augmentation, OneCycle, Sgd};
use crate::Error;

/// Evaluation batch when the spec sets no micro-batch. Evaluation is in eval mode without
/// gradients, so the batch changes only rounding, not the numbers' meaning.
const EVAL_BATCH: i64 = 1000;

/// Mean loss and accuracy over a pass.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochStats {
    /// Mean cross-entropy.
    pub loss: f64,
    /// Fraction correct, in [0, 1].
    pub accuracy: f64,
}

/// A model, its optimizer and schedule.
pub struct ImageTrainer {
    /// The network.
    pub model: VisionModel,
    pub(super) params: Vec<Tensor>,
    pub(super) sgd: Sgd,
    /// The epoch's summed train loss (float64) and number correct, on the device (a captured
    /// step adds to them in place).
    pub(super) loss_sum: Tensor,
    pub(super) correct: Tensor,
    pub(super) graph: GraphState,
    /// Optimizer steps of the whole run (epochs × steps per epoch): whether a capture can pay.
    pub(super) planned_steps: u64,
    /// What `run.layout = "auto"` picks for this model (see `layout`).
    auto_channels_last: bool,
    /// `train.channels_last = true`: channels-last whatever `run.layout` says.
    forced_channels_last: bool,
    schedule: Option<OneCycle>,
    lr: f64,
    momentum: f64,
    seed: u64,
    batch_size: i64,
    micro_batch: i64,
    /// 1, or PTMZ's k with `train.ptmz_compat` (see `accumulation`).
    reported_loss_divisor: f64,
    channels_last: bool,
    bf16: bool,
}

/// The model shape of a resolved config on images of `channels` × `image_size`² and `classes`
/// classes (the dataset's; spec validation guarantees an image architecture).
///
/// # Panics
/// If the config is an MLP.
#[must_use]
pub fn model_config(
    config: &ResolvedModel,
    channels: i64,
    classes: i64,
    image_size: i64,
) -> VisionModelConfig {
    let (c, k) = (channels, classes);
    match &config.model {
        ModelConfig::Resnet18(r) => VisionModelConfig::resnet18(i64::from(r.width), c, k),
        ModelConfig::Resnet50(r) => VisionModelConfig::resnet50(i64::from(r.width), c, k),
        ModelConfig::Vit(v) => VisionModelConfig {
            arch: VisionArch::Vit,
            width: i64::from(v.width),
            in_channels: c,
            classes: k,
            image_size,
            patch_size: i64::from(v.patch_size),
            depth: i64::from(v.depth),
            head_dim: i64::from(v.head_dim),
            mlp_ratio: i64::from(v.mlp_ratio),
        },
        ModelConfig::Mlp(_) | ModelConfig::Gpt2(_) => panic!("not an image model"),
    }
}

/// Multiply-adds of one training step of a resolved image model (forward and backward, the
/// backward counted as twice the forward) on its batch: the cost the pack scheduler shares GPUs by.
#[must_use]
pub fn step_multiply_adds(config: &ResolvedModel, channels: i64, classes: i64, image_size: i64) -> f64 {
    let per_image = model_config(config, channels, classes, image_size).multiply_adds_per_image(image_size);
    3.0 * per_image * f64::from(config.train.batch_size)
}

impl ImageTrainer {
    /// A freshly initialized model (from its seed) with its optimizer.
    ///
    /// # Errors
    /// A model that does not fit the images (e.g. a ViT patch that does not divide them).
    pub fn new(config: &ResolvedModel, task: &ImageTask, device: Device) -> Result<Self, Error> {
        outside_captures(|| {
            let shape = model_config(config, task.channels, task.classes, task.image_size);
            let problems = shape.problems();
            if !problems.is_empty() {
                return Err(Error::Config(format!("model {}: {}", config.model_id, problems.join("; "))));
            }
            let t = &config.train;
            let model = VisionModel::new(&shape, device, config.seed);
            let params = model.trainable();
            let planned_steps = u64::from(t.epochs) * task.steps_per_epoch(t.batch_size);
            let split = Accumulation::of(config, task);
            let schedule =
                (t.schedule == Schedule::OneCycle).then(|| OneCycle::new(t.lr, split.schedule_steps));
            let step_multiply_adds = step_multiply_adds(config, task.channels, task.classes, task.image_size);
            let auto_channels_last = auto_channels_last(&config.model, step_multiply_adds, split.micro_batch);
            // `run.layout`'s default (auto) until `with_layout` says otherwise.
            let channels_last = device.is_cuda() && (t.channels_last || auto_channels_last);
            // CPU always computes in float32 and contiguous (the spec keys document it); say so.
            let bf16 = t.precision == Precision::Bf16Autocast && device.is_cuda();
            if !device.is_cuda() && (t.precision != Precision::Float32 || t.channels_last) {
                tracing::warn!(model = %config.model_id, "train.precision and train.channels_last apply on CUDA only; this CPU run is float32, contiguous");
            }
            if channels_last {
                set_weight_layout(&params, true);
            }
            Ok(Self {
                sgd: Sgd::new(params.len(), t.weight_decay),
                loss_sum: Tensor::zeros([], (Kind::Double, device)),
                correct: Tensor::zeros([], (Kind::Int64, device)),
                graph: GraphState::initial(device, step_multiply_adds),
                planned_steps,
                auto_channels_last,
                forced_channels_last: t.channels_last,
                model,
                params,
                schedule,
                lr: t.lr,
                momentum: t.momentum,
                seed: config.seed,
                batch_size: i64::from(t.batch_size),
                micro_batch: i64::from(split.micro_batch),
                reported_loss_divisor: f64::from(split.loss_divisor),
                channels_last,
                bf16,
            })
        })
    }

    /// Whether full batches may run as a captured CUDA graph (on by default where CUDA graphs
    /// exist; `run.graph = false` turns them off for debugging). Takes effect before the first
    /// capture only.
    #[must_use]
    pub fn with_cuda_graphs(mut self, on: bool) -> Self {
        if !on {
            self.graph = GraphState::Off;
        }
        self
    }

    /// The memory layout on CUDA (`run.layout`; `train.channels_last = true` keeps channels-last).
    /// Takes effect before the first step only.
    #[must_use]
    pub fn with_layout(mut self, layout: Layout) -> Self {
        let on_cuda = self.params.first().is_some_and(|p| p.device().is_cuda());
        let channels_last =
            on_cuda && (self.forced_channels_last || trains_channels_last(layout, self.auto_channels_last));
        if channels_last != self.channels_last {
            outside_captures(|| set_weight_layout(&self.params, channels_last));
            self.channels_last = channels_last;
        }
        self
    }

    /// Whether the model trains channels-last.
    #[must_use]
    pub fn trains_channels_last(&self) -> bool {
        self.channels_last
    }

    /// Whether full batches now replay a captured CUDA graph.
    #[must_use]
    pub fn replays_cuda_graph(&self) -> bool {
        matches!(self.graph, GraphState::Ready(_))
    }

    /// Optimizer steps taken.
    #[must_use]
    pub fn steps(&self) -> u64 {
        self.sgd.steps()
    }

    /// The learning rate of the last step taken (the schedule's value before the newest step).
    #[must_use]
    pub fn last_lr(&self) -> f64 {
        let steps = self.sgd.steps();
        self.schedule.as_ref().map_or(self.lr, |s| s.lr_momentum(steps.saturating_sub(1)).0)
    }

    /// The learning rate and momentum of the next step.
    fn lr_momentum(&self) -> (f64, f64) {
        self.schedule.as_ref().map_or((self.lr, self.momentum), |s| s.lr_momentum(self.sgd.steps()))
    }

    /// One epoch (1-based `epoch`) over the shuffled training set; the running mean of the
    /// batches' train-mode losses and accuracies, as the original reports them. `None` if `stop`
    /// was raised (the epoch is then incomplete and must be redone from a checkpoint).
    ///
    /// On CUDA with graphs on (the default), full batches after the first run as one captured
    /// CUDA graph each (see [`super::graph_step`]); the first full batch warms up eagerly and a
    /// last partial batch runs eagerly, so every image is trained on, as the original does.
    ///
    /// # Errors
    /// A CUDA graph replay that libtorch refuses.
    pub fn train_epoch(
        &mut self,
        task: &ImageTask,
        epoch: u32,
        stop: &AtomicBool,
        on_step: &mut dyn FnMut(),
    ) -> Result<Option<EpochStats>, Error> {
        let n = task.train_len();
        let device = task.train_images.device();
        let order = outside_captures(|| {
            let _ = self.loss_sum.zero_();
            let _ = self.correct.zero_();
            epoch_permutation(self.seed, u64::from(epoch), n).to_device(device)
        });
        #[allow(clippy::cast_possible_wrap)]
        let n_i = n as i64;
        for (b, start) in (0..n_i).step_by(usize::try_from(self.batch_size).expect("batch > 0")).enumerate() {
            if stop.load(Ordering::Relaxed) {
                return Ok(None);
            }
            let len = self.batch_size.min(n_i - start);
            let batch = |trainer: &Self| {
                let idx = order.narrow(0, start, len);
                let images = task.train_images.index_select(0, &idx);
                let labels = task.train_labels.index_select(0, &idx);
                let mut rng = augment_rng(trainer.seed, u64::from(epoch), b as u64);
                (trainer.prepare(task.train_transform.train_batch(&images, &mut rng)), labels)
            };
            let full = len == self.batch_size;
            // A capture runs alone (outside `outside_captures`), then the step replays it.
            let mut prepared = None;
            if full && matches!(self.graph, GraphState::Capture) {
                let (inputs, labels) = outside_captures(|| batch(self));
                self.capture(&inputs, &labels);
                prepared = Some((inputs, labels));
            }
            outside_captures(|| -> Result<(), Error> {
                let (inputs, labels) = prepared.take().unwrap_or_else(|| batch(self));
                let (lr, momentum) = self.lr_momentum();
                if full && self.replay(&inputs, &labels, lr, momentum)? {
                    self.sgd.count_step();
                } else {
                    self.eager_step(&inputs, &labels, lr, momentum);
                }
                Ok(())
            })?;
            on_step();
        }
        let mut stats = outside_captures(|| stats(&self.loss_sum, &self.correct, n));
        stats.loss /= self.reported_loss_divisor;
        Ok(Some(stats))
    }

    /// One optimizer step launched kernel by kernel; adds to the epoch's loss and accuracy.
    fn eager_step(&mut self, inputs: &Tensor, labels: &Tensor, lr: f64, momentum: f64) {
        let (grads, loss, correct) = self.batch_gradients(inputs, labels);
        self.loss_sum += loss;
        self.correct += correct;
        self.sgd.step_with(&self.params, &grads, lr, momentum);
    }

    /// Gradients of the batch's mean cross-entropy (summed over micro-batches when the batch is
    /// split), with the batch's summed loss (float64) and number correct. Gradients are fresh
    /// tensors (no zeroing of `.grad`, no accumulation kernels).
    pub(super) fn batch_gradients(&self, inputs: &Tensor, labels: &Tensor) -> (Vec<Tensor>, Tensor, Tensor) {
        let len = inputs.size()[0];
        let device = inputs.device();
        let (mut loss_sum, mut correct) =
            (Tensor::zeros([], (Kind::Double, device)), Tensor::zeros([], (Kind::Int64, device)));
        let mut grads: Option<Vec<Tensor>> = None;
        let mut micro_start = 0;
        while micro_start < len {
            let m = self.micro_batch.min(len - micro_start);
            let x = inputs.narrow(0, micro_start, m);
            let y = labels.narrow(0, micro_start, m);
            let logits = self.forward(&x, true);
            let summed = logits.log_softmax(-1, Kind::Float).nll_loss_nd::<Tensor>(
                &y,
                None,
                tch::Reduction::Sum,
                -100,
            );
            // Mean over the whole batch, however it is split.
            #[allow(clippy::cast_precision_loss)]
            let g = Tensor::run_backward(&[&summed / len as f64], &self.params, false, false);
            grads = Some(match grads {
                None => g,
                Some(acc) => acc.iter().zip(&g).map(|(a, b)| a + b).collect(),
            });
            loss_sum += summed.detach().to_kind(Kind::Double);
            correct += logits.detach().argmax(-1, false).eq_tensor(&y).sum(Kind::Int64);
            micro_start += m;
        }
        (grads.expect("a batch of at least one image"), loss_sum, correct)
    }

    /// Mean loss and accuracy in eval mode without gradients. `augment`: draw the train-time
    /// augmentation from `(epoch, batch)` streams (the original's epoch 0 evaluates its
    /// augmented training set), else the test transform.
    #[must_use]
    pub fn evaluate(
        &self,
        images: &Tensor,
        labels: &Tensor,
        transform: &Augmentation,
        augment: Option<u32>,
    ) -> EpochStats {
        outside_captures(|| {
            let n = images.size()[0];
            let batch = if self.micro_batch < self.batch_size { 2 * self.micro_batch } else { EVAL_BATCH };
            let device = images.device();
            tch::no_grad(|| {
                let (mut loss_sum, mut correct) =
                    (Tensor::zeros([], (Kind::Double, device)), Tensor::zeros([], (Kind::Int64, device)));
                for (b, start) in (0..n).step_by(usize::try_from(batch).expect("batch > 0")).enumerate() {
                    let len = batch.min(n - start);
                    let x = images.narrow(0, start, len);
                    let y = labels.narrow(0, start, len);
                    let x = match augment {
                        Some(epoch) => {
                            transform.train_batch(&x, &mut augment_rng(self.seed, u64::from(epoch), b as u64))
                        }
                        None => transform.eval_batch(&x),
                    };
                    let logits = self.forward(&self.prepare(x), false);
                    loss_sum += logits
                        .log_softmax(-1, Kind::Float)
                        .nll_loss_nd::<Tensor>(&y, None, tch::Reduction::Sum, -100)
                        .to_kind(Kind::Double);
                    correct += logits.argmax(-1, false).eq_tensor(&y).sum(Kind::Int64);
                }
                stats(&loss_sum, &correct, usize::try_from(n).expect("a length"))
            })
        })
    }

    /// Logits, under bf16 autocast when asked (parameters and gradients stay float32).
    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        if self.bf16 {
            pz_device::with_bf16_autocast(|| self.model.forward_t(x, train))
        } else {
            self.model.forward_t(x, train)
        }
    }

    pub(super) fn prepare(&self, x: Tensor) -> Tensor {
        if self.channels_last {
            channels_last(&x)
        } else {
            x
        }
    }

    /// The model's state dict and the optimizer state, as checkpoint tensors.
    #[must_use]
    pub fn checkpoint_tensors(&self) -> (Vec<NamedTensor>, Vec<NamedTensor>) {
        outside_captures(|| {
            let model = self.model.state_dict().iter().map(|(n, t)| tensor_to_named(n, t)).collect();
            let optimizer = self.sgd.state_tensors().iter().map(|(n, t)| tensor_to_named(n, t)).collect();
            (model, optimizer)
        })
    }

    /// Restore model and optimizer from a checkpoint.
    ///
    /// # Errors
    /// Missing or misshapen tensors.
    pub fn restore(&mut self, checkpoint: &LoadedCheckpoint) -> Result<(), Error> {
        outside_captures(|| {
            let device = self.model.device();
            let named = |list: &[NamedTensor]| -> Result<Vec<(String, Tensor)>, Error> {
                list.iter()
                    .map(|t| {
                        let tensor = tensor_from_named(t).ok_or_else(|| {
                            Error::Checkpoint(format!("tensor {} has an unsupported dtype", t.name))
                        })?;
                        Ok((t.name.clone(), tensor.to_device(device)))
                    })
                    .collect()
            };
            self.model.load_state_dict(&named(&checkpoint.model)?)?;
            // A captured graph would keep updating the replaced tensors: capture anew.
            if !matches!(self.graph, GraphState::Off) {
                self.graph = GraphState::WarmUp;
            }
            // The model may have replaced its variables: take the optimizer's list anew.
            self.params = self.model.trainable();
            if self.channels_last {
                set_weight_layout(&self.params, true);
            }
            self.sgd
                .load_state(&self.params, &named(&checkpoint.optimizer)?)
                .map_err(|e| Error::Checkpoint(format!("optimizer state: {e}")))?;
            Ok(())
        })
    }
}

fn stats(loss_sum: &Tensor, correct: &Tensor, n: usize) -> EpochStats {
    #[allow(clippy::cast_precision_loss)]
    let n = n.max(1) as f64;
    #[allow(clippy::cast_precision_loss)]
    EpochStats { loss: loss_sum.double_value(&[]) / n, accuracy: correct.int64_value(&[]) as f64 / n }
}
