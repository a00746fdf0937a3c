//! `phasezoo export DIR --ptmz OUT`: a phasezoo ResNet zoo as PTMZ trial folders whose
//! checkpoints `torch.load(path, weights_only=True)` reads (pz-ptmz writes them).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};

/// Arguments of `phasezoo export`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The zoo folder.
    dir: PathBuf,
    /// The PTMZ experiment folder to write (trial folders, as Ray Tune lays them out).
    #[arg(long, value_name = "OUT")]
    ptmz: PathBuf,
}

pub fn run(args: &Args, progress: bool) -> Result<ExitCode> {
    let bar = super::import::CheckpointBar::new(progress, "checkpoints exported");
    let report = pz_ptmz::export_zoo(&args.dir, &args.ptmz, &mut |p| bar.on(p))
        .with_context(|| format!("cannot export {}", args.dir.display()));
    bar.finish();
    let report = report?;
    for line in &report.skipped {
        eprintln!("phasezoo: skipped {line}");
    }
    eprintln!(
        "phasezoo: exported {} trials to {}: {} checkpoints written, {} unchanged",
        report.trials,
        report.out.display(),
        report.checkpoints_written,
        report.checkpoints_unchanged
    );
    Ok(ExitCode::SUCCESS)
}
