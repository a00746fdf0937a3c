//! The modular-arithmetic family: Liu et al. 2022's toy model ("Towards Understanding Grokking",
//! arXiv 2205.10343) — learned embeddings E_a + E_b and an MLP decoder classifying `a ∘ b mod p`,
//! the representation and the decoder trained by AdamW groups of their own learning rate and
//! weight decay — K models with identical shapes stacked into one population (the whole grid),
//! full-batch steps, train and validation accuracy logged every epoch.
//!
//! - `net`: the stacked embeddings and decoder, the pairs table and each member's split.
//! - `adamw`: AdamW in two groups with per-member learning rates and weight decays.
//! - `training`: the population behind the [`crate::Population`] seam.
//! - `measured`: trained members behind [`crate::MeasuredPopulation`] (Hessian, CKA).
//! - `family`: the family behind [`crate::ZooFamily`] (grouping, training a unit).

mod adamw;
mod family;
mod measured;
mod net;
mod training;

pub use family::ModArithFamily;

#[cfg(test)]
mod tests;
