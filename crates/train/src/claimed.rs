//! The one way units of work are picked and finished (docs/CLUSTER.md), whatever a unit is (a
//! population to train, a group of cells to measure, a cell to apply something to) and
//! whoever runs it: `phasezoo train` and `metrics` (threads of one process holding the zoo's
//! exclusive lock) and `phasezoo work` (one process of many holding it shared).
//!
//! A run makes passes. Each pass asks which units have work left, hands them to a
//! [`pz_exec::Pool`] of threads over the devices (packed by their costs), and each thread
//! claims its unit ([`Claims::try_claim`]), works on it while a heartbeat renews the lease
//! ([`Claims::hold`]) and releases it. A unit another worker holds is left to it; while any
//! was, the run waits and makes another pass, so that it takes such a unit over if its holder
//! dies. A pass in which no unit was held elsewhere ends the run: what is left then (a unit
//! that failed) is not retried.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use pz_exec::{Cost, Flow, Pool};
use pz_store::{Claims, WorkerIdentity};
use tch::Device;

use crate::Outcome;

/// How a worker presents itself in its claims and how long they last.
#[derive(Debug, Clone)]
pub struct WorkOptions {
    /// Written into its claims.
    pub worker: WorkerIdentity,
    /// A claim's lease, renewed every quarter of it while the unit runs.
    pub lease: Duration,
}

impl WorkOptions {
    /// Lease of a worker that names none: two minutes, renewed every 30 s.
    pub const DEFAULT_LEASE: Duration = Duration::from_secs(120);

    /// This process (`<host>-<pid>`), the default lease: what `train` and `metrics` claim as.
    #[must_use]
    pub fn this_process() -> Self {
        Self { worker: WorkerIdentity::current(None), lease: Self::DEFAULT_LEASE }
    }
}

/// What one worker did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkReport {
    /// Finished: no unit is left to anyone; Interrupted: the stop flag was raised.
    pub outcome: Outcome,
    /// Units this worker worked on to their end (or their failure).
    pub units: usize,
}

/// A unit with work left, as a pass hands it out.
#[derive(Debug, Clone)]
pub struct ClaimedUnit<T> {
    /// The claim's name (`work/claims/<id>.claim`): the same in every worker.
    pub id: String,
    /// What the work needs to know about it.
    pub item: T,
    /// Its expected cost, for the pool's packing.
    pub cost: Cost,
}

impl<T> ClaimedUnit<T> {
    /// A unit without a cost: the pool hands such units out first come.
    pub fn first_come(id: String, item: T) -> Self {
        Self { id, item, cost: Cost::FIRST_COME }
    }
}

/// How a unit's work ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitEnd {
    /// Worked on to its end (done, or failed and recorded so).
    Done,
    /// Nothing was left under the claim (another worker finished it meanwhile).
    NothingLeft,
    /// Stopped by the flag it was given (a stop request, or the lease was lost).
    Interrupted,
}

/// An error type a claimed run can return: the store's errors, and a worker thread's panic.
pub trait UnitError: From<pz_store::Error> + Send {
    /// The error of a worker thread that panicked with `message`.
    fn panicked(message: String) -> Self;
}

impl UnitError for crate::Error {
    fn panicked(message: String) -> Self {
        Self::Config(format!("a worker thread panicked: {message}"))
    }
}

/// One worker's run over a zoo's units (see the module notes).
#[derive(Debug, Clone, Copy)]
pub struct ClaimedRun<'a> {
    /// The zoo folder (its claims are under `work/claims/`).
    pub zoo: &'a Path,
    /// Devices of the pool's threads (thread i on device i mod n).
    pub devices: &'a [Device],
    /// Threads.
    pub jobs: usize,
    /// Raised to stop: no unit is taken after it, and running ones are told.
    pub stop: &'a AtomicBool,
    /// Identity and lease.
    pub options: &'a WorkOptions,
}

impl ClaimedRun<'_> {
    /// Run passes until no unit is left to anyone or `stop` is raised. `pending` lists the
    /// units with work left (asked at each pass); `init` makes a thread's state on its device;
    /// `work` does one claimed unit, reading again under the claim what is left of it, and
    /// watches the flag it is given.
    ///
    /// # Errors
    /// The first error of `pending` or of a unit's work (in time), or a claim's I/O.
    pub fn run<T: Send + Sync, S, E: UnitError>(
        &self,
        mut pending: impl FnMut() -> Result<Vec<ClaimedUnit<T>>, E>,
        init: impl Fn(Device) -> S + Sync,
        work: impl Fn(&mut S, &T, Device, &AtomicBool) -> Result<UnitEnd, E> + Sync,
    ) -> Result<WorkReport, E> {
        let claims = Claims::new(self.zoo, self.options.lease);
        let poll = (self.options.lease / 4).clamp(Duration::from_millis(100), Duration::from_secs(10));
        let worker = &self.options.worker.worker_id;
        let mut report = WorkReport { outcome: Outcome::Finished, units: 0 };
        loop {
            let units = pending()?;
            if units.is_empty() {
                return Ok(report);
            }
            let (held_elsewhere, done) = (AtomicBool::new(false), AtomicUsize::new(0));
            let items = units.into_iter().map(|u| {
                let cost = u.cost;
                (u, cost)
            });
            let items = items.collect();
            let flow = Pool::new(self.devices, self.jobs)
                .with_stop(self.stop)
                .run(
                    items,
                    |_, _| {},
                    &init,
                    |state, unit: ClaimedUnit<T>, device| {
                        let Some(claim) = claims.try_claim(&unit.id, &self.options.worker)? else {
                            held_elsewhere.store(true, Ordering::SeqCst);
                            return Ok(Flow::Continue);
                        };
                        tracing::info!(unit = %unit.id, worker, "claimed");
                        let (end, lost) = claims
                            .hold(claim, self.stop, |unit_stop| work(state, &unit.item, device, unit_stop))?;
                        match end? {
                            UnitEnd::Done => {
                                done.fetch_add(1, Ordering::SeqCst);
                            }
                            UnitEnd::Interrupted if self.stop.load(Ordering::SeqCst) => {
                                return Ok(Flow::Stop)
                            }
                            UnitEnd::Interrupted | UnitEnd::NothingLeft => {}
                        }
                        if lost {
                            // Its new owner finishes it; this worker waits to see that happen.
                            held_elsewhere.store(true, Ordering::SeqCst);
                        }
                        Ok(Flow::Continue)
                    },
                )
                .map_err(|e| e.into_work_error(E::panicked))?;
            report.units += done.into_inner();
            if flow == Flow::Stop || self.stop.load(Ordering::SeqCst) {
                report.outcome = Outcome::Interrupted;
                return Ok(report);
            }
            if !held_elsewhere.into_inner() {
                return Ok(report);
            }
            let waited = std::time::Instant::now();
            while waited.elapsed() < poll && !self.stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// The pool's cost of a unit made of several of a family's units (normally one): the largest
/// share of a GPU, the work summed.
#[must_use]
pub fn combined_cost(costs: impl IntoIterator<Item = Cost>) -> Cost {
    costs
        .into_iter()
        .fold(Cost::FIRST_COME, |a, c| Cost { share: a.share.max(c.share), work: a.work + c.work })
}

#[cfg(test)]
#[path = "claimed_tests.rs"]
mod tests;
