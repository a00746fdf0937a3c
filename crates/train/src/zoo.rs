//! Training a whole zoo: which models still need training, how they group into training units
//! (populations), what each unit costs a GPU, and the claimed run ([`crate::ClaimedRun`]) that
//! trains them, the same for `phasezoo train` (its threads, under the zoo's exclusive lock) and
//! `phasezoo work` (a worker among many, under a shared lock). A unit whose training fails (out
//! of memory, a libtorch error, a panic) has its models marked failed with the message and the
//! others go on.
//!
//! Everything here works on a [`ZooFamily`] (the registry, [`crate::zoo_family`], is the one
//! place that tells families apart) and on units of planned models.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;

use pz_spec::{Plan, PlannedModel};
use pz_store::{
    load_or_create_units, replace_units, Claims, ModelState, ModelStatus, WorkUnit, WorkerLock, ZooDir,
    ZooLock,
};
use tch::Device;

use pz_exec::panic_message;

use crate::claimed::{combined_cost, ClaimedRun, ClaimedUnit, UnitEnd, WorkOptions, WorkReport};
use crate::family::{WorkerCache, ZooFamily};
use crate::{Error, Outcome, Reporter, Run};

/// How a process holds the zoo it trains.
#[derive(Debug, Clone, Copy)]
pub enum ZooAccess<'a> {
    /// Alone (`phasezoo train`): the units are grouped anew from the spec, and claims a killed
    /// run left are stale and cleared.
    Exclusive(&'a ZooLock),
    /// Beside other workers (`phasezoo work`): the units are the zoo's `work/units.json`, the
    /// first worker's, so that every worker claims the same ones.
    Shared(&'a WorkerLock),
}

/// What a training run will do: the zoo's units, the models still to train (neither done nor
/// failed), the units that hold them, their total model-steps and the number of threads.
#[derive(Debug)]
pub struct TrainingPlan<'a> {
    /// Models to train.
    pub todo: usize,
    /// Units with models to train.
    pub waiting: usize,
    /// Every unit of the zoo (populations, or one model each), plan order.
    pub units: Vec<WorkUnit>,
    /// Optimizer steps over the models to train (for progress).
    pub model_steps: u64,
    /// Threads.
    pub jobs: usize,
    /// How the run holds the zoo (alone, it leaves no claim folder behind).
    access: ZooAccess<'a>,
}

/// Which models of `plan` still need training in `zoo`, in which units, and how many threads
/// run them on `devices` (`jobs`; default: one per device, eight per GPU for image models).
///
/// # Errors
/// A status, units or claims file that cannot be read or written.
pub fn plan_training<'a>(
    zoo: &ZooDir,
    plan: &Plan,
    family: &dyn ZooFamily,
    devices: &[Device],
    jobs: Option<usize>,
    access: ZooAccess<'a>,
) -> Result<TrainingPlan<'a>, Error> {
    let grouped = || grouped_units(zoo, plan, family, devices);
    let units = match access {
        ZooAccess::Exclusive(lock) => {
            let removed = Claims::new(&zoo.path, WorkOptions::DEFAULT_LEASE).clear_stale(lock)?;
            if removed > 0 {
                tracing::info!(removed, "removed the claims of an interrupted run");
            }
            replace_units(&zoo.path, lock, grouped())?
        }
        ZooAccess::Shared(_) => load_or_create_units(&zoo.path, grouped)?,
    };
    let by_id = by_id(plan);
    let (mut todo, mut waiting, mut model_steps) = (0, 0, 0);
    for unit in &units {
        let left = models_left(zoo, unit, &by_id)?;
        todo += left.len();
        waiting += usize::from(!left.is_empty());
        model_steps += left
            .iter()
            .map(|m| u64::from(m.config.train.epochs) * family.steps_per_epoch(&m.config))
            .sum::<u64>();
    }
    let jobs = jobs.unwrap_or(family.workers_per_device(devices) * devices.len()).max(1);
    Ok(TrainingPlan { todo, waiting, units, model_steps, jobs, access })
}

/// Every model of `plan` in units as `family` groups them on `devices` now.
fn grouped_units(zoo: &ZooDir, plan: &Plan, family: &dyn ZooFamily, devices: &[Device]) -> Vec<WorkUnit> {
    let units = family.units(plan.models.clone(), devices, zoo.spec.run.max_population);
    units
        .iter()
        .map(|(models, _)| WorkUnit::new(&models.iter().map(PlannedModel::id).collect::<Vec<_>>()))
        .collect()
}

