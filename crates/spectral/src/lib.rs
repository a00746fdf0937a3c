//! Heavy-tail metrics of a model's weights, without data: per layer the empirical spectral
//! density (ESD) of its weight matrices and the power-law exponent `alpha` of the ESD's tail,
//! as WeightWatcher computes them (Martin & Mahoney 2021, "Predicting trends in the quality of
//! state-of-the-art neural networks without access to training or testing data", Nature
//! Communications 12, 4122; <https://github.com/CalculatedContent/WeightWatcher>, release
//! 0.7.7).
//!
//! - [`esd`]: which layers, their matrices (Conv2d: one per kernel position) and the
//!   eigenvalues of `W^T W`, with WeightWatcher's scaling and size limits ([`SpectralConfig`]).
//! - [`fit`]: the Clauset-Shalizi-Newman power-law fit, xmin by the Kolmogorov-Smirnov
//!   distance ([`fit_power_law`], [`PowerLawFit`]).
//! - [`layer_alphas`]: a safetensors checkpoint (PyTorch state-dict names, F64/F32/F16/BF16)
//!   to one [`LayerAlpha`] per layer; [`model_alpha`]: their means ([`ModelAlpha`]).
//!
//! Pure Rust (nalgebra's float64 SVD); no libtorch, nothing printed, nothing written.
//!
//! ```no_run
//! let layers = pz_spectral::layer_alphas(std::path::Path::new("model.safetensors"))?;
//! for layer in &layers {
//!     // e.g. "layer1.0.conv1 alpha 3.12 (xmin 0.41, D 0.06, 57 eigenvalues in the tail)"
//!     let _ = (&layer.name, layer.alpha(), layer.fit.map(|f| (f.xmin, f.d, f.num_pl_spikes)));
//! }
//! let mean = pz_spectral::model_alpha(&layers).map(|m| m.alpha);
//! # Ok::<(), pz_spectral::Error>(())
//! ```
#![deny(missing_docs)]

mod checkpoint;
mod error;
pub mod esd;
pub mod fit;
mod layer;

pub use checkpoint::{layer_alphas, layer_alphas_with};
pub use error::{Error, Result};
pub use esd::{LayerKind, SpectralConfig};
pub use fit::{fit_power_law, PowerLawFit};
pub use layer::{model_alpha, tensor_layer_alpha, LayerAlpha, ModelAlpha};
