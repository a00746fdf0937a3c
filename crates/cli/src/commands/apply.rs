//! `phasezoo apply APPLICATION DIR`: what phases are for (SPEC §5) on a trained zoo, one
//! result per finished cell in `DIR/applications.json` (pz-apply).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use pz_apply::{apply, ApplySummary};
use pz_store::ZooDir;

use crate::commands::apply_args::{ApplicationArg, Flags};

/// Arguments of `phasezoo apply`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The application.
    #[arg(value_enum)]
    application: ApplicationArg,
    /// The zoo folder.
    dir: PathBuf,
    /// Device: auto, cpu or cuda:N (default: the spec's run.device; the first GPU for `cuda`).
    #[arg(long)]
    device: Option<String>,
    #[command(flatten)]
    flags: Flags,
    /// Folder of the image dataset caches (default: $PHASEZOO_DATA, else ~/.cache/phasezoo/data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

pub fn run(args: &Args) -> Result<ExitCode> {
    let application = args.application.application();
    let zoo = ZooDir::open(&args.dir).with_context(|| format!("cannot open zoo {}", args.dir.display()))?;
    let devices = crate::devices::requested(args.device.as_deref(), &zoo.spec.run.device)?;
    let options = args.flags.options(devices[0], args.data_dir.clone());
    let summary = apply(&args.dir, application, &options)
        .with_context(|| format!("{}: {}", args.dir.display(), application.name()))?;
    report(&summary);
    Ok(ExitCode::SUCCESS)
}

/// The summary line of an application run (`phasezoo apply`, `phasezoo work --apply`).
pub fn report(summary: &ApplySummary) {
    eprintln!(
        "phasezoo: {}: {} cells done, {} done before{}; results in {}",
        summary.run,
        summary.done,
        summary.already_done,
        if summary.unfinished_cells > 0 {
            format!(", {} unfinished cells skipped (train them first)", summary.unfinished_cells)
        } else {
            String::new()
        },
        summary.path.display()
    );
}
