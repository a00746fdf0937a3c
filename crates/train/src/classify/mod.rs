//! Image classification: one vision model (ResNet, ViT) trained with the PTMZ recipe — SGD with
//! momentum and weight decay, OneCycle stepped per batch, on-device augmentation — evaluated,
//! recorded and checkpointed every epoch, and resumed after a crash.
//!
//! Unlike the PINN, image models train one model at a time per worker; several workers share a
//! GPU, each on its own CUDA stream with its step captured as a CUDA graph (graph_step.rs), and
//! each worker puts the dataset on its device once for all its models.

mod accumulation;
mod apply;
mod bench;
mod curves;
mod family;
mod finetune;
mod graph_step;
mod layout;
mod measured;
mod metric_data;
mod population;
mod runner;
mod task;
mod trainer;

#[cfg(test)]
mod curve_tests;
#[cfg(test)]
mod tests;

pub use bench::{bench_image_grid, random_fashion, BenchSettings, CellTiming};
pub use family::ImageFamily;
pub use layout::{
    auto_channels_last, trains_channels_last, CHANNELS_LAST_MIN_BATCH, CHANNELS_LAST_MIN_MULTIPLY_ADDS,
};
pub use metric_data::{load_image_model, metric_batches, MetricSet};
pub use runner::train_image_model;
pub use task::ImageTask;
pub use trainer::{model_config, step_multiply_adds, EpochStats, ImageTrainer};
