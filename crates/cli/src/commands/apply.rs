//! `phasezoo apply APPLICATION DIR`: what phases are for (SPEC §5) on a trained zoo, one
//! result per finished cell in `DIR/applications.json` (pz-apply).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use pz_apply::{apply, Application, ApplyOptions, ApplySummary};
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
    #[command(flatten)]
    flags: Flags,
    /// Folder of the image dataset caches (default: $PHASEZOO_DATA, else ~/.cache/phasezoo/data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

/// How an application runs (shared with `phasezoo work --apply`).
#[derive(Debug, Clone, clap::Args)]
pub struct Flags {
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
}

impl Flags {
    /// These flags as `phasezoo work --apply` takes them (for `submit`).
    pub fn to_args(&self) -> Vec<String> {
        let mut a = Vec::new();
        if self.ptmz_compat {
            a.push("--ptmz-compat".to_string());
        }
        if self.no_align {
            a.push("--no-align".to_string());
        }
        a.extend(["--points".to_string(), self.points.to_string()]);
        a
    }

    /// The library's options for these flags on `device`.
    pub fn options(&self, device: tch::Device, data_dir: Option<PathBuf>) -> ApplyOptions {
        ApplyOptions {
            device,
            ptmz_compat: self.ptmz_compat,
            align: !self.no_align,
            points: self.points,
            data_dir,
        }
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ApplicationArg {
    /// Each model's checkpoints at E-4 ... E averaged (the original's "Wise-FT").
    AverageEpochs,
    /// A cell's seeds averaged after weight matching (the original's "Git Re-Basin").
    AverageSeeds,
    /// A cell's first two seeds interpolated; barrier heights.
    Interpolate,
    /// A cell's seeds as one ensemble (mean of probabilities).
    Ensemble,
    /// Each model transferred to the zoo's [finetune] dataset: linear probe and full fine-tuning.
    Finetune,
}

impl ApplicationArg {
    /// The library's application.
    pub fn application(self) -> Application {
        match self {
            Self::AverageEpochs => Application::AverageEpochs,
            Self::AverageSeeds => Application::AverageSeeds,
            Self::Interpolate => Application::Interpolate,
            Self::Ensemble => Application::Ensemble,
            Self::Finetune => Application::Finetune,
        }
    }

    /// The name as typed (`average-seeds`).
    pub fn arg_name(self) -> String {
        clap::ValueEnum::to_possible_value(&self).map(|v| v.get_name().to_string()).unwrap_or_default()
    }
}

pub fn run(args: &Args) -> Result<ExitCode> {
    let application = args.application.application();
    let devices = match &args.device {
        Some(d) => crate::devices::requested(Some(d), "")?,
        None => {
            let zoo =
                ZooDir::open(&args.dir).with_context(|| format!("cannot open zoo {}", args.dir.display()))?;
            crate::devices::requested(None, &zoo.spec.run.device)?
        }
    };
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
