//! The published PTMZ summary tables (`summary_metrics/<dataset>_<arch>_summary.csv`, SPEC §2.5):
//! one row per model and epoch; the landscape metrics are filled only on the analysis epoch.

use std::path::Path;

use serde::Deserialize;

use crate::{Error, Result};

/// One row of a PTMZ summary CSV (the columns phasezoo uses; others are ignored).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PtmzSummaryRow {
    /// Ray trial directory name.
    pub model: String,
    /// ResNet width (the load axis).
    pub width: f64,
    /// Seed.
    pub seed: u64,
    /// Batch size (the temperature axis).
    pub batchsize: f64,
    /// Epoch (0 = untrained).
    pub epoch: u32,
    /// Running-mean train loss of the epoch.
    pub train_loss: Option<f64>,
    /// Test accuracy.
    pub test_acc: Option<f64>,
    /// CKA of the cell (analysis epoch only).
    pub representation_similarity: Option<f64>,
    /// mc of train error in percentage points (analysis epoch only).
    pub curve_mc_train_error: Option<f64>,
    /// mc of test error in percentage points (analysis epoch only).
    pub curve_mc_test_error: Option<f64>,
    /// ln of the cell-mean Hessian trace on train data (analysis epoch only).
    pub log_hessian_trace_train: Option<f64>,
    /// ln of the cell-mean top eigenvalue on test data (analysis epoch only).
    pub log_hessian_top_ev_val: Option<f64>,
}

impl PtmzSummaryRow {
    /// Whether this row carries the landscape metrics (the analysis epoch).
    #[must_use]
    pub fn has_metrics(&self) -> bool {
        self.curve_mc_train_error.is_some() || self.representation_similarity.is_some()
    }
}

/// Read a PTMZ summary CSV.
///
/// # Errors
/// Unreadable file, or a row that does not parse (named by line, with the CSV error).
pub fn read_ptmz_summary(path: &Path) -> Result<Vec<PtmzSummaryRow>> {
    let file = fs_err::File::open(path)?;
    let mut reader = csv::Reader::from_reader(file);
    reader.deserialize().map(|row| row.map_err(|source| Error::Csv { path: path.into(), source })).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_published_columns_and_empty_metric_cells() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cifar_10_ResNet18_summary.csv");
        std::fs::write(
            &path,
            "model,trial_id,width,seed,lr,wd,batchsize,init_type,epoch,train_loss,train_acc,test_loss,test_acc,\
             representation_similarity,curve_mc_train_error,curve_mc_test_error,log_hessian_trace_train,log_hessian_top_ev_val\n\
             NN_tune_trainable_bf0b6_00005,bf0b6_00005,64,0,0.1,0.0005,1024,kaiming_uniform,114,0.002,1.0,0.9,0.72,,,,,\n\
             NN_tune_trainable_bf0b6_00005,bf0b6_00005,64,0,0.1,0.0005,1024,kaiming_uniform,115,0.00095,1.0,0.91,0.7205,0.81,-12.5,-3.0,6.1,2.2\n",
        )
        .unwrap();
        let rows = read_ptmz_summary(&path).unwrap();
        assert_eq!(rows.len(), 2);
        assert!(!rows[0].has_metrics() && rows[1].has_metrics());
        assert_eq!(rows[1].curve_mc_train_error, Some(-12.5));
        assert_eq!((rows[1].width, rows[1].batchsize, rows[1].epoch), (64.0, 1024.0, 115));
    }

    #[test]
    fn a_malformed_row_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.csv");
        std::fs::write(&path, "model,width,seed,batchsize,epoch\nm,wide,0,8,1\n").unwrap();
        let err = read_ptmz_summary(&path).unwrap_err().to_string();
        assert!(err.contains("s.csv"), "{err}");
    }
}
