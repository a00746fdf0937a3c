//! The epoch loop at the heart of training: a population's steps epoch after epoch, timed, with
//! what happens after each epoch's steps left to the caller. [`crate::run_population`] records,
//! checkpoints and marks statuses there; the throughput bench (`classify::bench`) does nothing
//! there, so that it times exactly the steps `train` runs.

use std::ops::RangeInclusive;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use crate::population::{MemberEpoch, Population};
use crate::Error;

/// What the caller decides after an epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterEpoch {
    /// Train the next epoch.
    Continue,
    /// End here (every member failed).
    Stop,
}

/// What runs after an epoch's steps: given the population, the epoch and the members' numbers.
pub type AfterEpochFn<'a> =
    dyn FnMut(&dyn Population, u32, Vec<MemberEpoch>) -> Result<AfterEpoch, Error> + 'a;

/// How long the epochs took.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct EpochTimes {
    /// Epochs trained.
    pub epochs: u32,
    /// Seconds in steps, all epochs.
    pub step_secs: f64,
    /// Seconds in the first epoch's steps, which also pay one-off costs (kernel compilation,
    /// cuBLAS plans, a graph capture).
    pub first_epoch_step_secs: f64,
    /// Seconds in the last epoch's steps.
    pub last_epoch_step_secs: f64,
    /// Seconds after the steps (the caller's: evaluation, results, checkpoints).
    pub after_secs: f64,
}

/// How the epochs ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EpochsEnd {
    /// Every epoch ran.
    Completed(EpochTimes),
    /// The caller stopped after this epoch.
    Stopped(u32),
    /// `stop` was raised mid-epoch: that epoch is incomplete.
    Interrupted,
}

/// Train `pop` for `epochs` (1-based epoch numbers); after every epoch's steps, call
/// `after(pop, epoch, numbers)`. `on_steps(n)` after every n model-steps (progress).
///
/// # Errors
/// The population's and `after`'s errors.
pub fn run_epochs(
    pop: &mut dyn Population,
    epochs: RangeInclusive<u32>,
    stop: &AtomicBool,
    on_steps: &mut dyn FnMut(u64),
    after: &mut AfterEpochFn,
) -> Result<EpochsEnd, Error> {
    let mut times = EpochTimes::default();
    for epoch in epochs {
        let started = Instant::now();
        let Some(numbers) = pop.train_epoch(epoch, stop, on_steps)? else {
            return Ok(EpochsEnd::Interrupted);
        };
        let step_secs = started.elapsed().as_secs_f64();
        if times.epochs == 0 {
            times.first_epoch_step_secs = step_secs;
        }
        times.epochs += 1;
        times.step_secs += step_secs;
        times.last_epoch_step_secs = step_secs;
        let after_steps = Instant::now();
        let next = after(&*pop, epoch, numbers)?;
        times.after_secs += after_steps.elapsed().as_secs_f64();
        tracing::debug!(epoch, secs = started.elapsed().as_secs_f64(), "population epoch");
        if next == AfterEpoch::Stop {
            return Ok(EpochsEnd::Stopped(epoch));
        }
    }
    Ok(EpochsEnd::Completed(times))
}
