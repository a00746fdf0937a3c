//! [`apply`]: one application over every finished cell of a zoo, resumable.

use std::path::{Path, PathBuf};

use pz_align::AveragingRule;
use pz_spec::{Plan, PlannedModel};
use pz_store::ZooDir;
use pz_train::BnConditioning;
use pz_train::{zoo_data, zoo_family};
use tch::Device;

use crate::applications::{average_epochs, average_seeds, ensemble, interpolate, Context, EPOCH_WINDOW};
use crate::cells::finished_cells;
use crate::record::{self, cell_key, CellRecord};
use crate::Error;

/// Which application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Application {
    /// Each model's last five checkpoints averaged (SPEC §5.1).
    AverageEpochs,
    /// A cell's seeds averaged, aligned first unless `--no-align` (SPEC §5.2).
    AverageSeeds,
    /// A cell's first two seeds interpolated (SPEC §5.3).
    Interpolate,
    /// A cell's seeds as one ensemble.
    Ensemble,
}

impl Application {
    /// The application's name in `applications.json` and on the command line (snake case).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::AverageEpochs => "average_epochs",
            Self::AverageSeeds => "average_seeds",
            Self::Interpolate => "interpolate",
            Self::Ensemble => "ensemble",
        }
    }
}

/// How an application runs.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyOptions {
    /// Where weights are scored.
    pub device: Device,
    /// The original's averaging quirk ("weight" keys only) and BatchNorm conditioning (100
    /// passes, statistics not reset) instead of uniform averaging and exact recomputation.
    pub ptmz_compat: bool,
    /// Align seeds by weight matching before averaging or interpolating (default on).
    pub align: bool,
    /// Interpolation points, both endpoints included.
    pub points: usize,
    /// Folder of the dataset caches (`None`: `$PHASEZOO_DATA`, else the default).
    pub data_dir: Option<PathBuf>,
}

impl Default for ApplyOptions {
    /// CPU, uniform averaging with recomputed BatchNorm, aligned, 11 points (α in steps of 0.1).
    fn default() -> Self {
        Self { device: Device::Cpu, ptmz_compat: false, align: true, points: 11, data_dir: None }
    }
}

impl ApplyOptions {
    /// The run's name in `applications.json`: the application and the variant that changes
    /// its numbers (`average_seeds_aligned_ptmz_compat`).
    #[must_use]
    pub fn run_name(&self, application: Application) -> String {
        let mut name = application.name().to_string();
        if matches!(application, Application::AverageSeeds | Application::Interpolate) {
            name += if self.align { "_aligned" } else { "_unaligned" };
        }
        if self.ptmz_compat && application != Application::Ensemble {
            name += "_ptmz_compat";
        }
        name
    }
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplySummary {
    /// The run's name in the file.
    pub run: String,
    /// Cells computed now.
    pub done: usize,
    /// Cells found done by an earlier run, skipped.
    pub already_done: usize,
    /// Cells not finished training, skipped.
    pub unfinished_cells: usize,
    /// `applications.json`.
    pub path: PathBuf,
}

/// Run `application` on every finished cell of the zoo in `dir` that the file does not hold
/// yet, writing `applications.json` after each cell. Holds the zoo's lock throughout.
///
/// # Errors
/// A zoo that cannot run it (too few epochs or checkpoints kept, one seed per cell, a family
/// that cannot score weights), unreadable checkpoints, a malformed `applications.json`.
pub fn apply(dir: &Path, application: Application, options: &ApplyOptions) -> Result<ApplySummary, Error> {
    let zoo = ZooDir::open(dir)?;
    let plan = Plan::new(&zoo.spec)?;
    let data = zoo_data(&zoo.spec.problem, options.data_dir.as_deref())?;
    let family = zoo_family(&zoo.spec.problem, &data)?;
    let _lock = zoo.lock()?;
    let (cells, unfinished_cells) = finished_cells(&zoo, &plan)?;
    for models in &cells {
        check(&zoo, application, models)?;
    }
    let ctx = Context {
        zoo: &zoo,
        family: family.as_ref(),
        device: options.device,
        rule: if options.ptmz_compat { AveragingRule::PtmzCompat } else { AveragingRule::Uniform },
        conditioning: if options.ptmz_compat {
            BnConditioning::PtmzCompat
        } else {
            BnConditioning::Recompute
        },
        align: options.align,
    };
    let run = options.run_name(application);
    let mut file = record::read(dir)?;
    let mut summary = ApplySummary {
        run: run.clone(),
        done: 0,
        already_done: 0,
        unfinished_cells,
        path: record::path(dir),
    };
    for models in &cells {
        let key = cell_key(models[0].cell);
        if file.runs.get(&run).is_some_and(|cells| cells.contains_key(&key)) {
            summary.already_done += 1;
            continue;
        }
        let epoch = models[0].config.train.epochs;
        let _span = tracing::info_span!("apply", run = %run, cell = %key).entered();
        let (values, scores) = match application {
            Application::AverageEpochs => average_epochs(&ctx, models, epoch)?,
            Application::AverageSeeds => average_seeds(&ctx, models, epoch)?,
            Application::Interpolate => interpolate(&ctx, models, epoch, options.points)?,
            Application::Ensemble => ensemble(&ctx, models, epoch)?,
        };
        let m = &models[0].config;
        let cell = CellRecord {
            load: m.load.clone(),
            temperature: m.temperature.clone(),
            epoch,
            models: models.iter().map(|m| m.id().to_string()).collect(),
            values,
            scores,
        };
        tracing::info!(values = ?cell.values, "cell done");
        file.runs.entry(run.clone()).or_default().insert(key, cell);
        record::write(dir, &file)?;
        summary.done += 1;
    }
    Ok(summary)
}

/// Whether `application` can run on a cell, before anything is computed: several seeds for
/// the seed applications, and for epoch averaging E ≥ 5 with checkpoints kept at E−4 … E.
fn check(zoo: &ZooDir, application: Application, models: &[PlannedModel]) -> Result<(), Error> {
    let name = application.name();
    if application != Application::AverageEpochs && models.len() < 2 {
        return Err(Error::Config(format!(
            "{name} needs at least two seeds per cell; this zoo has {}\n  hint: add seeds to grid.seeds and train them",
            models.len()
        )));
    }
    if application == Application::AverageEpochs {
        let last = models[0].config.train.epochs;
        if last < EPOCH_WINDOW {
            return Err(Error::Config(format!(
                "{name} averages the checkpoints of epochs E-4 ... E; this zoo trains {last} epochs\n  hint: train at least {EPOCH_WINDOW} epochs"
            )));
        }
        let policy = &zoo.spec.checkpoint;
        let missing: Vec<u32> =
            (last + 1 - EPOCH_WINDOW..=last).filter(|&e| !policy.keeps(e, last)).collect();
        if !missing.is_empty() {
            return Err(Error::Config(format!(
                "{name} averages the checkpoints of epochs {}..={last}; the spec's [checkpoint] policy does not keep epochs {missing:?}\n  hint: add them to [checkpoint] epochs (or every = 1) before training",
                last + 1 - EPOCH_WINDOW
            )));
        }
    }
    Ok(())
}
