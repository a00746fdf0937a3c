//! `phasezoo train`: plan the grid, skip finished models, resume the rest, population by
//! population, on one or more devices.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use pz_spec::{DeviceRequest, Plan, ZooSpec};
use pz_store::{collect_rows, ZooDir};
use pz_train::{
    check_devices_hold, plan_training, train_zoo, zoo_data, zoo_family, Outcome, WorkOptions, ZooAccess,
};

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
    /// Folder of the image dataset caches and text corpora (default: $PHASEZOO_DATA, else
    /// ~/.cache/phasezoo/data; see `phasezoo data fetch`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Do not draw the heatmaps and the report page at the end.
    #[arg(long)]
    no_plot: bool,
    /// Do not run the metrics that the spec's `run.metrics_after_training` asks for.
    #[arg(long)]
    no_metrics: bool,
}

pub fn run(args: &Args, logs: &ModelLogs, progress: bool) -> Result<ExitCode> {
    let mut overrides = args.overrides.clone();
    if let Some(device) = &args.device {
        overrides.push(format!("run.device=\"{device}\""));
    }
    let spec = ZooSpec::from_file_or_default(args.spec.as_deref(), &overrides)?;
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("zoos").join(&spec.name));
    let plan = Plan::new(&spec)?;
    // Everything that can be refused is checked before the first write to --out.
    let devices =
        crate::devices::devices(DeviceRequest::parse(&spec.run.device).map_err(anyhow::Error::msg)?)?;
    let dataset = zoo_data(&spec.problem, args.data_dir.as_deref())?;
    let family = zoo_family(&spec.problem, &dataset)?;
    family.check_models(&plan)?;
    check_devices_hold(&plan, spec.run.max_population, &devices)
        .map_err(|e| anyhow::anyhow!("zoo spec {}: {e}", spec.name))?;
    // The lock comes before any write: a refused start changes nothing.
    let (zoo, lock) = ZooDir::create_or_open_locked(&out, &spec)?;
    logs.set_models_dir(out.join("models"));

    let access = ZooAccess::Exclusive(&lock);
    let work = plan_training(&zoo, &plan, family.as_ref(), &devices, args.jobs, access)?;
    let (todo, units) = (work.todo, work.waiting);
    tracing::info!(models = plan.models.len(), todo, populations = units, ?devices, "plan");
    eprintln!(
        "phasezoo: zoo {} -> {}: {} models, {todo} to train in {} population(s) on {}",
        spec.name,
        out.display(),
        plan.models.len(),
        units,
        devices.iter().map(|d| format!("{d:?}").to_lowercase()).collect::<Vec<_>>().join(", ")
    );
    let stop = crate::interrupt::stop_on_ctrl_c();
    let reporter = crate::progress::ZooProgress::new(
        plan.models.len(),
        plan.models.len() - todo,
        work.model_steps,
        progress,
    );
    // Units are claimed as `phasezoo work` claims them (docs/CLUSTER.md), by this process alone.
    let options = WorkOptions::this_process();
    let outcome = train_zoo(&zoo, &plan, family.as_ref(), work, &devices, &reporter, &stop, &options)
        .map(|report| report.outcome);
    reporter.finish();
    // A training error is reported before the index's: it is the first write that failed.
    let outcome = outcome.context("training the zoo")?;
    pz_phases::write_indexes(&zoo, &plan)?;
    match outcome {
        Outcome::Interrupted => {
            eprintln!("phasezoo: interrupted; finished work is saved. Run the same command again to resume.");
            Ok(ExitCode::from(130))
        }
        Outcome::Finished => {
            let rows = collect_rows(&zoo, &plan)?;
            let failed: Vec<_> = rows.iter().filter(|r| r.status == "failed").collect();
            failed.iter().for_each(|r| eprintln!("phasezoo: model {} failed: {}", r.model_id, r.message));
            eprintln!(
                "phasezoo: {} models done, {} failed; index: {}",
                rows.len() - failed.len(),
                failed.len(),
                zoo.index_path().display()
            );
            drop(lock); // `metrics`, `plot` and `report` open the zoo themselves
            if spec.run.metrics_after_training && !args.no_metrics {
                let metrics =
                    crate::commands::metrics::Args::all(&out, args.device.clone(), args.data_dir.clone());
                let code = crate::commands::metrics::run(&metrics, logs, progress)?;
                if code != ExitCode::SUCCESS {
                    return Ok(code);
                }
            }
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
