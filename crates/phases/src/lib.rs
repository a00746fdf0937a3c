//! Phase labels of a zoo's grid cells, and the zoo read per grid cell.
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
//! Modular-arithmetic zoos get the learning phases of Liu et al. (2022) instead —
//! comprehension, grokking, memorization, confusion — per model from the steps to reach the
//! accuracy threshold on train and validation data ([`label_learning`], [`label_learning_zoo`]).
//!
//! Around the rules, the grid: [`ZooView`] opens a zoo for reading (writing nothing) and gives
//! seed means per cell; [`label_zoo`] and [`label_summary`] label a whole grid
//! ([`LabelledGrid`], what `phasezoo phases` prints and the plots and report draw);
//! [`hessian_check`] sets each label beside the Hessian (reported, never an input);
//! [`write_labelled_index`] writes the per-epoch index with each cell's phase at each epoch;
//! [`zoo_status`] counts models per state. Functions return values; the binary prints them.
//!
//! No tensors here, and nothing printed.
//!
//! ```no_run
//! let view = pz_phases::ZooView::open(std::path::Path::new("zoos/convection-small"))?;
//! let grid = pz_phases::label_zoo(&view);
//! // One row of phase codes ("I" … "IV-B", "?" or a first label) per temperature value.
//! let table: Vec<(f64, Vec<&str>)> =
//!     grid.rows().map(|(t, row)| (t, row.iter().map(pz_phases::GridCell::code).collect())).collect();
//! # Ok::<(), pz_phases::Error>(())
//! ```
#![deny(missing_docs)]

mod epochs;
mod error;
mod explain;
mod first;
mod grid;
mod hessian_check;
mod learning;
mod learning_zoo;
mod llc_curves;
mod status;
mod summary;
#[cfg(test)]
mod testzoo;
mod text;
mod view;
mod yang;

pub use epochs::{label_epoch_rows, write_indexes, write_labelled_index};
pub use error::{Error, Result};
pub use explain::{coverage, explain_cell};
pub use first::{label_cell, CellLabel, FirstLabel};
pub use grid::{label_grid, label_zoo, GridCell, LabelledGrid};
pub use hessian_check::{hessian_check, AgainstMedian, HessianCheck, Sharpness};
pub use learning::{label_learning, majority, steps_to_reach, LearningLabel, LearningPhase, LearningRule};
pub use learning_zoo::{
    accuracy_curves, label_learning_zoo, learning_rule, Curve, LearningCell, LearningGrid, ModelLearning,
};
pub use llc_curves::{
    jump_indices, model_llc_curve, zoo_llc_curves, LlcCurve, ZooLlcCurves, MIN_INCREMENTS, SIGNIFICANCE,
    STANDS_OUT,
};
pub use status::{zoo_status, CellStatus, StateCounts, ZooStatus};
pub use summary::{label_summary, ptmz_thresholds, PTMZ_MC_METRIC};
pub use text::{fmt_value, learning_json, learning_text, yang_json, yang_text};
pub use view::ZooView;
pub use yang::{
    label_cell_yang, loss_threshold, mc_dead_zone, mc_scale_field, CellMetrics, Margins, Phase, PhaseLabel,
};
