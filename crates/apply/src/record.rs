//! `applications.json` in the zoo folder: every application's result per grid cell, so a
//! rerun skips the cells already done (the file is rewritten atomically after each cell, so
//! an interrupted run keeps what it finished).
//!
//! ```json
//! {"version": 1, "runs": {"average_epochs": {"0,1": {
//!     "load": {"key": "model.width", "name": "width", "value": 4.0}, "temperature": {…},
//!     "epoch": 6, "models": ["…", "…"],
//!     "values": {"wiseft_acc_test": 0.81, "wiseft_acc_test_delta": 0.004, …},
//!     "scores": [{"name": "…", "train_loss": 0.4, "train_acc": 0.86, "test_loss": …, "test_acc": …}]}}}}
//! ```
//! A run's name is the application and its variant (`average_seeds_aligned_ptmz_compat`);
//! a cell's key is its load and temperature indices. Non-finite numbers are `null`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pz_spec::{AxisSetting, CellIndex};
use pz_train::Scores;
use serde::{Deserialize, Serialize};

use crate::Error;

/// The file's name in the zoo folder.
pub const FILE_NAME: &str = "applications.json";

/// What this version writes.
const VERSION: u32 = 1;

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Applications {
    /// Format version (1).
    pub version: u32,
    /// Run name → cell key ([`cell_key`]) → result.
    pub runs: BTreeMap<String, BTreeMap<String, CellRecord>>,
}

impl Default for Applications {
    fn default() -> Self {
        Self { version: VERSION, runs: BTreeMap::new() }
    }
}

/// One application's result on one grid cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CellRecord {
    /// The cell's load-axis setting.
    pub load: AxisSetting,
    /// The cell's temperature-axis setting.
    pub temperature: AxisSetting,
    /// The analysis epoch E (the last trained).
    pub epoch: u32,
    /// The models used, in plan order (the first is the reference of alignment).
    pub models: Vec<String>,
    /// The cell's numbers under their names (`wiseft_acc_test_delta`, `barrier_test_loss`, …).
    pub values: BTreeMap<String, Option<f64>>,
    /// Scores of each evaluated set of weights (a model's average, an interpolation point, the
    /// ensemble).
    pub scores: Vec<ScoreRecord>,
}

/// Scores of one evaluated set of weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreRecord {
    /// What was evaluated: a model id, `average`, `ensemble`, `member`, `interpolation`.
    pub name: String,
    /// The interpolation weight of the second model (interpolations only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f64>,
    /// Mean cross-entropy on the training set.
    pub train_loss: Option<f64>,
    /// Fraction correct on the training set.
    pub train_acc: Option<f64>,
    /// Mean cross-entropy on the test set.
    pub test_loss: Option<f64>,
    /// Fraction correct on the test set.
    pub test_acc: Option<f64>,
}

impl ScoreRecord {
    /// `scores` under `name`.
    #[must_use]
    pub fn new(name: &str, alpha: Option<f64>, scores: &Scores) -> Self {
        Self {
            name: name.to_string(),
            alpha,
            train_loss: finite(scores.train_loss),
            train_acc: finite(scores.train_acc),
            test_loss: finite(scores.test_loss),
            test_acc: finite(scores.test_acc),
        }
    }
}

/// `v`, or `None` when it is not finite (JSON has no NaN).
#[must_use]
pub fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// A cell's key in a run: `"<load index>,<temperature index>"`.
#[must_use]
pub fn cell_key(cell: CellIndex) -> String {
    format!("{},{}", cell.load, cell.temperature)
}

/// The path of the file in zoo folder `zoo`.
#[must_use]
pub fn path(zoo: &Path) -> PathBuf {
    zoo.join(FILE_NAME)
}

/// The file of zoo folder `zoo` (empty when there is none yet).
///
/// # Errors
/// An unreadable or malformed file, naming it.
pub fn read(zoo: &Path) -> Result<Applications, Error> {
    let path = path(zoo);
    if !path.exists() {
        return Ok(Applications::default());
    }
    let bytes = fs_err::read(&path).map_err(pz_store::Error::from)?;
    let file: Applications =
        serde_json::from_slice(&bytes).map_err(|source| Error::Record { path: path.clone(), source })?;
    if file.version != VERSION {
        return Err(Error::Config(format!(
            "{}: version {} (this phasezoo writes {VERSION})\n  hint: move the file aside to recompute it",
            path.display(),
            file.version
        )));
    }
    Ok(file)
}

/// Replace the file of zoo folder `zoo` atomically.
///
/// # Errors
/// I/O errors, naming the file.
pub fn write(zoo: &Path, applications: &Applications) -> Result<(), Error> {
    let mut bytes = serde_json::to_vec_pretty(applications).expect("plain data serialises");
    bytes.push(b'\n');
    pz_store::atomic_write(&path(zoo), &bytes)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_round_trips_and_another_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), Applications::default(), "no file: empty");
        let axis = |name: &str| AxisSetting { key: format!("k.{name}"), name: name.into(), value: 2.0 };
        let scores = Scores { train_loss: f64::NAN, train_acc: 0.5, test_loss: 1.0, test_acc: 0.25 };
        let mut file = Applications::default();
        file.runs.entry("ensemble".into()).or_default().insert(
            cell_key(CellIndex { load: 1, temperature: 0 }),
            CellRecord {
                load: axis("width"),
                temperature: axis("batch_size"),
                epoch: 5,
                models: vec!["m".into()],
                values: [("x".to_string(), finite(f64::INFINITY))].into(),
                scores: vec![ScoreRecord::new("ensemble", Some(0.5), &scores)],
            },
        );
        write(dir.path(), &file).unwrap();
        assert_eq!(read(dir.path()).unwrap(), file);
        let text = std::fs::read_to_string(path(dir.path())).unwrap();
        assert!(text.contains("\"1,0\"") && text.contains("\"train_loss\": null"), "{text}");
        std::fs::write(path(dir.path()), text.replace("\"version\": 1", "\"version\": 2")).unwrap();
        assert!(read(dir.path()).unwrap_err().to_string().contains("version 2"));
    }
}
