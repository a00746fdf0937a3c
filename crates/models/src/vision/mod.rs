//! Vision models of the ResNet and ViT zoos with torchvision's parameter names: ResNet-18 and
//! ResNet-50 with the CIFAR stem (SPEC §1.2), and a small ViT (docs/MODELS.md).
//!
//! Principal items: [`VisionModelConfig`] (what to build; [`VisionModelConfig::parameter_count`]
//! counts without building), [`VisionModel`] (built, initialized from a seed, forward to
//! logits, also at weights and BatchNorm statistics that are not its own ([`Norm`]), state dict
//! in and out). A model's state dict loads with `load_state_dict(strict=True)`
//! into the modules of python/phasezoo_vision.py.
//!
//! ```no_run
//! use pz_models::vision::{VisionModel, VisionModelConfig};
//! let model = VisionModel::new(&VisionModelConfig::resnet18(4, 3, 10), tch::Device::Cpu, 0);
//! let logits = model.forward_t(&tch::Tensor::zeros([8, 3, 32, 32], tch::kind::FLOAT_CPU), false);
//! assert_eq!(logits.size(), [8, 10]);
//! ```

mod batch_norm;
mod config;
mod init;
mod layout;
mod model;
mod pytorch;
mod resnet;
mod vit;

pub use batch_norm::{BatchNormStats, Norm};
pub use config::{VisionArch, VisionModelConfig, RESNET_WIDTHS, VIT_WIDTHS};
pub use model::VisionModel;
pub use pytorch::{logits_disagree, pytorch_logits, PytorchOutput, PYTORCH_MODULE};
pub(crate) use vit::split_heads;
pub use vit::AttentionKernel;
