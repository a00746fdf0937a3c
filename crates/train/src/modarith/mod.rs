//! The modular-arithmetic family: Liu et al. 2022's toy model ("Towards Understanding Grokking",
//! arXiv 2205.10343) — learned embeddings E_a + E_b and an MLP decoder classifying `a ∘ b mod p`,
//! the representation and the decoder trained by AdamW groups of their own learning rate and
//! weight decay — K models with identical shapes stacked into one population (the whole grid),
//! full-batch steps, train and validation accuracy logged every epoch.
//!
//! `architecture = "gpt2"` trains a transformer instead (issue 21; Power et al. 2022 grokked
//! with a two-layer one, Nanda et al. 2023 with one layer): token and position embeddings of `[a, b, =]` (the representation group) read by
//! pre-LayerNorm GPT-2 blocks, ln_f and a linear head on the last position (the decoder group),
//! stacked and fused the same way; every metric of the family applies to it.
//!
//! - `net`: the stacked representation and decoder, the pairs table and each member's split.
//! - `decoder`: the MLP or the transformer, the one `match` on the architecture.
//! - `transformer`: the stacked GPT-2 decoder, its names and init.
//! - `adamw`: AdamW in two groups with per-member learning rates and weight decays.
//! - `training`: the population behind the [`crate::Population`] seam.
//! - `measured`: trained members behind [`crate::MeasuredPopulation`] (Hessian, CKA).
//! - `family`: the family behind [`crate::ZooFamily`] (grouping, training a unit).

mod adamw;
mod decoder;
mod family;
mod measured;
mod net;
mod training;
mod transformer;

pub use family::ModArithFamily;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod transformer_tests;
