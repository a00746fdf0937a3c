//! `models/<model_id>/`: one model's files.

use std::path::{Path, PathBuf};

use pz_spec::{ModelId, ResolvedModel};

use crate::checkpoint::LoadedCheckpoint;
use crate::{
    atomic_write, metrics, results, Checkpoint, EpochRecord, Error, MetricsRecord, ModelStatus, Result,
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

    /// The model's status (pending when there is no `status.json`).
    ///
    /// # Errors
    /// Malformed file.
    pub fn read_status(&self) -> Result<ModelStatus> {
        let path = self.status_path();
        match fs_err::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|source| Error::Json { path, line: None, source })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ModelStatus::pending()),
            Err(e) => Err(e.into()),
        }
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

    /// The newest checkpoint that verifies, skipping (and logging) damaged ones.
    ///
    /// # Errors
    /// The folder cannot be listed.
    pub fn latest_good_checkpoint(&self) -> Result<Option<(Checkpoint, LoadedCheckpoint)>> {
        for checkpoint in Checkpoint::list(&self.path)?.into_iter().rev() {
            match checkpoint.load() {
                Ok(loaded) => return Ok(Some((checkpoint, loaded))),
                Err(e) => tracing::warn!(model = %self.id, "skipping damaged checkpoint: {e}"),
            }
        }
        Ok(None)
    }
}
