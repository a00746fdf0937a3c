//! The flags of `phasezoo apply` that `phasezoo work --apply` and `phasezoo submit` take too:
//! which application, and how it runs (what it does: commands/apply.rs).

use std::path::PathBuf;

use pz_apply::{Application, ApplyOptions};

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
