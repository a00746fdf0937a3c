//! `phasezoo apply APPLICATION DIR`: what phases are for (SPEC §5) on a trained zoo, one
//! result per finished cell in `DIR/applications.json` (pz-apply).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use pz_apply::{apply, Application, ApplyOptions};
use pz_spec::DeviceRequest;
use pz_store::ZooDir;

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
    /// The original's averaging ("weight" keys only, the rest from the first checkpoint) and
    /// BatchNorm conditioning (100 train-mode passes, statistics not reset).
    #[arg(long)]
    ptmz_compat: bool,
    /// Average or interpolate seeds as they are, without weight matching.
    #[arg(long)]
    no_align: bool,
    /// Interpolation points, both endpoints included.
    #[arg(long, default_value_t = 11)]
    points: usize,
    /// Folder of the image dataset caches (default: $PHASEZOO_DATA, else ~/.cache/phasezoo/data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ApplicationArg {
    /// Each model's checkpoints at E-4 ... E averaged (the original's "Wise-FT").
    AverageEpochs,
    /// A cell's seeds averaged after weight matching (the original's "Git Re-Basin").
    AverageSeeds,
    /// A cell's first two seeds interpolated; barrier heights.
    Interpolate,
    /// A cell's seeds as one ensemble (mean of probabilities).
    Ensemble,
}

pub fn run(args: &Args) -> Result<ExitCode> {
    let application = match args.application {
        ApplicationArg::AverageEpochs => Application::AverageEpochs,
        ApplicationArg::AverageSeeds => Application::AverageSeeds,
        ApplicationArg::Interpolate => Application::Interpolate,
        ApplicationArg::Ensemble => Application::Ensemble,
    };
    let request = match &args.device {
        Some(d) => d.clone(),
        None => {
            ZooDir::open(&args.dir)
                .with_context(|| format!("cannot open zoo {}", args.dir.display()))?
                .spec
                .run
                .device
        }
    };
    let devices = crate::devices::devices(DeviceRequest::parse(&request).map_err(anyhow::Error::msg)?)?;
    let options = ApplyOptions {
        device: devices[0],
        ptmz_compat: args.ptmz_compat,
        align: !args.no_align,
        points: args.points,
        data_dir: args.data_dir.clone(),
    };
    let summary = apply(&args.dir, application, &options)
        .with_context(|| format!("{}: {}", args.dir.display(), application.name()))?;
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
    Ok(ExitCode::SUCCESS)
}