/// The zoo's shared units (`work/units.json`): read, or made from all of `plan`'s models as
/// `family` groups them on `devices` and written, if no worker has yet (`phasezoo submit`
/// writes them before the workers start).
///
/// # Errors
/// As [`pz_store::load_or_create_units`].
pub fn work_units(
    zoo: &ZooDir,
    plan: &Plan,
    family: &dyn ZooFamily,
    devices: &[Device],
) -> Result<Vec<WorkUnit>, Error> {
    Ok(load_or_create_units(&zoo.path, || grouped_units(zoo, plan, family, devices))?)
}

/// How many of the zoo's training units (as [`work_units`] makes and stores them) there are,
/// and how many of them still have models to train: what `phasezoo submit` sizes a job by.
///
/// # Errors
/// As [`work_units`], or the units' models' status files unreadable.
pub fn training_units_left(
    zoo: &ZooDir,
    plan: &Plan,
    family: &dyn ZooFamily,
    devices: &[Device],
) -> Result<(usize, usize), Error> {
    let units = work_units(zoo, plan, family, devices)?;
    let states = pz_store::work_status(zoo)?.unwrap_or_default();
    let left = states
        .iter()
        .filter(|(_, s)| !matches!(s, pz_store::UnitState::Done | pz_store::UnitState::Failed))
        .count();
    Ok((units.len(), left))
}

/// Train `work`'s units on `devices` (thread i on device i mod n, each on its own CUDA
/// stream so that threads sharing a GPU overlap), writing into `zoo`, each unit claimed as
/// `options` says while it trains: picked, claimed, trained from its models' newest intact
/// checkpoints and released as [`ClaimedRun`] does, until every unit is done or failed (units
/// other workers hold are waited for and taken over if their holders die). A unit whose
/// training fails for a reason other than the zoo's files (those end the run: the first names
/// the file) has its models marked failed with the message.
///
/// # Errors
/// Reading or writing the zoo or its claims failed.
#[allow(clippy::too_many_arguments)] // the zoo, its plan, where, and who: each a separate choice
pub fn train_zoo(
    zoo: &ZooDir,
    plan: &Plan,
    family: &dyn ZooFamily,
    work: TrainingPlan<'_>,
    devices: &[Device],
    reporter: &dyn Reporter,
    stop: &AtomicBool,
    options: &WorkOptions,
) -> Result<WorkReport, Error> {
    let by_id = by_id(plan);
    let max_population = zoo.spec.run.max_population;
    let pending = || -> Result<Vec<ClaimedUnit<WorkUnit>>, Error> {
        let mut out = Vec::new();
        for unit in &work.units {
            let left = models_left(zoo, unit, &by_id)?;
            if !left.is_empty() {
                let cost =
                    combined_cost(family.units(left, devices, max_population).into_iter().map(|(_, c)| c));
                out.push(ClaimedUnit { id: unit.id.clone(), item: unit.clone(), cost });
            }
        }
        Ok(out)
    };
    let init = |device| -> WorkerCache {
        if let Device::Cuda(index) = device {
            let own = pz_device::use_own_cuda_stream(index);
            tracing::debug!(own, "CUDA stream");
        }
        None
    };
    let run = ClaimedRun { zoo: &zoo.path, devices, jobs: work.jobs, stop, options };
    let report = run.run(pending, init, |cache, unit: &WorkUnit, device, unit_stop| {
        // Read again under the claim: its last holder may have finished it meanwhile.
        let todo = models_left(zoo, unit, &by_id)?;
        if todo.is_empty() {
            return Ok(UnitEnd::NothingLeft);
        }
        tracing::info!(unit = %unit.id, models = todo.len(), "training");
        Ok(match train_unit(zoo, family, cache, &todo, device, reporter, unit_stop)? {
            Outcome::Finished => UnitEnd::Done,
            Outcome::Interrupted => UnitEnd::Interrupted,
        })
    })?;
    if let ZooAccess::Exclusive(lock) = work.access {
        // Alone on the zoo: nothing of the claims needs to outlive the run.
        Claims::new(&zoo.path, options.lease).clear_stale(lock)?;
    }
    Ok(report)
}

/// Train one unit on `device` through its family, as a worker of [`train_zoo`] or of
/// [`crate::work_zoo`] does: a failure other than the zoo's files (a libtorch error, a panic)
/// marks the unit's models failed and counts as finished; `stop` interrupts it.
///
/// # Errors
/// Reading or writing the zoo failed.
pub fn train_unit(
    zoo: &ZooDir,
    family: &dyn ZooFamily,
    cache: &mut WorkerCache,
    unit: &[PlannedModel],
    device: Device,
    reporter: &dyn Reporter,
    stop: &AtomicBool,
) -> Result<Outcome, Error> {
    let spec = &zoo.spec;
    let run = Run {
        zoo,
        policy: &spec.checkpoint,
        device,
        cuda_graphs: spec.run.graph,
        fused_kernels: spec.run.fused_kernels,
        layout: spec.run.layout,
        reporter,
        stop,
    };
    let trained = unit_caught(|| family.train_unit(cache, unit, &run));
    if device.is_cuda() {
        // The unit's models are gone; their cached memory goes back for the next units.
        pz_device::release_cached_gpu_memory();
    }
    match trained {
        Ok(outcome) => Ok(outcome),
        Err(e @ Error::Store(_)) => Err(e),
        Err(e) => {
            mark_failed(zoo, unit, &failure_message(&e.to_string()), reporter)?;
            Ok(Outcome::Finished)
        }
    }
}

