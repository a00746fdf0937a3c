//! Image classification: one vision model (ResNet, ViT) trained with the PTMZ recipe — SGD with
//! momentum and weight decay, OneCycle stepped per batch, on-device augmentation — evaluated,
//! recorded and checkpointed every epoch, and resumed after a crash.
//!
//! Unlike the PINN, image models train one model at a time per worker (packing many onto one GPU
//! is the scheduler's job); the dataset is put on the device once and shared by every model.

mod runner;
mod task;
mod trainer;

#[cfg(test)]
mod tests;

pub use runner::train_image_model;
pub use task::ImageTask;
pub use trainer::{EpochStats, ImageTrainer};
