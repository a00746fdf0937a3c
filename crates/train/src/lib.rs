//! Training: populations of models trained in lockstep, batched optimizers, and the loop that
//! evaluates, records and checkpoints every member and resumes after a crash.
//!
//! Families: PINNs (stacked populations), image classifiers ([`classify`]) and GPT-2 language
//! models ([`LmFamily`]).
//!
//! Principal items: [`train_population`] (one population, resumable), [`group_populations`]
//! (which planned models can share one population), [`Reporter`] (progress callbacks the CLI
//! draws as bars), [`BatchedAdam`].
//!
//! A member's numbers do not depend on the population it trains in: every per-model quantity
//! (initialization, collocation points, learning rate, β) is its own, and the loss of the
//! population is the sum of the members' losses, whose gradient with respect to a member's
//! parameters is that member's own gradient.

mod adam;
mod claimed;
pub mod classify;
mod epochs;
mod error;
mod family;
mod fits;
mod fused_adam;
mod graph_state;
mod grouping;
mod lm;
mod load;
mod measured;
mod modarith;
mod pinn;
mod population;
mod reporter;
mod resume;
mod runner;
pub mod vision;
mod weights;
mod zoo;

pub use adam::BatchedAdam;
pub use claimed::{combined_cost, ClaimedRun, ClaimedUnit, UnitEnd, UnitError, WorkOptions, WorkReport};
pub use epochs::{run_epochs, AfterEpoch, EpochTimes, EpochsEnd};
pub use error::Error;
pub use family::{finetune_data, zoo_data, zoo_family, WorkerCache, ZooData, ZooFamily};
pub use fits::check_devices_hold;
pub use lm::LmFamily;
pub use load::{checkpoint_as, checkpoint_at, load_population};
pub use measured::{CurveProblem, LossGraph, MeasuredPopulation};
pub use pinn::{group_populations, train_population, Evaluation, PinnFamily, PinnPopulation};
pub use population::{MemberEpoch, Population};
pub use reporter::{NoReporter, Reporter};
pub use resume::common_resume_epoch;
pub use runner::{resolve_device, run_population, Outcome, Run};
pub use weights::{BnConditioning, FinetuneRequest, Scores, WeightScores, WeightsRequest, PTMZ_PASSES};
pub use zoo::{
    plan_training, train_unit, train_zoo, training_units_left, work_units, work_zoo, TrainingPlan, ZooAccess,
};

#[cfg(test)]
mod tests;
