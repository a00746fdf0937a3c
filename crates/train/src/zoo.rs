//! Training a whole zoo: which models still need training, how they group into training units
//! (populations), what each unit costs a GPU, and the one worker pool (pz-exec) that runs them;
//! a unit whose training fails (out of memory, a libtorch error, a panic) has its models marked
//! failed with the message and the others go on.
//!
//! The families are told apart in one place, [`Family::of`] (the registry): everything else here
//! works on units of planned models and on [`crate::run_population`].

use std::sync::atomic::AtomicBool;

use pz_data::vision::VisionData;
use pz_exec::pack::{Cost, GPU_FILLING_MULTIPLY_ADDS, WORKERS_PER_GPU};
use pz_exec::{panic_message, Flow, Pool};
use pz_spec::{ImageConfig, Plan, PlannedModel, ProblemConfig, ResolvedModel};
use pz_store::{ModelState, ModelStatus, ZooDir};
use tch::Device;

use crate::classify::{model_config, step_multiply_adds, train_image_model, ImageTask};
use crate::{group_populations, train_population, Error, Outcome, Reporter, Run};

/// A zoo family, with the data it trains on. The one registry: a new family adds a variant
/// and its arms here.
#[derive(Clone, Copy)]
pub enum Family<'a> {
    /// PINNs on the convection problem, stacked into populations.
    Pinn,
    /// Image classifiers on a dataset, one model per population.
    Image(&'a VisionData),
}

impl<'a> Family<'a> {
    /// The family of a zoo whose spec has `problem`; image zoos need their dataset.
    ///
    /// # Errors
    /// An image zoo without its dataset.
    pub fn of(problem: &ProblemConfig, images: Option<&'a VisionData>) -> Result<Self, Error> {
        match (problem, images) {
            (ProblemConfig::Convection(_), _) => Ok(Self::Pinn),
            (ProblemConfig::Image(_), Some(data)) => Ok(Self::Image(data)),
            (ProblemConfig::Image(_), None) => Err(Error::Config("an image zoo needs its dataset".into())),
        }
    }

    /// Every planned model can be built on the family's data (e.g. a ViT patch that divides the
    /// images), checked before anything is written.
    ///
    /// # Errors
    /// The first model that cannot, with the keys to change.
    pub fn check_models(&self, plan: &Plan) -> Result<(), Error> {
        let Self::Image(data) = self else { return Ok(()) };
        let (c, k, side) = image_shape(data);
        for m in &plan.models {
            let problems = model_config(&m.config, c, k, side).problems();
            if !problems.is_empty() {
                return Err(Error::Config(format!(
                    "model {} ({} = {}, {} = {}) cannot be built on {c}×{side}×{side} images: {}\n  hint: check model.width, model.patch_size and model.head_dim (docs/MODELS.md)",
                    m.id(),
                    m.config.load.name,
                    m.config.load.value,
                    m.config.temperature.name,
                    m.config.temperature.value,
                    problems.join("; ")
                )));
            }
        }
        Ok(())
    }

    /// Optimizer steps per epoch of a model: the spec's for the PINN, a pass over the (sub)set
    /// of training images at the model's batch size for image models.
    #[must_use]
    pub fn steps_per_epoch(&self, config: &ResolvedModel) -> u64 {
        match (self, &config.problem) {
            (Self::Image(data), ProblemConfig::Image(image)) => {
                let n =
                    if image.train_subset == 0 { data.train.n } else { image.train_subset.min(data.train.n) };
                (n as u64).div_ceil(u64::from(config.train.batch_size))
            }
            _ => u64::from(config.train.steps_per_epoch),
        }
    }

