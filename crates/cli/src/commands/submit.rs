//! `phasezoo submit DIR --slurm | --ray ADDRESS`: `phasezoo work DIR` workers as a Slurm job
//! array (written to DIR/slurm/ and handed to sbatch) or as Ray jobs (`ray job submit`), one
//! per unit with work left by default, `--tasks` to say how many. Training workers by default;
//! `--metrics` and `--apply NAME` submit measuring and applying workers. A zoo that does not
//! exist yet is made from `--spec`/`--set` first, as `train` would make it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use pz_exec::Submission;
use pz_landscape::{measuring_units_left, what_to_measure};
use pz_spec::{DeviceRequest, Plan, ZooSpec};
use pz_store::ZooDir;
use pz_train::{training_units_left, zoo_data, zoo_family};

use crate::commands::engine_args::EngineArgs;
use crate::commands::worker_args::WorkerArgs;

/// Arguments of `phasezoo submit`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("backend").required(true).args(["slurm", "ray"])))]
// The worker's flags in words for submitting workers (`WorkerArgs` words them for `work`).
#[command(mut_arg("metrics", |a| a.help("Submit measuring workers (`phasezoo work --metrics`)")))]
#[command(mut_arg("epochs", |a| a.help("With --metrics: checkpoint epochs to measure")))]
#[command(mut_arg("only", |a| a.help("With --metrics: only these metrics")))]
#[command(mut_arg("apply", |a| a.help("Submit workers of an application (`phasezoo work --apply NAME`)")))]
pub struct Args {
    /// The zoo folder, on a filesystem every node sees.
    dir: PathBuf,
    /// Submit a Slurm job array.
    #[arg(long)]
    slurm: bool,
    /// Submit Ray jobs to the cluster whose dashboard is at ADDRESS (http://host:8265).
    #[arg(long, value_name = "ADDRESS")]
    ray: Option<String>,
    #[command(flatten)]
    engine: EngineArgs,
    /// Each worker's --device (default: the zoo's run.device).
    #[arg(long)]
    device: Option<String>,
    /// Each worker's --lease-secs.
    #[arg(long)]
    lease_secs: Option<u64>,
    /// Start a worker that died on its own again at most this many times (Slurm: requeue).
    #[arg(long, default_value_t = 3)]
    max_restarts: u32,
    /// Write the script(s) or print the `ray job submit` commands; submit nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    work: WorkerArgs,
    /// Zoo spec to make DIR from when it is not a zoo yet (default: the embedded one).
    #[arg(long)]
    spec: Option<PathBuf>,
    /// Override a key of that spec (as `train --set`).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// Folder of the image dataset caches and text corpora (as for `train`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

pub fn run(args: &Args) -> Result<ExitCode> {
    let zoo = if args.dir.join("zoo.toml").exists() && args.spec.is_none() && args.overrides.is_empty() {
        ZooDir::open(&args.dir)?
    } else {
        let spec = ZooSpec::from_file_or_default(args.spec.as_deref(), &args.overrides)?;
        ZooDir::create_or_open_locked(&args.dir, &spec)?.0
    };
    let plan = Plan::new(&zoo.spec)?;
    let dataset = zoo_data(&zoo.spec.problem, args.data_dir.as_deref())?;
    let family = zoo_family(&zoo.spec.problem, &dataset)?;
    family.check_models(&plan)?;
    let mut work_args = args.work.to_args();
    // The workers read the same data: hand them the folder, absolute (they start elsewhere).
    if let Some(dir) = &args.data_dir {
        let dir = std::path::absolute(dir)?;
        work_args.extend(["--data-dir".to_string(), dir.display().to_string()]);
    }
    let (kind, left) = if args.work.metrics {
        let work = &args.work;
        let (selection, epochs, _) = what_to_measure(
            &zoo.spec,
            family.as_ref(),
            &args.dir,
            &work.only,
            (&work.epochs, work.all_epochs),
        )
        .map_err(anyhow::Error::msg)?;
        ("metrics", measuring_units_left(&zoo, &plan, family.as_ref(), &epochs, selection)?)
    } else if args.work.apply.is_some() {
        ("apply", plan.models.iter().map(|m| m.cell).collect::<std::collections::BTreeSet<_>>().len())
    } else {
        // The units as the workers' devices group them (CUDA unless the workers are told otherwise).
        let request = args.device.clone().unwrap_or_else(|| zoo.spec.run.device.clone());
        let device = match DeviceRequest::parse(&request).map_err(anyhow::Error::msg)? {
            DeviceRequest::Cpu => tch::Device::Cpu,
            _ => tch::Device::Cuda(0),
        };
        let (units, left) = training_units_left(&zoo, &plan, family.as_ref(), &[device])?;
        eprintln!("phasezoo: zoo {}: {units} units, {left} with models left", zoo.path.display());
        ("work", left)
    };
    let tasks = args.engine.tasks.unwrap_or(u32::try_from(left).unwrap_or(u32::MAX)).max(1);
    let submission = Submission {
        zoo: std::path::absolute(&zoo.path)?,
        phasezoo: std::env::current_exe().context("the path of this phasezoo binary")?,
        name: format!("pz-{}", zoo.spec.name),
        tasks,
        gpus_per_task: args.engine.gpus_per_task,
        device: args.device.clone(),
        lease_secs: args.lease_secs,
        max_restarts: args.max_restarts,
        kind: kind.to_string(),
        work_args,
    };
    let engine = args.engine.engine(args.ray.as_deref());
    for text in pz_exec::submit(&submission, &engine, args.dry_run)? {
        print!("{text}");
    }
    Ok(ExitCode::SUCCESS)
}
