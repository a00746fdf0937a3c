//! Training a whole zoo: which models still need training, how they group into training units
//! (populations), what each unit costs a GPU, and the one worker pool (pz-exec) that runs them;
//! a unit whose training fails (out of memory, a libtorch error, a panic) has its models marked
//! failed with the message and the others go on.
//!
//! Everything here works on a [`ZooFamily`] (the registry, [`crate::zoo_family`], is the one
//! place that tells families apart) and on units of planned models.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pz_exec::{panic_message, Cost, Flow, Pool};
use pz_spec::{Plan, PlannedModel};
use pz_store::{load_or_create_units, Claims, ModelState, ModelStatus, WorkUnit, WorkerIdentity, ZooDir};
use tch::Device;

use crate::family::{WorkerCache, ZooFamily};
use crate::{Error, Outcome, Reporter, Run};

/// What a `train` run will do: the models still to train (neither done nor failed) grouped into
/// units with their costs, their total model-steps and the number of workers.
#[derive(Debug)]
pub struct TrainingPlan {
    /// Models to train.
    pub todo: usize,
    /// Training units (populations) of those models, plan order, with their costs.
    pub units: Vec<(Vec<PlannedModel>, Cost)>,
    /// Optimizer steps over all of them (for progress).
    pub model_steps: u64,
    /// Worker threads.
    pub jobs: usize,
}

/// Which models of `plan` still need training in `zoo`, and how they will run on `devices` with
/// `jobs` workers (default: one per device, eight per GPU for image models).
///
/// # Errors
/// A status or result file that cannot be read.
pub fn plan_training(
    zoo: &ZooDir,
    plan: &Plan,
    family: &dyn ZooFamily,
    devices: &[Device],
    jobs: Option<usize>,
) -> Result<TrainingPlan, Error> {
    let mut todo = Vec::new();
    for m in &plan.models {
        match zoo.model(m.id()).read_status()?.state {
            ModelState::Done | ModelState::Failed => {}
            _ => todo.push(m.clone()),
        }
    }
    let model_steps =
        todo.iter().map(|m| u64::from(m.config.train.epochs) * family.steps_per_epoch(&m.config)).sum();
    let jobs = jobs.unwrap_or(family.workers_per_device(devices) * devices.len()).max(1);
    let count = todo.len();
    let units = family.units(todo, devices, zoo.spec.run.max_population);
    Ok(TrainingPlan { todo: count, units, model_steps, jobs })
}

/// Train `work`'s units on `devices` (worker i on device i mod n, each on its own CUDA
/// stream so that workers sharing a GPU overlap), writing into `zoo`. A unit whose training
/// fails for a reason other than the zoo's files (those end the run: the first names the file)
/// has its models marked failed with the message.
///
/// # Errors
/// Reading or writing the zoo failed.
pub fn train_zoo(
    zoo: &ZooDir,
    family: &dyn ZooFamily,
    work: TrainingPlan,
    devices: &[Device],
    reporter: &dyn Reporter,
    stop: &AtomicBool,
) -> Result<Outcome, Error> {
    let on_start = |worker: usize, device| {
        if let Device::Cuda(index) = device {
            let own = pz_device::use_own_cuda_stream(index);
            tracing::debug!(worker, own, "CUDA stream");
        }
    };
    // No stop flag for the pool: the trainings watch it and come back Interrupted.
    let flow = Pool::new(devices, work.jobs)
        .run(
            work.units,
            on_start,
            |_| None,
            |cache, unit, device| match train_unit(zoo, family, cache, &unit, device, reporter, stop)? {
                Outcome::Finished => Ok(Flow::Continue),
                Outcome::Interrupted => Ok(Flow::Stop),
            },
        )
        .map_err(|e| {
            e.into_work_error(|message| Error::Config(format!("a training thread panicked: {message}")))
        })?;
    Ok(if flow == Flow::Stop { Outcome::Interrupted } else { Outcome::Finished })
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
    // libtorch errors inside tch's operations (CUDA out of memory, …) arrive as panics:
    // caught here, they are the unit's, not the whole run's.
    let trained =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| family.train_unit(cache, unit, &run)))
            .unwrap_or_else(|panic| Err(Error::Config(panic_message(panic.as_ref()))));
    match trained {
        Ok(outcome) => Ok(outcome),
        Err(e @ Error::Store(_)) => Err(e),
        Err(e) => {
            mark_failed(zoo, unit, &failure_message(&e.to_string()), reporter)?;
            Ok(Outcome::Finished)
        }
    }
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

