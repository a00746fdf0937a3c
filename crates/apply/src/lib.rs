//! What phases are for (SPEC §5, issue 18): a trained zoo's models averaged over their last
//! epochs (the original's "Wise-FT"), averaged over the seeds of a cell with and without
//! weight matching (its "Git Re-Basin"), interpolated between two seeds (with the barrier
//! height), and ensembled; one result per grid cell in the zoo's `applications.json`.
//!
//! Principal items: [`apply`] (one [`Application`] over every finished cell, resumable),
//! [`ApplyOptions`] (`ptmz_compat`: the original's averaging quirk and BatchNorm
//! conditioning), the file's types ([`Applications`], [`CellRecord`]) and the pure pieces
//! ([`barrier`], [`alphas`]).
//!
//! The crate combines state dicts on the host (`pz-align`: alignment, averaging) and leaves
//! scoring to the zoo's family ([`pz_train::ZooFamily::evaluate_weights`]): it never builds a
//! network itself, so any family that can score weights gets every application.

mod applications;
mod cells;
mod error;
mod record;
mod run;
mod state;

#[cfg(test)]
mod tests;

pub use applications::{alphas, barrier, EPOCH_WINDOW};
pub use error::Error;
pub use record::{cell_key, read, Applications, CellRecord, ScoreRecord, FILE_NAME};
pub use run::{apply, apply_claimed, Application, ApplyOptions, ApplySummary};
pub use state::{to_named, to_state_dict};
