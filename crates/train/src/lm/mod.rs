//! Language models: one GPT-2 (pz_models::gpt2) trained with nanoGPT's recipe — AdamW with
//! weight decay on matrices and embeddings only, linear warm-up then cosine decay, gradient
//! clipping, random windows of a nanoGPT token file per (seed, step) — evaluated on fixed
//! validation windows every epoch, checkpointed under Hugging Face's GPT-2 names with AdamW's
//! state, and resumed after a crash with the same bytes (on the CPU).
//!
//! Like the image family, a unit of training is one model (a population of one); unlike it,
//! the data stays on disk, memory-mapped, and only each step's windows reach the device.

mod adamw;
mod apply;
mod data;
mod family;
mod finetune;
mod graph_step;
mod measured;
mod population;
mod schedule;
mod shadows;
mod trainer;

pub use family::LmFamily;

#[cfg(test)]
mod tests;
