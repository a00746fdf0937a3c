//! The grid a zoo's trials form: a load axis (model size, e.g. `model::width`), a temperature
//! axis (noise of training, e.g. `training::batchsize`) and seeds, read from each trial's
//! `params.json` (SPEC §1.2: `tune.grid_search` over width × batch size × seed).
//!
//! Inference is strict on purpose: a hyperparameter that varies and is neither axis would merge
//! different models into one grid cell, so it is an error, not a guess.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{Experiment, Trial};
use crate::{Error, Result};

/// Keys that can be the load axis, most likely first: ResNet/ViT `model::width`; the GPT-2 and
/// PINN zoos' code is unpublished (SPEC §1.1), so their keys are guesses. For others, name the
/// keys with [`Grid::with_keys`].
pub const LOAD_KEYS: [&str; 5] = ["model::width", "model::model_dim", "model::dim", "model::beta", "beta"];
/// Keys that can be the temperature axis: batch size (ResNet/ViT/GPT-2 zoos), learning rate (PINN).
pub const TEMPERATURE_KEYS: [&str; 2] = ["training::batchsize", "optim::lr"];
/// The seed key.
pub const SEED_KEY: &str = "seed";

/// Keys that differ between trials for reasons other than the model: paths, machines,
/// run-time values, phasezoo's model ids.
fn is_bookkeeping(key: &str) -> bool {
    matches!(key, "resources" | "dataset::dump" | "training::data_path" | "cuda" | "device")
        || key.ends_with("::workers")
        || key.starts_with("scheduler::")
        // What `phasezoo export` adds: the model's id in the zoo it came from.
        || key.starts_with("phasezoo::")
}

/// One axis: its `params.json` key and its distinct values, ascending.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// The key, e.g. `model::width`.
    pub key: String,
    /// Distinct values, ascending (for batch size, ascending is hottest first).
    pub values: Vec<f64>,
}

/// One grid cell: the trials sharing a load and a temperature, one per seed.
#[derive(Debug, Clone, PartialEq)]
pub struct GridCell {
    /// Load value.
    pub load: f64,
    /// Temperature value.
    pub temperature: f64,
    /// `(seed, index into Experiment::trials)`, by seed.
    pub trials: Vec<(i64, usize)>,
}

/// Load × temperature × seed.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// The load axis.
    pub load: Axis,
    /// The temperature axis.
    pub temperature: Axis,
    /// All seeds, ascending.
    pub seeds: Vec<i64>,
    /// Cells with at least one trial, load-major, each axis ascending.
    pub cells: Vec<GridCell>,
}

impl Grid {
    /// Find the axes among [`LOAD_KEYS`] and [`TEMPERATURE_KEYS`]: for each, the key present in
    /// every trial that varies (or, if none varies, the first present: a one-value axis).
    ///
    /// # Errors
    /// No trials; no known key for an axis; two candidate keys varying for one axis; another
    /// hyperparameter varying; a trial without a numeric axis value or an integer seed; two
    /// trials with the same load, temperature and seed.
    pub fn infer(experiment: &Experiment) -> Result<Grid> {
        let load = pick_axis(experiment, &LOAD_KEYS, "load")?;
        let temperature = pick_axis(experiment, &TEMPERATURE_KEYS, "temperature")?;
        Grid::with_keys(experiment, load, temperature)
    }

