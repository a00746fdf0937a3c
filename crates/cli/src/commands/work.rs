//! `phasezoo work DIR`: one worker of a zoo that many share (on this machine, or Slurm tasks on
//! many): claims units one by one, trains them, releases them, until none is left.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use pz_spec::{DeviceRequest, Plan};
use pz_store::{collect_rows, write_index, WorkerIdentity, WorkerLock, ZooDir};
use pz_train::{work_zoo, zoo_data, zoo_family, NoReporter, Outcome, WorkOptions};

use crate::logging::ModelLogs;

/// Arguments of `phasezoo work`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The zoo folder (made by `phasezoo train` or `phasezoo submit`).
    dir: PathBuf,
    /// Device: auto, cpu, cuda or cuda:N (the first device of the request). Default: the
    /// spec's run.device.
    #[arg(long)]
    device: Option<String>,
    /// Name shown in claims and `phasezoo status` (default: <host>-<pid>).
    #[arg(long)]
    worker_id: Option<String>,
    /// Seconds a claim lasts unless renewed (renewed every quarter of it); a dead worker's unit
    /// is taken over this long after its last renewal.
    #[arg(long, default_value_t = 120)]
    lease_secs: u64,
    /// Folder of the image dataset caches and text corpora (as for `train`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

pub fn run(args: &Args, logs: &ModelLogs) -> Result<ExitCode> {
    let zoo = ZooDir::open(&args.dir)?;
    // Shared with other workers, exclusive of `train`; taken before anything is written.
    let _lock = WorkerLock::take(&zoo.path)?;
    let spec = &zoo.spec;
    let plan = Plan::new(spec)?;
    let request = args.device.clone().unwrap_or_else(|| spec.run.device.clone());
    let devices = crate::devices::devices(DeviceRequest::parse(&request).map_err(anyhow::Error::msg)?)?;
    let device = devices[0];
    let dataset = zoo_data(&spec.problem, args.data_dir.as_deref())?;
    let family = zoo_family(&spec.problem, &dataset)?;
    family.check_models(&plan)?;
    logs.set_models_dir(zoo.path.join("models"));
    let options = WorkOptions {
        worker: WorkerIdentity::current(args.worker_id.clone()),
        lease: Duration::from_secs(args.lease_secs.max(1)),
    };
    eprintln!(
        "phasezoo: worker {} on {} for zoo {} ({} models)",
        options.worker.worker_id,
        format!("{device:?}").to_lowercase(),
        zoo.path.display(),
        plan.models.len()
    );
    let stop = crate::interrupt::stop_on_ctrl_c();
    let report = work_zoo(&zoo, &plan, family.as_ref(), device, &NoReporter, &stop, &options)
        .context("working on the zoo")?;
    match report.outcome {
        Outcome::Interrupted => {
            eprintln!(
                "phasezoo: interrupted after {} unit(s); another worker or a rerun resumes the rest",
                report.units
            );
            Ok(ExitCode::from(130))
        }
        Outcome::Finished => {
            // Every unit is done or failed: whichever worker sees it first writes the index
            // (atomic writes; workers finishing together write the same bytes).
            write_index(&zoo.index_path(), &collect_rows(&zoo, &plan)?)?;
            pz_phases::write_labelled_index(&zoo, &plan)?;
            eprintln!("phasezoo: no unit left; this worker trained {}", report.units);
            Ok(ExitCode::SUCCESS)
        }
    }
}
