//! `phasezoo train`: plan the grid, skip finished models, resume the rest, population by
//! population, on one or more devices.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use std::str::FromStr;

use pz_data::vision::{default_data_dir, DatasetName, VisionData};
use pz_exec::pack::{self, Cost};
use pz_exec::{Flow, Pool};
use pz_spec::{
    DeviceRequest, ImageConfig, Plan, PlannedModel, ProblemConfig, ResolvedModel, ZooSpec,
    EMBEDDED_DEFAULT_NAME,
};
use pz_store::{collect_rows, write_index, ModelState, ModelStatus, ZooDir};
use pz_train::classify::{train_image_model, ImageTask};
use pz_train::{group_populations, train_population, Outcome, Reporter as _, Run};
use tch::Device;

use crate::logging::ModelLogs;

/// Arguments of `phasezoo train`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Zoo spec (TOML). Default: the embedded small PINN zoo (examples/convection-small.toml).
    spec: Option<PathBuf>,
    /// Output folder (default: zoos/<name>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Override any spec key, e.g. --set train.epochs=5 (repeatable; TOML values).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// Device: auto, cpu, cuda (every visible GPU) or cuda:N. Default: the spec's run.device.
    #[arg(long)]
    device: Option<String>,
    /// Trainings at once (default: one per device, and for image zoos on CUDA 8 per GPU,
    /// packed by expected cost: small models share a GPU, a model that fills one runs alone).
    #[arg(long)]
    jobs: Option<usize>,
    /// Folder of the dataset caches for image zoos (default: $PHASEZOO_DATA, else
    /// ~/.cache/phasezoo/data; see `phasezoo data fetch`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Do not draw the heatmaps and the report page at the end.
    #[arg(long)]
    no_plot: bool,
}