    /// Build the grid on the given keys, with the same checks as [`Grid::infer`].
    ///
    /// # Errors
    /// As [`Grid::infer`], less the key search.
    pub fn with_keys(experiment: &Experiment, load_key: &str, temperature_key: &str) -> Result<Grid> {
        let fail = |message: String| Error::Grid { path: experiment.dir.clone(), message };
        if experiment.trials.is_empty() {
            return Err(fail("no trial folders".into()));
        }
        if let Some(other) =
            varying_keys(&experiment.trials).into_iter().find(|k| *k != load_key && *k != temperature_key)
        {
            return Err(fail(format!(
                "`{other}` varies between trials but is neither the load axis `{load_key}` nor the temperature axis `{temperature_key}`"
            )));
        }
        let mut by_cell: BTreeMap<(Key, Key), BTreeMap<i64, usize>> = BTreeMap::new();
        for (i, trial) in experiment.trials.iter().enumerate() {
            let value = |key: &str| {
                trial.param_f64(key).filter(|v| v.is_finite()).ok_or_else(|| {
                    fail(format!("trial {} has no numeric `{key}` in params.json", trial.dir.display()))
                })
            };
            let (load, temperature) = (value(load_key)?, value(temperature_key)?);
            let seed = trial
                .seed()
                .ok_or_else(|| fail(format!("trial {} has no integer `{SEED_KEY}`", trial.dir.display())))?;
            let cell = by_cell.entry((Key(load), Key(temperature))).or_default();
            if let Some(&other) = cell.get(&seed) {
                return Err(fail(format!(
                    "trials {} and {} are the same model ({load_key}={load}, {temperature_key}={temperature}, seed={seed})",
                    experiment.trials[other].dir.display(),
                    trial.dir.display()
                )));
            }
            cell.insert(seed, i);
        }
        let axis = |key: &str, pick: fn(&(Key, Key)) -> f64| Axis {
            key: key.to_owned(),
            values: by_cell
                .keys()
                .map(pick)
                .map(Key)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .map(|k| k.0)
                .collect(),
        };
        let load = axis(load_key, |k| k.0 .0);
        let temperature = axis(temperature_key, |k| k.1 .0);
        let seeds =
            by_cell.values().flat_map(BTreeMap::keys).copied().collect::<BTreeSet<_>>().into_iter().collect();
        let cells = by_cell
            .into_iter()
            .map(|((load, temperature), trials)| GridCell {
                load: load.0,
                temperature: temperature.0,
                trials: trials.into_iter().collect(),
            })
            .collect();
        Ok(Grid { load, temperature, seeds, cells })
    }

    /// Whether every load × temperature cell holds every seed.
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.cells.len() == self.load.values.len() * self.temperature.values.len()
            && self.cells.iter().all(|c| c.trials.len() == self.seeds.len())
    }

    /// The cell at a load and temperature.
    #[must_use]
    pub fn cell(&self, load: f64, temperature: f64) -> Option<&GridCell> {
        self.cells.iter().find(|c| c.load == load && c.temperature == temperature)
    }
}

/// A finite f64 ordered totally, for map keys.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Key(f64);

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Hyperparameters (not seed, not bookkeeping) whose value differs between trials, or which
/// some trials lack.
fn varying_keys(trials: &[Trial]) -> Vec<&str> {
    let keys: BTreeSet<&str> = trials.iter().flat_map(|t| t.params.keys().map(String::as_str)).collect();
    keys.into_iter()
        .filter(|k| *k != SEED_KEY && !is_bookkeeping(k))
        .filter(|k| {
            let first = trials[0].params.get(*k);
            trials.iter().any(|t| t.params.get(*k) != first)
        })
        .collect()
}

fn pick_axis<'k>(experiment: &Experiment, candidates: &[&'k str], axis: &str) -> Result<&'k str> {
    let fail = |message: String| Error::Grid { path: experiment.dir.clone(), message };
    let present: Vec<&'k str> = candidates
        .iter()
        .copied()
        .filter(|k| experiment.trials.iter().all(|t| t.params.get(*k).is_some_and(Value::is_number)))
        .collect();
    let varying: Vec<&'k str> = present
        .iter()
        .copied()
        .filter(|k| experiment.trials.iter().any(|t| t.params.get(*k) != experiment.trials[0].params.get(*k)))
        .collect();
    match (varying.as_slice(), present.first()) {
        ([one], _) => Ok(one),
        ([], Some(first)) => Ok(first),
        ([], None) => {
            Err(fail(format!("no {axis} key in every trial's params.json (looked for {candidates:?})")))
        }
        (many, _) => Err(fail(format!("several {axis} keys vary ({many:?}); name the axes explicitly"))),
    }
}
