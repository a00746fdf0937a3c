//! `phasezoo metrics DIR`: loss-landscape metrics of a trained zoo (docs/METRICS.md).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use pz_landscape::{measure_asked, MeasureSummary, Measurers, MetricsAsk};
use pz_spec::Plan;
use pz_store::ZooDir;
use pz_train::{WorkOptions, ZooAccess};

use crate::logging::ModelLogs;

/// Arguments of `phasezoo metrics`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The zoo folder.
    dir: PathBuf,
    /// Checkpoint epochs to measure, comma-separated (default: [metrics] epochs, else the last).
    #[arg(long, value_delimiter = ',')]
    epochs: Vec<u32>,
    /// Measure every kept checkpoint, 0 … E (e.g. the LLC over training), instead of --epochs.
    #[arg(long, conflicts_with = "epochs")]
    all_epochs: bool,
    /// Only these metrics, comma-separated: hessian, cka, mc, alpha, llc (default: all; llc
    /// needs [metrics.llc]).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Device: auto, cpu, cuda (every visible GPU, work spread over them) or cuda:N (default:
    /// the spec's run.device).
    #[arg(long)]
    device: Option<String>,
    /// Folder of the image dataset caches and text corpora (default: $PHASEZOO_DATA, else
    /// ~/.cache/phasezoo/data; see `phasezoo data fetch`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

impl Args {
    /// Every metric of every configured epoch of the zoo in `dir` (what `train` runs after
    /// training when the spec's `run.metrics_after_training` is on).
    pub fn all(dir: &std::path::Path, device: Option<String>, data_dir: Option<PathBuf>) -> Self {
        Self {
            dir: dir.to_path_buf(),
            epochs: Vec::new(),
            all_epochs: false,
            only: Vec::new(),
            device,
            data_dir,
        }
    }
}

pub fn run(args: &Args, logs: &ModelLogs, progress: bool) -> Result<ExitCode> {
    let zoo = ZooDir::open(&args.dir).with_context(|| format!("cannot open zoo {}", args.dir.display()))?;
    let devices = crate::devices::requested(args.device.as_deref(), &zoo.spec.run.device)?;
    let plan = Plan::new(&zoo.spec)?;
    let lock = zoo.lock()?;
    // What a killed run left mid-write (no live writer exists while the lock is held).
    let removed = zoo.remove_partial_writes()?;
    if removed > 0 {
        tracing::info!(removed, "removed partial writes of an interrupted run");
    }
    logs.set_models_dir(args.dir.join("models"));
    let stop = crate::interrupt::stop_on_ctrl_c();
    let bar = crate::progress::WorkProgress::new("metrics", progress);
    let options = WorkOptions::this_process();
    let ask = MetricsAsk {
        only: &args.only,
        epochs: &args.epochs,
        all_epochs: args.all_epochs,
        data_dir: args.data_dir.as_deref(),
        workers: Measurers { devices: &devices, access: ZooAccess::Exclusive(&lock), options: &options },
    };
    let (summary, epochs) = measure_asked(&zoo, &plan, &ask, &bar, &stop, &print_note)?;
    bar.finish();
    pz_phases::write_labelled_index(&zoo, &plan)?;
    Ok(report(&summary, &epochs))
}

/// Why a metric asked for is not measured on this zoo, before the work starts.
pub fn print_note(note: &str) {
    eprintln!("phasezoo: {note}");
}

/// The summary of a measuring run on stderr; failure when models could not be loaded, 130
/// when interrupted (`phasezoo metrics`, `phasezoo work --metrics`).
pub fn report(summary: &MeasureSummary, epochs: &[u32]) -> ExitCode {
    eprintln!(
        "phasezoo: measured epochs {epochs:?}: {} Hessians, {} CKA cells, {} mode-connectivity cells, {} alphas{}{}",
        summary.hessians,
        summary.ckas,
        summary.mcs,
        summary.alphas,
        if summary.llcs > 0 { format!(", {} LLCs", summary.llcs) } else { String::new() },
        if summary.unfinished_cells > 0 {
            format!("; {} unfinished cells skipped (train them first)", summary.unfinished_cells)
        } else {
            String::new()
        }
    );
    if !summary.skipped.is_empty() {
        eprintln!("error: {} model(s) could not be loaded and were not measured:", summary.skipped.len());
        for s in &summary.skipped {
            eprintln!("  model {} at epoch {}: {}", s.model, s.epoch, s.reason);
        }
        eprintln!(
            "  hint: the other models are measured; retrain these (delete their status.json and run \
             `phasezoo train` again) or measure an epoch whose checkpoints are intact (--epochs)"
        );
    }
    if summary.interrupted {
        eprintln!(
            "phasezoo: interrupted; measured values are saved. Run the same command again to continue."
        );
        return ExitCode::from(130);
    }
    if !summary.skipped.is_empty() {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
