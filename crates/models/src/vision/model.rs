//! [`VisionModel`]: one built vision network, its var store, and its state dict in PyTorch's
//! order and names.

use rand_chacha::ChaCha8Rng;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

use super::batch_norm::{BatchNormStats, Norm, MOMENTUM};
use super::init::{draw, PLACEHOLDER};
use super::layout::{Positions, Role, Slot};
use super::resnet::ResNet;
use super::vit::{AttentionKernel, Vit};
use super::{VisionArch, VisionModelConfig};
use crate::state_dict::{load_checked, Expected};
use crate::{member_rng, Error, Stream};

#[derive(Debug)]
enum Net {
    Resnet(ResNet),
    Vit(Vit),
}

/// A ResNet-18/50 or ViT whose state dict loads into python/phasezoo_vision.py (and
/// torchvision's modules of the same shapes) with `load_state_dict(strict=True)`.
///
/// Forward returns logits; the original applies `log_softmax` in its wrapper and trains with
/// NLL (= cross-entropy), which is the trainer's job here.
///
/// The network is a function of the tensors it is given ([`VisionModel::forward_with`]): the
/// built net holds only its plan and where each layer's tensors are, and its own forward
/// ([`VisionModel::forward_t`]) passes its own parameters and BatchNorm statistics. So the same
/// code runs the model at other weights (a point on a mode-connectivity curve, with autograd
/// back to whatever those weights were computed from) and with other BatchNorm statistics.
#[derive(Debug)]
pub struct VisionModel {
    config: VisionModelConfig,
    vs: VarStore,
    net: Net,
    /// Every state-dict entry in PyTorch's order, sharing storage with `vs`.
    slots: Vec<(Slot, Tensor)>,
    /// The trainable entries of `slots`, in order (what `forward_t` computes with).
    params: Vec<Tensor>,
    /// The BatchNorm running statistics of `slots`.
    stats: BatchNormStats,
    /// The BatchNorm `num_batches_tracked` counters of `slots`.
    counters: Vec<Tensor>,
}

impl VisionModel {
    /// Build the model on `device` and initialize it from `seed`'s init stream
    /// ([`member_rng`]`(seed, Stream::Init)`), drawn on the CPU in state-dict order: the same
    /// seed gives the same weights on every device and in every thread, without touching
    /// libtorch's global generator.
    ///
    /// # Panics
    /// If the config has [`VisionModelConfig::problems`].
    #[must_use]
    pub fn new(config: &VisionModelConfig, device: Device, seed: u64) -> Self {
        let problems = config.problems();
        assert!(problems.is_empty(), "vision model {config}: {}", problems.join("; "));
        let layout = config.layout();
        let at = Positions::of(&layout);
        let net = match config.arch {
            VisionArch::Resnet18 | VisionArch::Resnet50 => Net::Resnet(ResNet::new(&at, config)),
            VisionArch::Vit => Net::Vit(Vit::new(&at, config)),
        };
        let vs = VarStore::new(device);
        let slots = create(&vs, layout.slots);
        initialize(&slots, &mut member_rng(seed, Stream::Init));
        let with_role =
            |role: Role| slots.iter().filter(move |(s, _)| s.role == role).map(|(_, t)| t.shallow_clone());
        let params = slots.iter().filter(|(s, _)| s.trainable()).map(|(_, t)| t.shallow_clone()).collect();
        let stats =
            BatchNormStats::new(with_role(Role::RunningMean).zip(with_role(Role::RunningVar)).collect());
        let counters = with_role(Role::BatchCount).collect();
        Self { config: config.clone(), vs, net, slots, params, stats, counters }
    }

    /// The config it was built from.
    #[must_use]
    pub fn config(&self) -> &VisionModelConfig {
        &self.config
    }

    /// The device of its parameters.
    #[must_use]
    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// The var store (for tch's optimizers, `freeze`, kind casts).
    #[must_use]
    pub fn var_store(&self) -> &VarStore {
        &self.vs
    }

    /// How the ViT computes attention (ignored by the ResNets). Use
    /// [`AttentionKernel::Explicit`] when differentiating twice (Hessian-vector products).
    pub fn set_attention_kernel(&mut self, kernel: AttentionKernel) {
        if let Net::Vit(vit) = &mut self.net {
            vit.kernel = kernel;
        }
    }

    /// Logits `[N, classes]` of images `[N, in_channels, H, W]` (contiguous or channels-last).
    /// `train` selects batch statistics for BatchNorm and updates its running stats and
    /// `num_batches_tracked`, as PyTorch's `model.train()`; the ViT has no train-only layers.
    pub fn forward_t(&self, images: &Tensor, train: bool) -> Tensor {
        if train {
            // PyTorch counts every training-mode forward of each BatchNorm; with momentum 0.1
            // the count does not enter the update, so it is kept beside it. The counters share
            // storage with the state dict, so these in-place adds are what it holds.
            for count in &self.counters {
                let _ = count.shallow_clone().g_add_scalar_(1);
            }
        }
        let norm = if train { Norm::Update(&self.stats, MOMENTUM) } else { Norm::Running(&self.stats) };
        self.forward_with(&self.params, norm, images)
    }