pub fn run(args: &Args, logs: &ModelLogs, progress: bool) -> Result<ExitCode> {
    let mut overrides = args.overrides.clone();
    if let Some(device) = &args.device {
        overrides.push(format!("run.device=\"{device}\""));
    }
    let spec = match &args.spec {
        Some(path) => ZooSpec::from_file(path, &overrides)?,
        None => ZooSpec::parse(pz_spec::EMBEDDED_DEFAULT, EMBEDDED_DEFAULT_NAME, &overrides)?,
    };
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("zoos").join(&spec.name));
    let plan = Plan::new(&spec)?;
    // Everything that can be refused is checked before the first write to --out.
    let devices =
        crate::devices::devices(DeviceRequest::parse(&spec.run.device).map_err(anyhow::Error::msg)?)?;
    let dataset = match &spec.problem {
        ProblemConfig::Image(image) => {
            let data = load_dataset(&image.dataset, args.data_dir.as_deref())?;
            check_image_models(&plan, &data)?;
            Some(data)
        }
        ProblemConfig::Convection(_) => None,
    };
    let zoo = ZooDir::create_or_open(&out, &spec)?;
    let _lock = zoo.lock()?;
    logs.set_models_dir(out.join("models"));

    let mut todo = Vec::new();
    for m in &plan.models {
        let dir = zoo.model(m.id());
        match dir.read_status()?.state {
            ModelState::Done | ModelState::Failed => {}
            _ => todo.push(m.clone()),
        }
    }
    // Image models train one at a time per worker (populations of one); PINN models in groups.
    let populations =
        if dataset.is_some() { Vec::new() } else { group_populations(&todo, spec.run.max_population) };
    let units = if dataset.is_some() { todo.len() } else { populations.len() };
    let model_steps: u64 = todo
        .iter()
        .map(|m| u64::from(m.config.train.epochs) * steps_per_epoch(&m.config, dataset.as_ref()))
        .sum();
    tracing::info!(models = plan.models.len(), todo = todo.len(), populations = units, ?devices, "plan");
    eprintln!(
        "phasezoo: zoo {} -> {}: {} models, {} to train in {} population(s) on {}",
        spec.name,
        out.display(),
        plan.models.len(),
        todo.len(),
        units,
        devices.iter().map(|d| format!("{d:?}").to_lowercase()).collect::<Vec<_>>().join(", ")
    );

    let stop = Arc::new(AtomicBool::new(false));
    install_ctrlc(&stop);
    let reporter = crate::progress::ZooProgress::new(
        plan.models.len(),
        plan.models.len() - todo.len(),
        model_steps,
        progress,
    );
    let packing = dataset.is_some() && devices.iter().all(|d| d.is_cuda());
    let per_device = if packing { pack::WORKERS_PER_GPU } else { 1 };
    let jobs = args.jobs.unwrap_or(per_device * devices.len()).max(1);
    let outcome = match &dataset {
        None => run_populations(&zoo, &spec, populations, &devices, jobs, &reporter, &stop),
        Some(data) => run_image_models(&zoo, &spec, data, todo, &devices, jobs, &reporter, &stop),
    };
    reporter.finish();
    write_index(&zoo.index_path(), &collect_rows(&zoo, &plan)?)?;
    pz_phases::write_labelled_index(&zoo, &plan)?;
    match outcome? {
        Outcome::Interrupted => {
            eprintln!("phasezoo: interrupted; finished work is saved. Run the same command again to resume.");
            Ok(ExitCode::from(130))
        }
        Outcome::Finished => {
            let rows = collect_rows(&zoo, &plan)?;
            let failed = rows.iter().filter(|r| r.status == "failed").count();
            eprintln!(
                "phasezoo: {} models done, {failed} failed; index: {}",
                rows.len() - failed,
                zoo.index_path().display()
            );
            if !args.no_plot {
                for path in crate::commands::plot::run(&out)? {
                    eprintln!("phasezoo: wrote {}", path.display());
                }
                let report = crate::commands::report::Args { dir: out.clone(), out: None };
                eprintln!("phasezoo: wrote {}", crate::commands::report::run(&report)?.display());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Run populations on `jobs` worker threads; worker i uses device i mod n.
fn run_populations(
    zoo: &ZooDir,
    spec: &ZooSpec,
    populations: Vec<Vec<PlannedModel>>,
    devices: &[Device],
    jobs: usize,
    reporter: &crate::progress::ZooProgress,
    stop: &AtomicBool,
) -> Result<Outcome> {
    run_workers(
        populations.into_iter().map(|p| (p, Cost::FIRST_COME)).collect(),
        devices,
        jobs,
        |_| (),
        |(), population, device| {
            train_population(&run_on(zoo, spec, device, reporter, stop), &population)
                .with_context(|| format!("training a population of {} models", population.len()))
        },
    )
}

/// Hands `(item, cost)` pairs out to `jobs` worker threads (pz_exec::Pool: worker i on device
/// i mod n, with its own state from `init`) until they run out or one is interrupted; the first
/// error wins. Items are packed by their expected share of a GPU and ordered by expected work
/// (pz_exec::pack: a device takes more only while the shares fit; share 0 never waits). On a
/// GPU each worker gets its own CUDA stream, so that workers sharing a device run their kernels
/// concurrently rather than queueing on the default stream; each creates its tensors itself.
/// The pool gets no stop flag: the trainings watch it and return `Interrupted`.
fn run_workers<T: Send, S>(
    items: Vec<(T, Cost)>,
    devices: &[Device],
    jobs: usize,
    init: impl Fn(Device) -> S + Sync,
    work: impl Fn(&mut S, T, Device) -> Result<Outcome> + Sync,
) -> Result<Outcome> {
    let on_start = |worker: usize, device| {
        if let Device::Cuda(index) = device {
            let own = pz_device::use_own_cuda_stream(index);
            tracing::debug!(worker, own, "CUDA stream");
        }
    };
    let flow = Pool::new(devices, jobs)
        .run(items, on_start, init, |state, item, device| {
            Ok(match work(state, item, device)? {
                Outcome::Finished => Flow::Continue,
                Outcome::Interrupted => Flow::Stop,
            })
        })
        .map_err(|e| e.into_work_error(|message| anyhow::anyhow!("a training thread panicked: {message}")))?;
    Ok(if flow == Flow::Stop { Outcome::Interrupted } else { Outcome::Finished })
}

/// The dataset of an image zoo, read from the cache (refused before anything is written).
pub(crate) fn load_dataset(name: &str, data_dir: Option<&std::path::Path>) -> Result<VisionData> {
    let name = DatasetName::from_str(name)?;
    let dir = data_dir.map_or_else(default_data_dir, std::path::Path::to_path_buf);
    let data = pz_data::vision::load(name, &dir).with_context(|| match data_dir {
        // The hint inside names the default folder's command; this zoo reads another folder.
        Some(d) => format!("cannot load dataset {name} from --data-dir {} (fetch it there with `phasezoo data fetch {name} --data-dir {}`)", d.display(), d.display()),
        None => format!("cannot load dataset {name}"),
    })?;
    tracing::info!(dataset = %name, train = data.train.n, test = data.test.n, "dataset");
    Ok(data)
}

/// Every planned image model can be built on the dataset's images (e.g. a ViT patch that
/// divides them), checked before anything is written.
fn check_image_models(plan: &Plan, data: &VisionData) -> Result<()> {
    #[allow(clippy::cast_possible_wrap)]
    let (c, k, side) = (data.train.channels as i64, data.classes as i64, data.train.height as i64);
    for m in &plan.models {
        let problems = pz_train::classify::model_config(&m.config, c, k, side).problems();
        if !problems.is_empty() {
            anyhow::bail!(
                "model {} ({} = {}, {} = {}) cannot be built on {}×{side}×{side} images: {}\n  hint: check model.width, model.patch_size and model.head_dim (docs/MODELS.md)",
                m.id(),
                m.config.load.name,
                m.config.load.value,
                m.config.temperature.name,
                m.config.temperature.value,
                c,
                problems.join("; ")
            );
        }
    }
    Ok(())
}

/// Optimizer steps per epoch of a model: the spec's for the PINN, a pass over the (sub)set of
/// training images at the model's batch size for image models.
fn steps_per_epoch(config: &ResolvedModel, data: Option<&VisionData>) -> u64 {
    match (&config.problem, data) {
        (ProblemConfig::Image(image), Some(data)) => {
            let n = if image.train_subset == 0 { data.train.n } else { image.train_subset.min(data.train.n) };
            (n as u64).div_ceil(u64::from(config.train.batch_size))
        }
        _ => u64::from(config.train.steps_per_epoch),
    }
}

/// Train image models on `jobs` worker threads, packed onto GPUs by their expected share of one
/// (pz_train::pack); worker i uses device i mod n and puts the dataset on it once (again only if
/// a model's problem differs, e.g. another subset).
#[allow(clippy::too_many_arguments)]
fn run_image_models(
    zoo: &ZooDir,
    spec: &ZooSpec,
    data: &VisionData,
    models: Vec<PlannedModel>,
    devices: &[Device],
    jobs: usize,
    reporter: &crate::progress::ZooProgress,
    stop: &AtomicBool,
) -> Result<Outcome> {
    #[allow(clippy::cast_possible_wrap)]
    let (c, k, side) = (data.train.channels as i64, data.classes as i64, data.train.height as i64);
    let packed = models
        .into_iter()
        .map(|m| {
            let cost = if devices.iter().all(|d| d.is_cuda()) {
                let step = pz_train::classify::step_multiply_adds(&m.config, c, k, side);
                #[allow(clippy::cast_precision_loss)]
                let steps =
                    (steps_per_epoch(&m.config, Some(data)) * u64::from(m.config.train.epochs)) as f64;
                Cost::on_gpu(step, steps, pack::GPU_FILLING_MULTIPLY_ADDS)
            } else {
                Cost::FIRST_COME // CPU workers share cores, not a GPU: plain first-come order
            };
            (m, cost)
        })
        .collect();
    run_workers(
        packed,
        devices,
        jobs,
        |_| None::<(ImageConfig, ImageTask)>,
        |task, model, device| {
            let ProblemConfig::Image(image) = &model.config.problem else {
                anyhow::bail!("model {} is not an image model", model.id());
            };
            if task.as_ref().is_none_or(|(c, _)| c != image) {
                drop(task.take()); // free the old copy first
                *task = Some((image.clone(), ImageTask::new(data, image, device)));
            }
            let (_, on_device) = task.as_ref().expect("set above");
            // libtorch errors inside tch's tensor operations (CUDA out of memory, …) arrive as
            // panics: caught here, they are the failing model's, not the whole run's.
            let trained = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                train_image_model(&run_on(zoo, spec, device, reporter, stop), &model, on_device)
                    .map_err(|e| failure_message(&e.to_string()))
            }))
            .unwrap_or_else(|panic| Err(failure_message(&panic_message(panic.as_ref()))));
            match trained {
                Ok(outcome) => Ok(outcome),
                // One model's failure (out of memory in the widest cell, …) is that model's: it
                // is marked failed with the reason and the queue goes on.
                Err(message) => {
                    tracing::error!(model = %model.id(), "{message}");
                    eprintln!("phasezoo: model {} failed: {message}", model.id());
                    zoo.model(model.id()).write_status(&ModelStatus {
                        state: ModelState::Failed,
                        epoch: None,
                        message: Some(message),
                    })?;
                    reporter.on_model_done(model.id(), ModelState::Failed);
                    Ok(Outcome::Finished)
                }
            }
        },
    )
}

