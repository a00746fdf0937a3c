//! [`apply`]: one application over every finished cell of a zoo, resumable.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use pz_align::AveragingRule;
use pz_spec::{Plan, PlannedModel};
use pz_store::{unit_hash, Claims, ZooDir};
use pz_train::{finetune_data, zoo_data, zoo_family, BnConditioning};
use pz_train::{ClaimedRun, ClaimedUnit, UnitEnd, WorkOptions, ZooAccess};
use tch::Device;

use crate::applications::{
    average_epochs, average_seeds, ensemble, finetune, interpolate, Context, EPOCH_WINDOW,
};
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
    /// Each model transferred to the `[finetune]` dataset: linear probe and/or full
    /// fine-tuning (SPEC §5.4).
    Finetune,
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
            Self::Finetune => "finetune",
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
        if self.ptmz_compat && !matches!(application, Application::Ensemble | Application::Finetune) {
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
/// yet, writing `applications.json` after each cell, then the labelled index. Holds the zoo's
/// lock throughout; the cells are picked and finished through claims as workers' are
/// ([`apply_claimed`]).
///
/// # Errors
/// A zoo that cannot run it (too few epochs or checkpoints kept, one seed per cell, a family
/// that cannot score weights), unreadable checkpoints, a malformed `applications.json`.
pub fn apply(dir: &Path, application: Application, options: &ApplyOptions) -> Result<ApplySummary, Error> {
    let zoo = ZooDir::open(dir)?;
    let lock = zoo.lock()?;
    let stop = AtomicBool::new(false);
    let claiming = WorkOptions::this_process();
    let summary = apply_claimed(&zoo, application, options, ZooAccess::Exclusive(&lock), &claiming, &stop)?;
    // The index carries the cells' values (pz_store::APPLICATION_COLUMNS).
    let plan = Plan::new(&zoo.spec)?;
    pz_phases::write_labelled_index(&zoo, &plan).map_err(|e| Error::Index(Box::new(e)))?;
    Ok(summary)
}

/// [`apply`] as a worker among many (`phasezoo work --apply`) or alone (`access`): each
/// finished cell the file does not hold yet is a unit (`a-<hash>`), claimed, computed on
/// `options.device` and merged into `applications.json` under a second claim that
/// serialises the file's writers (`a-applications-json`), so that workers never lose each
/// other's cells. The file's bytes do not depend on the order cells are merged in.
///
/// # Errors
/// As [`apply`], and claims' I/O.
pub fn apply_claimed(
    zoo: &ZooDir,
    application: Application,
    options: &ApplyOptions,
    access: ZooAccess<'_>,
    claiming: &WorkOptions,
    stop: &AtomicBool,
) -> Result<ApplySummary, Error> {
    let dir = zoo.path.as_path();
    let plan = Plan::new(&zoo.spec)?;
    let data = zoo_data(&zoo.spec.problem, options.data_dir.as_deref())?;
    let family = zoo_family(&zoo.spec.problem, &data)?;
    let claims = Claims::new(dir, claiming.lease);
    if let ZooAccess::Exclusive(lock) = access {
        claims.clear_stale(lock)?;
    }
    let (cells, unfinished_cells) = finished_cells(zoo, &plan)?;
    for models in &cells {
        check(zoo, application, models)?;
    }
    // The transfer's target data, loaded once per run.
    let target = match (application, &zoo.spec.finetune) {
        (Application::Finetune, Some(cfg)) => {
            Some(finetune_data(&zoo.spec.problem, &cfg.dataset, options.data_dir.as_deref())?)
        }
        _ => None,
    };
    let ctx = Context {
        zoo,
        family: family.as_ref(),
        device: options.device,
        rule: if options.ptmz_compat { AveragingRule::PtmzCompat } else { AveragingRule::Uniform },
        conditioning: if options.ptmz_compat {
            BnConditioning::PtmzCompat
        } else {
            BnConditioning::Recompute
        },
        align: options.align,
        target: target.as_ref().zip(zoo.spec.finetune.as_ref()),
    };
    let mut run = options.run_name(application);
    if let (Application::Finetune, Some(cfg)) = (application, &zoo.spec.finetune) {
        run = format!("{run}_{}", cfg.dataset.replace('-', "_"));
    }
    let is_done = |models: &[PlannedModel]| -> Result<bool, Error> {
        let file = record::read(dir)?;
        Ok(file.runs.get(&run).is_some_and(|cells| cells.contains_key(&cell_key(models[0].cell))))
    };
    let mut already_done = 0;
    for models in &cells {
        already_done += usize::from(is_done(models)?);
    }
    let pending = || -> Result<Vec<ClaimedUnit<Vec<PlannedModel>>>, Error> {
        let mut out = Vec::new();
        for models in &cells {
            if !is_done(models)? {
                out.push(ClaimedUnit::first_come(unit_id(&run, models), models.clone()));
            }
        }
        Ok(out)
    };
    let devices = [options.device];
    let claimed = ClaimedRun { zoo: dir, devices: &devices, jobs: 1, stop, options: claiming };
    let report = claimed.run(
        pending,
        |_| (),
        |(), models: &Vec<PlannedModel>, _, _| {
            // Read again under the claim: its last holder may have written it meanwhile.
            if is_done(models)? {
                return Ok(UnitEnd::NothingLeft);
            }
            let cell = apply_cell(&ctx, application, options, models, &run)?;
            let key = cell_key(models[0].cell);
            with_file_claim(&claims, claiming, stop, || {
                let mut file = record::read(dir)?;
                file.runs.entry(run.clone()).or_default().insert(key.clone(), cell.clone());
                record::write(dir, &file)
            })?;
            Ok(UnitEnd::Done)
        },
    )?;
    if let ZooAccess::Exclusive(lock) = access {
        claims.clear_stale(lock)?;
    }
    Ok(ApplySummary { run, done: report.units, already_done, unfinished_cells, path: record::path(dir) })
}

/// The claim name of `run` on a cell of `models`.
fn unit_id(run: &str, models: &[PlannedModel]) -> String {
    let mut lines = vec![run.to_string()];
    lines.extend(models.iter().map(|m| m.id().to_string()));
    format!("a-{}", unit_hash(&lines))
}

/// Run `write` holding the claim on `applications.json` (waiting while another worker holds
/// it, taking it over if that worker died).
fn with_file_claim(
    claims: &Claims,
    claiming: &WorkOptions,
    stop: &AtomicBool,
    write: impl FnOnce() -> Result<(), Error>,
) -> Result<(), Error> {
    loop {
        if let Some(claim) = claims.try_claim(FILE_CLAIM, &claiming.worker)? {
            let (written, _) = claims.hold(claim, stop, |_| write())?;
            return written;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The claim that serialises the writers of `applications.json`.
const FILE_CLAIM: &str = "a-applications-json";

/// `application` on one finished cell (`models`, plan order), as the file records it.
///
/// # Errors
/// As [`apply`].
fn apply_cell(
    ctx: &Context<'_>,
    application: Application,
    options: &ApplyOptions,
    models: &[PlannedModel],
    run: &str,
) -> Result<CellRecord, Error> {
    let key = cell_key(models[0].cell);
    let epoch = models[0].config.train.epochs;
    let _span = tracing::info_span!("apply", run = %run, cell = %key).entered();
    let (values, scores) = match application {
        Application::AverageEpochs => average_epochs(ctx, models, epoch)?,
        Application::AverageSeeds => average_seeds(ctx, models, epoch)?,
        Application::Interpolate => interpolate(ctx, models, epoch, options.points)?,
        Application::Ensemble => ensemble(ctx, models, epoch)?,
        Application::Finetune => finetune(ctx, models, epoch)?,
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
    Ok(cell)
}

/// Whether `application` can run on a cell, before anything is computed: several seeds for
/// the seed applications, and for epoch averaging E ≥ 5 with checkpoints kept at E−4 … E.
fn check(zoo: &ZooDir, application: Application, models: &[PlannedModel]) -> Result<(), Error> {
    let name = application.name();
    if application == Application::Finetune {
        if zoo.spec.finetune.is_none() {
            return Err(Error::Config(format!(
                "{name} transfers the zoo's models to a second dataset named in a [finetune] table; {} has none\n  hint: add to zoo.toml\n    [finetune]\n    dataset = \"mnist\"   # \"stl10\" for a CIFAR-10 zoo; a corpus and modes = [\"full\"] for a language-model zoo; see docs/FORMAT.md",
                zoo.path.join("zoo.toml").display()
            )));
        }
        return Ok(());
    }
    if !matches!(application, Application::AverageEpochs) && models.len() < 2 {
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
