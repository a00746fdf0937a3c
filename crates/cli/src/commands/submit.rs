//! `phasezoo submit DIR --slurm`: a Slurm job array of `phasezoo work DIR` workers (one task
//! per unit by default, `--tasks` to say how many), written to DIR/slurm/ and handed to sbatch.
//! A zoo that does not exist yet is made from `--spec`/`--set` first, as `train` would make it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use pz_exec::SlurmJob;
use pz_spec::{DeviceRequest, Plan, ZooSpec, EMBEDDED_DEFAULT_NAME};
use pz_store::ZooDir;
use pz_train::{work_units, zoo_data, zoo_family};

/// Arguments of `phasezoo submit`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The zoo folder, on a filesystem every node sees.
    dir: PathBuf,
    /// Submit to Slurm (the only backend so far; see docs/CLUSTER.md).
    #[arg(long, required = true)]
    slurm: bool,
    /// Array tasks (workers) in all. Default: one per unit with models left.
    #[arg(long)]
    tasks: Option<u32>,
    /// At most this many tasks at once (`--array=0-N%K`).
    #[arg(long)]
    array_throttle: Option<u32>,
    /// Whole GPUs per task (`--gres=gpu:N`); 0 for CPU workers.
    #[arg(long, default_value_t = 1)]
    gpus_per_task: u32,
    /// GPU shards per task instead of whole GPUs (`--gres=shard:N`).
    #[arg(long)]
    gpu_shards: Option<u32>,
    /// Slurm partition.
    #[arg(long)]
    partition: Option<String>,
    /// Time limit per task (`--time`, e.g. 04:00:00).
    #[arg(long)]
    time: Option<String>,
    /// Each worker's --device (default: the zoo's run.device).
    #[arg(long)]
    device: Option<String>,
    /// Each worker's --lease-secs.
    #[arg(long)]
    lease_secs: Option<u64>,
    /// Requeue a task whose worker was killed at most this many times.
    #[arg(long, default_value_t = 3)]
    max_restarts: u32,
    /// Write the script(s) and print them; do not call sbatch.
    #[arg(long)]
    dry_run: bool,
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
        let spec = match &args.spec {
            Some(path) => ZooSpec::from_file(path, &args.overrides)?,
            None => ZooSpec::parse(pz_spec::EMBEDDED_DEFAULT, EMBEDDED_DEFAULT_NAME, &args.overrides)?,
        };
        ZooDir::create_or_open_locked(&args.dir, &spec)?.0
    };
    let plan = Plan::new(&zoo.spec)?;
    let dataset = zoo_data(&zoo.spec.problem, args.data_dir.as_deref())?;
    let family = zoo_family(&zoo.spec.problem, &dataset)?;
    family.check_models(&plan)?;
    // The units as the workers' devices group them (CUDA unless the workers are told otherwise).
    let request = args.device.clone().unwrap_or_else(|| zoo.spec.run.device.clone());
    let device = match DeviceRequest::parse(&request).map_err(anyhow::Error::msg)? {
        DeviceRequest::Cpu => tch::Device::Cpu,
        _ => tch::Device::Cuda(0),
    };
    let units = work_units(&zoo, &plan, family.as_ref(), &[device])?;
    let left = pz_store::work_status(&zoo)?
        .unwrap_or_default()
        .iter()
        .filter(|(_, s)| !matches!(s, pz_store::UnitState::Done | pz_store::UnitState::Failed))
        .count();
    let job = SlurmJob {
        zoo: std::path::absolute(&zoo.path)?,
        phasezoo: std::env::current_exe().context("the path of this phasezoo binary")?,
        name: format!("pz-{}", zoo.spec.name),
        tasks: args.tasks.unwrap_or(u32::try_from(left).unwrap_or(u32::MAX)).max(1),
        array_throttle: args.array_throttle,
        gpus_per_task: args.gpus_per_task,
        gpu_shards: args.gpu_shards,
        partition: args.partition.clone(),
        time: args.time.clone(),
        device: args.device.clone(),
        lease_secs: args.lease_secs,
        max_restarts: args.max_restarts,
    };
    let submitted = pz_exec::slurm::submit(&job, None, args.dry_run)?;
    eprintln!("phasezoo: zoo {}: {} units, {left} with models left", zoo.path.display(), units.len());
    for s in &submitted {
        match &s.job_id {
            Some(id) => println!("submitted job {id}: {} tasks ({})", s.tasks, s.script.display()),
            None => print!("{}", std::fs::read_to_string(&s.script)?),
        }
    }
    Ok(ExitCode::SUCCESS)
}
