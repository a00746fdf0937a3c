//! What models are trained on: datasets and PDE problems, laid out for a population (one slice
//! per member along the first axis).
//!
//! Principal type: [`ConvectionBatch`], the 1-D convection PINN problem of Krishnapriyan et al.
//! 2021 ("Characterizing possible failure modes in physics-informed neural networks").
//! Image datasets (readers, the uint8 cache, the downloader) live in [`vision`].

mod convection;
pub mod vision;

pub use convection::{exact_solution, input_gradients, Autograd, ConvectionBatch, PinnLoss, PinnModel};
