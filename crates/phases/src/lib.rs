//! Phase labels of a zoo's grid cells.
//!
//! Two rule sets, both pure functions of a cell's seed means and the spec's `[phases]`
//! thresholds, and both reporting the margin to every threshold so a reader sees how firm a
//! label is:
//! - [`label_cell_yang`]: the Yang et al. (2021) taxonomy — phases I (under-fitted and
//!   under-sized), II (under-fitted), III (under-sized), IV-A (over-fitted), IV-B (generalizing)
//!   — from train loss, mode connectivity and CKA (SPEC §4's operational rule; the original has
//!   no code or thresholds for it).
//! - [`label_cell`]: first labels from train loss and test error alone, for zoos whose
//!   landscape metrics are not measured yet.
//!
//! No files and no tensors here: callers hand in numbers (`phasezoo phases` does).
#![deny(missing_docs)]

mod first;
mod yang;

pub use first::{label_cell, CellLabel, FirstLabel};
pub use yang::{label_cell_yang, loss_threshold, CellMetrics, Margins, Phase, PhaseLabel};