/// How every model of this `train` call trains on `device`.
fn run_on<'a>(
    zoo: &'a ZooDir,
    spec: &'a ZooSpec,
    device: Device,
    reporter: &'a crate::progress::ZooProgress,
    stop: &'a AtomicBool,
) -> Run<'a> {
    Run {
        zoo,
        policy: &spec.checkpoint,
        device,
        cuda_graphs: spec.run.graph,
        fused_kernels: spec.run.fused_kernels,
        layout: spec.run.layout,
        reporter,
        stop,
    }
}

/// The text of a caught panic (tch panics with libtorch's error message).
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_string()))
        .unwrap_or_else(|| "training panicked".to_string())
}

/// A failed model's reason, with what to try for running out of GPU memory.
fn failure_message(text: &str) -> String {
    let text = text.to_string();
    if text.contains("out of memory") {
        format!("{text} (hint: set train.micro_batch, e.g. --set train.micro_batch=128, or train fewer models per GPU with --jobs; delete this model's status.json to retry)")
    } else {
        text
    }
}

/// First Ctrl-C: stop at the next step, keeping everything finished. Second: exit at once.
pub fn install_ctrlc(stop: &Arc<AtomicBool>) {
    let stop = Arc::clone(stop);
    let _ = ctrlc::set_handler(move || {
        if stop.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\nphasezoo: stopping after the current step (Ctrl-C again to quit at once)");
    });
}
