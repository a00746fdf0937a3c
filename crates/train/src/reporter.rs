//! Progress callbacks. Libraries never draw; the CLI implements these with progress bars.

use pz_spec::ModelId;
use pz_store::ModelState;

/// Receives progress from training. Called from worker threads.
pub trait Reporter: Sync {
    /// A population starts: `models` members, of whose steps `resumed_model_steps` (summed over
    /// members) were done by an earlier run and are not repeated.
    fn on_population_start(&self, _models: usize, _resumed_model_steps: u64) {}
    /// `model_steps` more member-steps are done.
    fn on_model_steps(&self, _model_steps: u64) {}
    /// A member finished (done or failed).
    fn on_model_done(&self, _id: &ModelId, _state: ModelState) {}
}

/// A reporter that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoReporter;

impl Reporter for NoReporter {}