    /// Training units (populations) of `todo` with their cost on `devices`: PINN models grouped
    /// into populations of up to `max_population`, first come; image models one each, packed
    /// onto GPUs by their expected share of one (pz_exec::pack), first come on CPUs.
    fn units(
        &self,
        todo: Vec<PlannedModel>,
        devices: &[Device],
        max_population: usize,
    ) -> Vec<(Vec<PlannedModel>, Cost)> {
        match self {
            Self::Pinn => {
                group_populations(&todo, max_population).into_iter().map(|p| (p, Cost::FIRST_COME)).collect()
            }
            Self::Image(data) => {
                let (c, k, side) = image_shape(data);
                todo.into_iter()
                    .map(|m| {
                        let cost = if devices.iter().all(|d| d.is_cuda()) {
                            let step = step_multiply_adds(&m.config, c, k, side);
                            #[allow(clippy::cast_precision_loss)]
                            let steps =
                                (self.steps_per_epoch(&m.config) * u64::from(m.config.train.epochs)) as f64;
                            Cost::on_gpu(step, steps, GPU_FILLING_MULTIPLY_ADDS)
                        } else {
                            Cost::FIRST_COME // CPU workers share cores, not a GPU: first-come order
                        };
                        (vec![m], cost)
                    })
                    .collect()
            }
        }
    }

    /// Workers per device by default: on GPUs, image models pack 8 to a GPU; otherwise one.
    fn workers_per_device(&self, devices: &[Device]) -> usize {
        match self {
            Self::Image(_) if devices.iter().all(|d| d.is_cuda()) => WORKERS_PER_GPU,
            _ => 1,
        }
    }

    /// Train one unit on a worker; `cache` keeps an image worker's dataset on its device.
    fn train_unit(
        &self,
        cache: &mut Option<(ImageConfig, ImageTask)>,
        unit: &[PlannedModel],
        run: &Run,
    ) -> Result<Outcome, Error> {
        match self {
            Self::Pinn => train_population(run, unit),
            Self::Image(data) => {
                let ProblemConfig::Image(image) = &unit[0].config.problem else {
                    return Err(Error::Config(format!("model {} is not an image model", unit[0].id())));
                };
                if cache.as_ref().is_none_or(|(c, _)| c != image) {
                    drop(cache.take()); // free the old copy first
                    *cache = Some((image.clone(), ImageTask::new(data, image, run.device)));
                }
                let (_, task) = cache.as_ref().expect("set above");
                train_image_model(run, &unit[0], task)
            }
        }
    }
}

#[allow(clippy::cast_possible_wrap)]
fn image_shape(data: &VisionData) -> (i64, i64, i64) {
    (data.train.channels as i64, data.classes as i64, data.train.height as i64)
}

/// What a `train` run will do: the models still to train (neither done nor failed), how many
/// units they form, their total model-steps and the number of workers.
#[derive(Debug)]
pub struct TrainingPlan {
    /// Models to train, plan order.
    pub todo: Vec<PlannedModel>,
    /// Training units (populations) they form.
    pub units: usize,
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
    family: Family,
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
    let units = family.units(todo.clone(), devices, zoo.spec.run.max_population).len();
    let model_steps =
        todo.iter().map(|m| u64::from(m.config.train.epochs) * family.steps_per_epoch(&m.config)).sum();
    let jobs = jobs.unwrap_or(family.workers_per_device(devices) * devices.len()).max(1);
    Ok(TrainingPlan { todo, units, model_steps, jobs })
}

/// Train `work.todo` in units on `devices` (worker i on device i mod n, each on its own CUDA
/// stream so that workers sharing a GPU overlap), writing into `zoo`. A unit whose training
/// fails for a reason other than the zoo's files (those end the run: the first names the file)
/// has its models marked failed with the message.
///
/// # Errors
/// Reading or writing the zoo failed.
pub fn train_zoo(
    zoo: &ZooDir,
    family: Family,
    work: TrainingPlan,
    devices: &[Device],
    reporter: &dyn Reporter,
    stop: &AtomicBool,
) -> Result<Outcome, Error> {
    let spec = &zoo.spec;
    let units = family.units(work.todo, devices, spec.run.max_population);
    let on_start = |worker: usize, device| {
        if let Device::Cuda(index) = device {
            let own = pz_device::use_own_cuda_stream(index);
            tracing::debug!(worker, own, "CUDA stream");
        }
    };
    // No stop flag for the pool: the trainings watch it and come back Interrupted.
    let flow = Pool::new(devices, work.jobs)
        .run(
            units,
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