    /// Logits `[N, classes]` of images computed with `params` instead of the model's own
    /// parameters: one tensor per [`VisionModel::trainable`] entry, same order and shapes (any
    /// tensors: views of a stacked curve point with their autograd graph, say). BatchNorm takes
    /// its statistics as `norm` says (the ViT has none and ignores it); the model's own
    /// `num_batches_tracked` counters are not touched.
    ///
    /// # Panics
    /// If `params` has another length than the trainable list.
    pub fn forward_with(&self, params: &[Tensor], norm: Norm<'_>, images: &Tensor) -> Tensor {
        assert_eq!(params.len(), self.params.len(), "{}: one tensor per trainable parameter", self.config);
        match &self.net {
            Net::Resnet(net) => net.forward(images, params, norm),
            Net::Vit(net) => net.forward(images, params),
        }
    }

    /// The model's own BatchNorm running statistics (sharing storage with its state dict).
    #[must_use]
    pub fn batch_norm_stats(&self) -> &BatchNormStats {
        &self.stats
    }

    /// Fresh BatchNorm statistics of this model's layers on its device (means 0, variances 1),
    /// for [`Norm::Update`] passes that must leave the model's own untouched.
    #[must_use]
    pub fn new_batch_norm_stats(&self) -> BatchNormStats {
        let channels: Vec<i64> = (0..self.stats.len()).map(|i| self.stats.layer(i).0.size()[0]).collect();
        BatchNormStats::fresh(&channels, self.device())
    }

    /// The trainable parameters in state-dict order (leaves that require grad).
    #[must_use]
    pub fn trainable(&self) -> Vec<Tensor> {
        self.params.iter().map(Tensor::shallow_clone).collect()
    }

    /// Names of [`VisionModel::trainable`], same order.
    #[must_use]
    pub fn trainable_names(&self) -> Vec<String> {
        self.slots.iter().filter(|(s, _)| s.trainable()).map(|(s, _)| s.name.clone()).collect()
    }

    /// Every entry of PyTorch's `state_dict()`, in its order: parameters and BatchNorm buffers
    /// (`running_mean`, `running_var`, int64 scalar `num_batches_tracked`). Tensors are detached
    /// views that share storage with the model, as PyTorch's are; copy before mutating.
    #[must_use]
    pub fn state_dict(&self) -> Vec<(String, Tensor)> {
        self.slots.iter().map(|(s, t)| (s.name.clone(), t.detach())).collect()
    }

    /// Copy `named` into the model (any device, float kinds converted). Checks everything
    /// before copying anything: every key present, none extra, shapes equal, integer buffers
    /// given integers and float entries floats. The error names each offending key.
    ///
    /// # Errors
    /// [`Error::Mismatch`] naming the missing, extra or misshapen keys.
    pub fn load_state_dict(&mut self, named: &[(String, Tensor)]) -> Result<(), Error> {
        let expected: Vec<Expected<'_>> = self
            .slots
            .iter()
            .map(|(s, t)| Expected { name: &s.name, shape: &s.shape, kind: s.kind(), tensor: t })
            .collect();
        load_checked(&self.config.to_string(), &expected, named, &[], |_| vec![])
    }

    /// Number of trainable scalars (equals [`VisionModelConfig::parameter_count`]).
    #[must_use]
    pub fn parameter_count(&self) -> usize {
        self.slots.iter().filter(|(s, _)| s.trainable()).map(|(s, _)| s.numel()).sum()
    }
}

/// Create every layout entry in the var store under its state-dict name (tch's paths join
/// segments with dots, so `layer1.0.bn1.weight` is path `layer1/0/bn1`, variable `weight`):
/// parameters trainable, BatchNorm buffers not. Values are set by `initialize`.
fn create(vs: &VarStore, layout: Vec<Slot>) -> Vec<(Slot, Tensor)> {
    layout
        .into_iter()
        .map(|slot| {
            let (dirs, leaf) = slot.name.rsplit_once('.').unwrap_or(("", &slot.name));
            let path = dirs.split('.').filter(|d| !d.is_empty()).fold(vs.root(), |p, d| p / d);
            let t = match slot.role {
                Role::Param(_) => path.var(leaf, &slot.shape, PLACEHOLDER),
                Role::RunningMean | Role::RunningVar => path.zeros_no_train(leaf, &slot.shape),
                Role::BatchCount => path.add(leaf, Tensor::zeros([], (Kind::Int64, vs.device())), false),
            };
            (slot, t)
        })
        .collect()
}

/// Set every entry to its starting value, drawing in state-dict order.
fn initialize(slots: &[(Slot, Tensor)], rng: &mut ChaCha8Rng) {
    tch::no_grad(|| {
        for (slot, t) in slots {
            let mut t = t.shallow_clone();
            match slot.role {
                Role::Param(init) => {
                    t.copy_(&draw(init, &slot.shape, rng));
                }
                Role::RunningMean | Role::BatchCount => {
                    let _ = t.zero_();
                }
                Role::RunningVar => {
                    let _ = t.fill_(1.0);
                }
            }
        }
    });
}
