//! A PTMZ experiment folder in the Ray Tune 2.x layout (SPEC §2.1): one folder per trial, each
//! with `params.json` (its resolved config), `result.json` (one line per epoch) and
//! `checkpoint_<epoch:06>/checkpoints` files (`torch.save` state dicts). Only names and JSON are
//! read here; checkpoints are listed, not opened.

mod grid;
mod results;
mod trial_name;

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

pub use grid::{Axis, Grid, GridCell, LOAD_KEYS, SEED_KEY, TEMPERATURE_KEYS};
pub use results::{read_results, EpochResult, RAY_KEYS};
pub use trial_name::TrialName;

use crate::{Error, Result};

/// A PTMZ experiment: its trials, sorted by trial index.
#[derive(Debug, Clone, PartialEq)]
pub struct Experiment {
    /// The experiment folder (e.g. `tune_zoo_cifar10_Resnet18_width_kaiming_uniform_150eps_width_2-256`).
    pub dir: PathBuf,
    /// Every trial folder found.
    pub trials: Vec<Trial>,
}

/// One trial: one model of the zoo.
#[derive(Debug, Clone, PartialEq)]
pub struct Trial {
    /// The trial folder.
    pub dir: PathBuf,
    /// Its parsed name.
    pub name: TrialName,
    /// `params.json`: the trial's config, keys as the original spells them (`model::width`,
    /// `training::batchsize`, `seed`, `optim::lr`, ...).
    pub params: Map<String, Value>,
    /// `result.json`, in file order; empty when the file is absent.
    pub results: Vec<EpochResult>,
    /// Complete `checkpoint_<epoch>` folders, by epoch.
    pub checkpoints: Vec<CheckpointFiles>,
    /// `checkpoint_<epoch>` folders without a `checkpoints` file (an interrupted save).
    pub incomplete_checkpoints: Vec<PathBuf>,
}

/// The files of one `checkpoint_<epoch:06>` folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointFiles {
    /// The epoch in the folder name (`checkpoint_000115` → 115; 0 = untrained).
    pub epoch: u32,
    /// `checkpoints`: `torch.save(model.state_dict())`; read it with
    /// [`read_state_dict`](crate::read_state_dict).
    pub model: PathBuf,
    /// `optimizer`: the SGD state dict, when present.
    pub optimizer: Option<PathBuf>,
}

impl Trial {
    /// A numeric hyperparameter from `params.json`.
    #[must_use]
    pub fn param_f64(&self, key: &str) -> Option<f64> {
        self.params.get(key).and_then(Value::as_f64)
    }

    /// The seed (`params.json` key `seed`).
    #[must_use]
    pub fn seed(&self) -> Option<i64> {
        self.params.get(SEED_KEY).and_then(Value::as_i64)
    }

    /// The checkpoint of `epoch`, if saved.
    #[must_use]
    pub fn checkpoint(&self, epoch: u32) -> Option<&CheckpointFiles> {
        self.checkpoints.iter().find(|c| c.epoch == epoch)
    }

    /// The result line of `epoch` (matched on `training_iteration`, not the line number).
    #[must_use]
    pub fn result(&self, epoch: u32) -> Option<&EpochResult> {
        self.results.iter().find(|r| r.training_iteration == epoch)
    }
}

impl Experiment {
    /// The grid the trials form; see [`Grid::infer`].
    ///
    /// # Errors
    /// As [`Grid::infer`].
    pub fn grid(&self) -> Result<Grid> {
        Grid::infer(self)
    }
}

/// Read an experiment folder: every sub-folder whose name is a Ray trial name is a trial
/// (other entries, such as `config.json`, Ray's state files or sibling metric experiments, are
/// skipped).
///
/// # Errors
/// Unreadable folders or files; a trial without `params.json`, or with invalid JSON; a trial
/// whose folder tags contradict its `params.json` (an integer tag such as `seed=1` beside
/// `"seed": 2`).
pub fn read_experiment(dir: &Path) -> Result<Experiment> {
    let mut trials = Vec::new();
    for entry in fs_err::read_dir(dir)? {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().and_then(TrialName::parse) else { continue };
        if entry.file_type()?.is_dir() {
            trials.push(read_trial(&entry.path(), name)?);
        }
    }
    trials.sort_by(|a, b| (a.name.index, &a.dir).cmp(&(b.name.index, &b.dir)));
    Ok(Experiment { dir: dir.to_owned(), trials })
}

fn read_trial(dir: &Path, name: TrialName) -> Result<Trial> {
    let params_path = dir.join("params.json");
    if !params_path.is_file() {
        return Err(Error::Trial { path: dir.to_owned(), message: "no params.json".into() });
    }
    let params: Map<String, Value> = serde_json::from_str(&fs_err::read_to_string(&params_path)?)
        .map_err(|source| Error::Json { path: params_path.clone(), line: None, source })?;
    check_tags(&params_path, &name, &params)?;
    let results_path = dir.join("result.json");
    let results = if results_path.is_file() { read_results(&results_path)? } else { Vec::new() };
    let mut checkpoints = Vec::new();
    let mut incomplete_checkpoints = Vec::new();
    for entry in fs_err::read_dir(dir)? {
        let entry = entry?;
        let folder = entry.file_name();
        let Some(epoch) =
            folder.to_str().and_then(|f| f.strip_prefix("checkpoint_")).and_then(|e| e.parse().ok())
        else {
            continue;
        };
        let model = entry.path().join("checkpoints");
        if model.is_file() {
            let optimizer = Some(entry.path().join("optimizer")).filter(|p| p.is_file());
            checkpoints.push(CheckpointFiles { epoch, model, optimizer });
        } else {
            incomplete_checkpoints.push(entry.path());
        }
    }
    checkpoints.sort_by_key(|c| c.epoch);
    incomplete_checkpoints.sort();
    Ok(Trial { dir: dir.to_owned(), name, params, results, checkpoints, incomplete_checkpoints })
}

/// Ray formats floats in tags to four decimals, so only integer tags can be compared exactly;
/// a contradiction means the folder was renamed or the params file copied from another trial.
fn check_tags(params_path: &Path, name: &TrialName, params: &Map<String, Value>) -> Result<()> {
    for (key, value) in params {
        let (Some(tag), Some(param)) = (name.tag(key), value.as_i64()) else { continue };
        if tag.parse::<i64>().is_ok_and(|t| t != param) {
            return Err(Error::Trial {
                path: params_path.to_owned(),
                message: format!("`{key}` is {param} but the folder name says {tag}"),
            });
        }
    }
    Ok(())
}