/// How a worker of a shared zoo ([`work_zoo`]) presents itself and how long its claims last.
#[derive(Debug, Clone)]
pub struct WorkOptions {
    /// Written into its claims.
    pub worker: WorkerIdentity,
    /// A claim's lease, renewed every quarter of it while the unit trains.
    pub lease: Duration,
}

/// What one worker did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkReport {
    /// Finished: no unit is left to anyone; Interrupted: `stop` was raised.
    pub outcome: Outcome,
    /// Units this worker trained (to their end, or to their failure).
    pub units: usize,
}

/// The zoo's shared units (`work/units.json`): read, or made from all of `plan`'s models as
/// `family` groups them on `devices` and written, if no worker has yet.
///
/// # Errors
/// As [`pz_store::load_or_create_units`].
pub fn work_units(
    zoo: &ZooDir,
    plan: &Plan,
    family: &dyn ZooFamily,
    devices: &[Device],
) -> Result<Vec<WorkUnit>, Error> {
    Ok(load_or_create_units(&zoo.path, || {
        let units = family.units(plan.models.clone(), devices, zoo.spec.run.max_population);
        units
            .iter()
            .map(|(models, _)| WorkUnit::new(&models.iter().map(PlannedModel::id).collect::<Vec<_>>()))
            .collect()
    })?)
}

/// One worker of a zoo that many share (`phasezoo work`, on this machine or others): claim a
/// unit with models left, train those models through [`train_unit`] (resuming from their
/// newest intact checkpoints), release it, and go on until every unit is done or failed. Units
/// other workers hold are waited for: when a holder dies its lease runs out and this worker
/// takes the unit over. Hold a [`pz_store::WorkerLock`] meanwhile.
///
/// # Errors
/// Reading or writing the zoo or its claims failed.
pub fn work_zoo(
    zoo: &ZooDir,
    plan: &Plan,
    family: &dyn ZooFamily,
    device: Device,
    reporter: &dyn Reporter,
    stop: &AtomicBool,
    options: &WorkOptions,
) -> Result<WorkReport, Error> {
    let units = work_units(zoo, plan, family, &[device])?;
    let by_id: HashMap<&str, &PlannedModel> = plan.models.iter().map(|m| (m.id().as_str(), m)).collect();
    let claims = Claims::new(&zoo.path, options.lease);
    let poll = (options.lease / 4).clamp(Duration::from_millis(100), Duration::from_secs(10));
    let mut cache: WorkerCache = None;
    let mut trained = 0;
    loop {
        let mut held_elsewhere = false;
        for unit in &units {
            if stop.load(Ordering::SeqCst) {
                return Ok(WorkReport { outcome: Outcome::Interrupted, units: trained });
            }
            if models_left(zoo, unit, &by_id)?.is_empty() {
                continue;
            }
            let Some(claim) = claims.try_claim(&unit.id, &options.worker)? else {
                held_elsewhere = true;
                continue;
            };
            // Read again under the claim: its last holder may have finished it meanwhile.
            let todo = models_left(zoo, unit, &by_id)?;
            let worker = &options.worker.worker_id;
            tracing::info!(unit = %unit.id, models = todo.len(), worker, "claimed");
            let (outcome, lost) = claims.hold(claim, stop, |unit_stop| {
                if todo.is_empty() {
                    return Ok(Outcome::Finished);
                }
                train_unit(zoo, family, &mut cache, &todo, device, reporter, unit_stop)
            })?;
            match outcome? {
                Outcome::Finished if !todo.is_empty() => trained += 1,
                Outcome::Interrupted if stop.load(Ordering::SeqCst) => {
                    return Ok(WorkReport { outcome: Outcome::Interrupted, units: trained });
                }
                _ if lost => held_elsewhere = true,
                _ => {}
            }
        }
        if !held_elsewhere {
            return Ok(WorkReport { outcome: Outcome::Finished, units: trained });
        }
        std::thread::sleep(poll);
    }
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
