//! `result.json`: JSON lines, one per evaluated epoch (line index = epoch, as the original).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::Result;

/// One evaluated epoch. Non-finite numbers (a diverged model) are written as `null` and read
/// back as NaN, so a failed model's file stays valid JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch (0 = the untrained model).
    pub epoch: u32,
    /// Training loss: mean over the epoch's optimizer steps (the original's running mean).
    #[serde(with = "nan_as_null")]
    pub train_loss: f64,
    /// Loss on the evaluation set (for PINNs: mean squared error against the exact solution).
    #[serde(with = "nan_as_null")]
    pub test_loss: f64,
    /// Error on the evaluation set (for PINNs: relative L2 error; for classifiers: 1 − accuracy).
    #[serde(with = "nan_as_null")]
    pub test_error: f64,
    /// Optimizer steps taken so far.
    pub step: u64,
    /// Further keys (metrics, timings), kept in key order.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl EpochRecord {
    /// The last epoch `e` such that `records` hold epochs `0..=e` in order, one line each (the
    /// line index is the epoch); `None` when they do not start with epoch 0. What training
    /// left complete: a file cut at a line boundary reaches less far than its status says.
    #[must_use]
    pub fn last_complete_epoch(records: &[Self]) -> Option<u32> {
        records
            .iter()
            .enumerate()
            .take_while(|(i, r)| u32::try_from(*i).is_ok_and(|i| i == r.epoch))
            .last()
            .map(|(_, r)| r.epoch)
    }
}

mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    #[allow(clippy::trivially_copy_pass_by_ref)]
    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else {
            s.serialize_none()
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}

/// Read all records; a malformed line is an error naming the file and line.
pub(crate) fn read(path: &Path) -> Result<Vec<EpochRecord>> {
    crate::jsonl::read(path)
}

/// Replace the file with these records.
pub(crate) fn write(path: &Path, records: &[EpochRecord]) -> Result<()> {
    crate::jsonl::write(path, records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(epoch: u32, loss: f64) -> EpochRecord {
        EpochRecord {
            epoch,
            train_loss: loss,
            test_loss: 0.5,
            test_error: 0.25,
            step: 10,
            extra: BTreeMap::new(),
        }
    }

    #[test]
    fn round_trips_and_writes_nan_as_null() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("result.json");
        let mut records = vec![rec(0, 1.5), rec(1, f64::NAN)];
        records[0].extra.insert("hessian_top_ev".into(), serde_json::json!(3.0));
        write(&path, &records).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(text.lines().nth(1).unwrap().contains("\"train_loss\":null"));
        let back = read(&path).unwrap();
        assert_eq!(back[0], records[0]);
        assert!(back[1].train_loss.is_nan());
    }

    #[test]
    fn a_bad_line_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("result.json");
        std::fs::write(
            &path,
            "{\"epoch\":0,\"train_loss\":1,\"test_loss\":1,\"test_error\":1,\"step\":0}\n{\"epo",
        )
        .unwrap();
        let err = read(&path).unwrap_err().to_string();
        assert!(err.contains("result.json: line 2 is cut short"), "{err}");
        assert!(err.contains("hint: the model's training record is lost"), "{err}");
        std::fs::write(
            &path,
            "{\"epoch\":0,\"train_loss\":1,\"test_loss\":1,\"test_error\":1,\"step\":0}\n{\"epo\n{}\n",
        )
        .unwrap();
        let err = read(&path).unwrap_err().to_string();
        assert!(err.contains("result.json: invalid JSON on line 2"), "{err}");
    }

    #[test]
    fn the_last_complete_epoch_is_where_the_lines_stop_counting_up_from_zero() {
        let at = |epochs: &[u32]| -> Option<u32> {
            EpochRecord::last_complete_epoch(&epochs.iter().map(|&e| rec(e, 1.0)).collect::<Vec<_>>())
        };
        assert_eq!(at(&[0, 1, 2, 3]), Some(3));
        assert_eq!(at(&[0, 1, 3]), Some(1));
        assert_eq!(at(&[1, 2]), None);
        assert_eq!(at(&[]), None);
    }
}
