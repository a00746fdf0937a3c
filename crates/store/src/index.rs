//! `index.csv`: one row per model with its axes, status and last epoch's numbers; readable by
//! pandas (`pd.read_csv`) and polars.

use std::path::Path;

use serde::Serialize;

use crate::{atomic_write, Error, Result};

/// Column names, in order (docs/FORMAT.md).
pub const INDEX_COLUMNS: [&str; 12] = [
    "model_id",
    "load_name",
    "load_value",
    "temperature_name",
    "temperature_value",
    "seed",
    "status",
    "epoch",
    "train_loss",
    "test_loss",
    "test_error",
    "message",
];

/// One row of the index. Empty cells for models without an evaluated epoch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IndexRow {
    /// Model id.
    pub model_id: String,
    /// Load axis short name.
    pub load_name: String,
    /// Load value.
    pub load_value: f64,
    /// Temperature axis short name.
    pub temperature_name: String,
    /// Temperature value.
    pub temperature_value: f64,
    /// Seed.
    pub seed: u64,
    /// pending, running, done or failed.
    pub status: String,
    /// Last evaluated epoch.
    pub epoch: Option<u32>,
    /// Its train loss.
    pub train_loss: Option<f64>,
    /// Its test loss.
    pub test_loss: Option<f64>,
    /// Its test error.
    pub test_error: Option<f64>,
    /// Failure message, if any.
    pub message: String,
}

/// Write the index atomically.
///
/// # Errors
/// I/O errors.
pub fn write_index(path: &Path, rows: &[IndexRow]) -> Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    if rows.is_empty() {
        w.write_record(INDEX_COLUMNS).map_err(|source| Error::Csv { path: path.into(), source })?;
    }
    for row in rows {
        w.serialize(row).map_err(|source| Error::Csv { path: path.into(), source })?;
    }
    let bytes = w.into_inner().map_err(|e| Error::Io(e.into_error()))?;
    atomic_write(path, &bytes)
}

/// The index rows of a planned zoo, read from its model folders.
///
/// # Errors
/// Malformed status or result files.
pub fn collect_rows(zoo: &crate::ZooDir, plan: &pz_spec::Plan) -> Result<Vec<IndexRow>> {
    plan.models
        .iter()
        .map(|m| {
            let dir = zoo.model(m.id());
            let status = dir.read_status()?;
            let last = dir.read_results()?.pop();
            let c = &m.config;
            Ok(IndexRow {
                model_id: m.id().to_string(),
                load_name: c.load.name.clone(),
                load_value: c.load.value,
                temperature_name: c.temperature.name.clone(),
                temperature_value: c.temperature.value,
                seed: c.seed,
                status: status.state.to_string(),
                epoch: last.as_ref().map(|r| r.epoch),
                train_loss: last.as_ref().map(|r| r.train_loss),
                test_loss: last.as_ref().map(|r| r.test_loss),
                test_error: last.as_ref().map(|r| r.test_error),
                message: status.message.unwrap_or_default(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_matches_the_documented_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.csv");
        let row = IndexRow {
            model_id: "0123456789abcdef".into(),
            load_name: "beta".into(),
            load_value: 30.0,
            temperature_name: "lr".into(),
            temperature_value: 1e-3,
            seed: 1,
            status: "done".into(),
            epoch: Some(20),
            train_loss: Some(0.5),
            test_loss: None,
            test_error: Some(0.9),
            message: String::new(),
        };
        write_index(&path, &[row]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next().unwrap(), INDEX_COLUMNS.join(","));
        assert_eq!(lines.next().unwrap(), "0123456789abcdef,beta,30.0,lr,0.001,1,done,20,0.5,,0.9,");
        write_index(&path, &[]).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap().trim(), INDEX_COLUMNS.join(","));
    }
}