/// `train` with its panics caught: libtorch errors inside tch's operations (CUDA out of memory,
/// …) arrive as panics, and they are the unit's, not the whole run's. The thread trains the
/// next unit, so what a panic can leave behind on it is put back (`pz_device::restore_grad_mode`
/// says what and why).
fn unit_caught<T>(train: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(train)).unwrap_or_else(|panic| {
        pz_device::restore_grad_mode();
        Err(Error::Config(panic_message(panic.as_ref())))
    })
}

/// One unit's failure is its models': each is marked failed with the reason.
fn mark_failed(
    zoo: &ZooDir,
    unit: &[PlannedModel],
    message: &str,
    reporter: &dyn Reporter,
) -> Result<(), Error> {
    for m in unit {
        tracing::error!(model = %m.id(), "{message}");
        zoo.model(m.id()).write_status(&ModelStatus {
            state: ModelState::Failed,
            epoch: None,
            message: Some(message.to_string()),
        })?;
        reporter.on_model_done(m.id(), ModelState::Failed);
    }
    Ok(())
}

/// A failed model's reason, with what to try for running out of GPU memory.
fn failure_message(text: &str) -> String {
    if text.contains("out of memory") {
        format!("{text} (hint: set train.micro_batch, e.g. --set train.micro_batch=128, or train fewer models per GPU with --jobs; delete this model's status.json to retry)")
    } else {
        text.to_string()
    }
}

/// One worker of a zoo that many share (`phasezoo work`, on this machine or others): the
/// zoo's units ([`ZooAccess::Shared`]) trained on `device` by one thread through
/// [`train_zoo`], until every unit is done or failed. Hold the [`WorkerLock`] meanwhile.
///
/// # Errors
/// Reading or writing the zoo or its claims failed.
#[allow(clippy::too_many_arguments)] // train_zoo's choices, with the worker's lock for its device list
pub fn work_zoo(
    zoo: &ZooDir,
    lock: &WorkerLock,
    plan: &Plan,
    family: &dyn ZooFamily,
    device: Device,
    reporter: &dyn Reporter,
    stop: &AtomicBool,
    options: &WorkOptions,
) -> Result<WorkReport, Error> {
    let work = plan_training(zoo, plan, family, &[device], Some(1), ZooAccess::Shared(lock))?;
    train_zoo(zoo, plan, family, work, &[device], reporter, stop, options)
}

fn by_id(plan: &Plan) -> HashMap<&str, &PlannedModel> {
    plan.models.iter().map(|m| (m.id().as_str(), m)).collect()
}

/// `unit`'s models that are neither done nor failed, in plan order.
fn models_left(
    zoo: &ZooDir,
    unit: &WorkUnit,
    by_id: &HashMap<&str, &PlannedModel>,
) -> Result<Vec<PlannedModel>, Error> {
    let mut left = Vec::new();
    for id in &unit.models {
        let m = by_id.get(id.as_str()).ok_or_else(|| {
            Error::Config(format!("work/units.json names model {id}, which the zoo's plan does not hold"))
        })?;
        if !matches!(zoo.model(m.id()).read_status()?.state, ModelState::Done | ModelState::Failed) {
            left.push((*m).clone());
        }
    }
    Ok(left)
}

#[cfg(test)]
mod tests {
    use tch::{Kind, Tensor};

    use super::unit_caught;
    use crate::Error;

    /// A unit that panics inside `tch::no_grad` (as an out-of-memory error in an evaluation
    /// does) fails with the panic's message, and the next unit on the thread still gets
    /// gradients: without the reset, every later model there failed ("element 0 of tensors
    /// does not require grad").
    #[test]
    fn a_unit_that_panics_without_gradients_leaves_the_next_unit_its_gradients() {
        let failed = unit_caught(|| -> Result<(), Error> { tch::no_grad(|| panic!("CUDA out of memory")) });
        assert!(matches!(&failed, Err(Error::Config(m)) if m.contains("CUDA out of memory")), "{failed:?}");
        let next = unit_caught(|| {
            let w = Tensor::ones([3], (Kind::Float, tch::Device::Cpu)).set_requires_grad(true);
            let loss = (&w * &w).sum(Kind::Float);
            loss.backward();
            Ok(w.grad().double_value(&[0]))
        });
        assert_eq!(next.unwrap(), 2.0);
    }
}
