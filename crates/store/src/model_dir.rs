//! `models/<model_id>/`: one model's files.

use std::path::{Path, PathBuf};

use pz_spec::{ModelId, ResolvedModel};

use crate::{
    atomic_write, metrics, results, EpochRecord, Error, MetricsRecord, ModelState, ModelStatus, Result,
};

/// One model's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelDir {
    /// The folder.
    pub path: PathBuf,
    /// The model id (the folder's name).
    pub id: ModelId,
}

impl ModelDir {
    /// The folder of `id` under a zoo's `models/`.
    #[must_use]
    pub fn new(models: &Path, id: &ModelId) -> Self {
        Self { path: models.join(id.as_str()), id: id.clone() }
    }

    /// `params.json`: the model's full resolved config.
    #[must_use]
    pub fn params_path(&self) -> PathBuf {
        self.path.join("params.json")
    }
    /// `result.json`: one JSON line per evaluated epoch.
    #[must_use]
    pub fn results_path(&self) -> PathBuf {
        self.path.join("result.json")
    }
    /// `status.json`.
    #[must_use]
    pub fn status_path(&self) -> PathBuf {
        self.path.join("status.json")
    }
    /// `metrics.json`: loss-landscape metrics, one JSON line per measured epoch.
    #[must_use]
    pub fn metrics_path(&self) -> PathBuf {
        self.path.join("metrics.json")
    }

    /// All measured epochs (empty when none).
    ///
    /// # Errors
    /// Malformed lines, named by file and line.
    pub fn read_metrics(&self) -> Result<Vec<MetricsRecord>> {
        metrics::read(&self.metrics_path())
    }

    /// Add metric values to an epoch's line, keeping all others (atomic rewrite).
    ///
    /// # Errors
    /// I/O errors or a malformed existing file.
    pub fn merge_metrics(
        &self,
        epoch: u32,
        values: std::collections::BTreeMap<String, serde_json::Value>,
    ) -> Result<()> {
        metrics::merge(&self.metrics_path(), epoch, values)
    }

    /// `train.log`: the model's log lines.
    #[must_use]
    pub fn log_path(&self) -> PathBuf {
        self.path.join("train.log")
    }

    /// Write `params.json` (atomically).
    ///
    /// # Errors
    /// I/O errors.
    pub fn write_params(&self, config: &ResolvedModel) -> Result<()> {
        let text = serde_json::to_string_pretty(config).expect("configs serialize");
        atomic_write(&self.params_path(), text.as_bytes())
    }

    /// Read `params.json`.
    ///
    /// # Errors
    /// Missing or malformed file.
    pub fn read_params(&self) -> Result<ResolvedModel> {
        let path = self.params_path();
        let bytes = fs_err::read(&path)?;
        serde_json::from_slice(&bytes).map_err(|source| Error::Json { path, line: None, source })
    }

    /// All records of `result.json` (empty when absent).
    ///
    /// # Errors
    /// Malformed lines, named by file and line.
    pub fn read_results(&self) -> Result<Vec<EpochRecord>> {
        results::read(&self.results_path())
    }

    /// Replace `result.json` with these records.
    ///
    /// # Errors
    /// I/O errors.
    pub fn write_results(&self, records: &[EpochRecord]) -> Result<()> {
        results::write(&self.results_path(), records)
    }

    /// The model's status (pending when there is no `status.json`). A model whose status says
    /// done or failed at epoch `e` is only so when `result.json` holds every epoch `0..=e`;
    /// otherwise (a file cut at a line boundary) it is reported running at the last complete
    /// epoch, with a warning, so that `train` takes it up again from a checkpoint that its
    /// results reach.
    ///
    /// # Errors
    /// Malformed `status.json`; for a done or failed model, an empty, cut-short or malformed
    /// `result.json` (the error names the file and gives a hint).
    pub fn read_status(&self) -> Result<ModelStatus> {
        let path = self.status_path();
        let status: ModelStatus = match fs_err::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|source| Error::Json { path, line: None, source })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ModelStatus::pending()),
            Err(e) => return Err(e.into()),
        };
        let (ModelState::Done | ModelState::Failed, Some(epoch)) = (status.state, status.epoch) else {
            return Ok(status);
        };
        let complete = EpochRecord::last_complete_epoch(&self.read_results()?);
        if complete.is_some_and(|c| c >= epoch) {
            return Ok(status);
        }
        let message = format!(
            "status.json says {} at epoch {epoch} but result.json reaches {}",
            status.state,
            complete.map_or_else(|| "no epoch".to_string(), |c| format!("epoch {c}"))
        );
        tracing::warn!(model = %self.id, "{message}: training it again");
        Ok(ModelStatus { state: ModelState::Running, epoch: complete, message: Some(message) })
    }

    /// Write `status.json`.
    ///
    /// # Errors
    /// I/O errors.
    pub fn write_status(&self, status: &ModelStatus) -> Result<()> {
        atomic_write(&self.status_path(), &serde_json::to_vec_pretty(status).expect("status serializes"))
    }

    /// Remove what a killed writer left behind: temporary files (`.*.tmp`), temporary
    /// checkpoint folders (`.checkpoint_*`) and set-aside old checkpoints (`.trash-*`). Only
    /// call it while holding the zoo's lock, when no other writer can be mid-write.
    ///
    /// # Errors
    /// The folder cannot be listed or an entry cannot be removed.
    pub fn remove_partial_writes(&self) -> Result<usize> {
        crate::atomic::remove_partial_writes(&self.path, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(dir: &Path) -> ModelDir {
        ModelDir::new(dir, &ModelId::parse("00000000000000a1").unwrap())
    }

    fn records(epochs: std::ops::RangeInclusive<u32>) -> Vec<EpochRecord> {
        epochs
            .map(|epoch| EpochRecord {
                epoch,
                train_loss: 1.0,
                test_loss: 1.0,
                test_error: 1.0,
                step: u64::from(epoch),
                extra: std::collections::BTreeMap::new(),
            })
            .collect()
    }

    fn done_at(m: &ModelDir, epoch: u32) {
        m.write_status(&ModelStatus { state: ModelState::Done, epoch: Some(epoch), message: None }).unwrap();
    }

    #[test]
    fn issue_17_a_done_model_with_incomplete_results_is_not_done() {
        let dir = tempfile::tempdir().unwrap();
        let m = model(dir.path());
        m.write_results(&records(0..=3)).unwrap();
        done_at(&m, 3);
        assert_eq!(m.read_status().unwrap().state, ModelState::Done);
        // Cut at a line boundary: two epochs lost.
        m.write_results(&records(0..=1)).unwrap();
        let status = m.read_status().unwrap();
        assert_eq!((status.state, status.epoch), (ModelState::Running, Some(1)));
        assert!(status.message.unwrap().contains("result.json reaches epoch 1"));
        // No result.json at all.
        std::fs::remove_file(m.results_path()).unwrap();
        assert_eq!(m.read_status().unwrap().state, ModelState::Running);
    }

    #[test]
    fn issue_17_a_done_model_with_an_empty_result_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let m = model(dir.path());
        done_at(&m, 3);
        std::fs::write(m.results_path(), "").unwrap();
        let err = m.read_status().unwrap_err().to_string();
        assert!(err.contains("00000000000000a1/result.json: is empty") && err.contains("hint: "), "{err}");
        // A running model's results are the runner's to check.
        m.write_status(&ModelStatus { state: ModelState::Running, epoch: Some(2), message: None }).unwrap();
        assert_eq!(m.read_status().unwrap().state, ModelState::Running);
    }
}
