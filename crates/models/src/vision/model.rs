//! [`VisionModel`]: one built vision network, its var store, and its state dict in PyTorch's
//! order and names.

use rand_chacha::ChaCha8Rng;
use tch::nn::VarStore;
use tch::{Device, Tensor};

use super::init::draw;
use super::layout::{Role, Slot};
use super::resnet::ResNet;
use super::vit::{AttentionKernel, Vit};
use super::{VisionArch, VisionModelConfig};
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
#[derive(Debug)]
pub struct VisionModel {
    config: VisionModelConfig,
    vs: VarStore,
    net: Net,
    /// Every state-dict entry in PyTorch's order, sharing storage with `vs`.
    slots: Vec<(Slot, Tensor)>,
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
        let vs = VarStore::new(device);
        let root = vs.root();
        let net = match config.arch {
            VisionArch::Resnet18 | VisionArch::Resnet50 => Net::Resnet(ResNet::new(&root, config)),
            VisionArch::Vit => Net::Vit(Vit::new(&root, config)),
        };
        let slots = bind(&vs, config.layout().slots);
        initialize(&slots, &mut member_rng(seed, Stream::Init));
        Self { config: config.clone(), vs, net, slots }
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
        match &self.net {
            Net::Resnet(net) => net.forward_t(images, train),
            Net::Vit(net) => net.forward(images),
        }
    }

    /// The trainable parameters in state-dict order (leaves that require grad).
    #[must_use]
    pub fn trainable(&self) -> Vec<Tensor> {
        self.slots.iter().filter(|(s, _)| s.trainable()).map(|(_, t)| t.shallow_clone()).collect()
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
        let by_name: std::collections::HashMap<&str, &Tensor> =
            named.iter().map(|(k, t)| (k.as_str(), t)).collect();
        let mut problems = Vec::new();
        for (slot, _) in &self.slots {
            match by_name.get(slot.name.as_str()) {
                None => problems.push(format!("missing key {}", slot.name)),
                Some(t) if t.size() != slot.shape => problems.push(format!(
                    "{}: expected shape {:?}, got {:?}",
                    slot.name,
                    slot.shape,
                    t.size()
                )),
                Some(t) if t.is_floating_point() != (slot.kind() == tch::Kind::Float) => {
                    problems.push(format!("{}: expected {:?}, got {:?}", slot.name, slot.kind(), t.kind()))
                }
                Some(_) => {}
            }
        }
        let known: std::collections::HashSet<&str> =
            self.slots.iter().map(|(s, _)| s.name.as_str()).collect();
        problems.extend(
            named
                .iter()
                .filter(|(k, _)| !known.contains(k.as_str()))
                .map(|(k, _)| format!("unexpected key {k}")),
        );
        if !problems.is_empty() {
            return Err(Error::Mismatch { model: self.config.to_string(), message: problems.join("; ") });
        }
        tch::no_grad(|| {
            for (slot, t) in &self.slots {
                t.shallow_clone().copy_(by_name[slot.name.as_str()]);
            }
        });
        Ok(())
    }

    /// Number of trainable scalars (equals [`VisionModelConfig::parameter_count`]).
    #[must_use]
    pub fn parameter_count(&self) -> usize {
        self.slots.iter().filter(|(s, _)| s.trainable()).map(|(s, _)| s.numel()).sum()
    }
}

/// Pair each layout slot with the var store's tensor of that name.
///
/// # Panics
/// If the built network and its layout disagree on a name or shape: a bug in resnet.rs/vit.rs.
fn bind(vs: &VarStore, layout: Vec<Slot>) -> Vec<(Slot, Tensor)> {
    let mut vars = vs.variables();
    let slots: Vec<(Slot, Tensor)> = layout
        .into_iter()
        .map(|slot| {
            let t = vars
                .remove(&slot.name)
                .unwrap_or_else(|| panic!("layout names {} but the net has none", slot.name));
            assert_eq!(t.size(), slot.shape, "{}: net and layout shapes differ", slot.name);
            (slot, t)
        })
        .collect();
    assert!(vars.is_empty(), "net variables missing from the layout: {:?}", vars.keys().collect::<Vec<_>>());
    slots
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
