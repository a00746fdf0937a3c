//! Training a whole zoo: which models still need training, how they group into training units
//! (populations), what each unit costs a GPU, and the one worker pool (pz-exec) that runs them;
//! a unit whose training fails (out of memory, a libtorch error, a panic) has its models marked
//! failed with the message and the others go on.
//!
//! Everything here works on a [`ZooFamily`] (the registry, [`crate::zoo_family`], is the one
//! place that tells families apart) and on units of planned models.

use std::sync::atomic::AtomicBool;

use pz_exec::{panic_message, Cost, Flow, Pool};
use pz_spec::{Plan, PlannedModel};
use pz_store::{ModelState, ModelStatus, ZooDir};
use tch::Device;

use crate::family::ZooFamily;
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
    let spec = &zoo.spec;
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
            |cache, unit, device| {
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
                let trained = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    family.train_unit(cache, &unit, &run)
                }))
                .unwrap_or_else(|panic| Err(Error::Config(panic_message(panic.as_ref()))));
                match trained {
                    Ok(Outcome::Finished) => Ok(Flow::Continue),
                    Ok(Outcome::Interrupted) => Ok(Flow::Stop),
                    Err(e @ Error::Store(_)) => Err(e),
                    Err(e) => {
                        mark_failed(zoo, &unit, &failure_message(&e.to_string()), reporter)?;
                        Ok(Flow::Continue)
                    }
                }
            },
        )
        .map_err(|e| {
            e.into_work_error(|message| Error::Config(format!("a training thread panicked: {message}")))
        })?;
    Ok(if flow == Flow::Stop { Outcome::Interrupted } else { Outcome::Finished })
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
