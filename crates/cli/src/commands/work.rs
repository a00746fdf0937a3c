//! `phasezoo work DIR`: one worker of a zoo that many share (on this machine, or Slurm tasks and
//! Ray jobs on many): claims units one by one, works on them, releases them, until none is
//! left. Training units by default; measuring units with `--metrics` (as `phasezoo metrics`
//! measures them), cells of an application with `--apply NAME` (as `phasezoo apply`).

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{Context, Result};
use pz_landscape::{measure_asked, Measurers, MetricsAsk, NoMeasureReporter};
use pz_spec::Plan;
use pz_store::{WorkerIdentity, WorkerLock, ZooDir};
use pz_train::{work_zoo, zoo_data, zoo_family, NoReporter, Outcome, WorkOptions, ZooAccess};

use crate::commands::apply_args::ApplicationArg;
pub use crate::commands::work_args::Args;
use crate::logging::ModelLogs;

/// What every mode of a worker needs.
struct Worker<'a> {
    zoo: ZooDir,
    lock: WorkerLock,
    plan: Plan,
    device: tch::Device,
    options: WorkOptions,
    stop: &'a AtomicBool,
}

pub fn run(args: &Args, logs: &ModelLogs) -> Result<ExitCode> {
    let zoo = ZooDir::open(&args.dir)?;
    // Shared with other workers, exclusive of `train`, `metrics` and `apply`; taken before
    // anything is written.
    let lock = WorkerLock::take(&zoo.path)?;
    let plan = Plan::new(&zoo.spec)?;
    let device = crate::devices::requested(args.device.as_deref(), &zoo.spec.run.device)?[0];
    logs.set_models_dir(zoo.path.join("models"));
    let options = WorkOptions {
        worker: WorkerIdentity::current(args.worker_id.clone()),
        lease: Duration::from_secs(args.lease_secs.max(1)),
    };
    eprintln!(
        "phasezoo: worker {} {} on {} for zoo {} ({} models)",
        options.worker.worker_id,
        args.work.activity(),
        format!("{device:?}").to_lowercase(),
        zoo.path.display(),
        plan.models.len()
    );
    let stop = crate::interrupt::stop_on_ctrl_c();
    let worker = Worker { zoo, lock, plan, device, options, stop: &stop };
    if args.work.metrics {
        measure(args, &worker)
    } else if let Some(application) = args.work.apply {
        apply(args, application, &worker)
    } else {
        train(args, &worker)
    }
}

fn train(args: &Args, w: &Worker<'_>) -> Result<ExitCode> {
    let dataset = zoo_data(&w.zoo.spec.problem, args.data_dir.as_deref())?;
    let family = zoo_family(&w.zoo.spec.problem, &dataset)?;
    family.check_models(&w.plan)?;
    let report =
        work_zoo(&w.zoo, &w.lock, &w.plan, family.as_ref(), w.device, &NoReporter, w.stop, &w.options)
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
            pz_phases::write_indexes(&w.zoo, &w.plan)?;
            eprintln!("phasezoo: no unit left; this worker trained {}", report.units);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn measure(args: &Args, w: &Worker<'_>) -> Result<ExitCode> {
    let work = &args.work;
    let ask = MetricsAsk {
        only: &work.only,
        epochs: &work.epochs,
        all_epochs: work.all_epochs,
        data_dir: args.data_dir.as_deref(),
        workers: Measurers { devices: &[w.device], access: ZooAccess::Shared(&w.lock), options: &w.options },
    };
    let note = crate::commands::metrics::print_note;
    let (summary, epochs) = measure_asked(&w.zoo, &w.plan, &ask, &NoMeasureReporter, w.stop, &note)
        .context("measuring the zoo")?;
    if !summary.interrupted {
        pz_phases::write_labelled_index(&w.zoo, &w.plan)?;
        eprintln!("phasezoo: no measuring unit left; this worker measured {}", summary.units);
    }
    Ok(crate::commands::metrics::report(&summary, &epochs))
}

fn apply(args: &Args, application: ApplicationArg, w: &Worker<'_>) -> Result<ExitCode> {
    let options = args.work.apply_flags.options(w.device, args.data_dir.clone());
    let access = ZooAccess::Shared(&w.lock);
    let app = application.application();
    let summary = pz_apply::apply_claimed(&w.zoo, app, &options, access, &w.options, w.stop)
        .with_context(|| format!("{}: {}", args.dir.display(), app.name()))?;
    // As for training and metrics: whichever worker finishes writes the index (atomic writes).
    pz_phases::write_labelled_index(&w.zoo, &w.plan)?;
    crate::commands::apply::report(&summary);
    Ok(ExitCode::SUCCESS)
}
