//! `metrics.json`: loss-landscape metrics of a model, JSON lines, one per measured epoch.
//!
//! Kept apart from `result.json` so that measuring never rewrites a training line; merged by
//! epoch in the index.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::Result;

/// One measured epoch: named values (docs/METRICS.md lists the keys).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsRecord {
    /// The checkpoint epoch measured.
    pub epoch: u32,
    /// Metric values by key.
    #[serde(flatten)]
    pub values: BTreeMap<String, serde_json::Value>,
}

pub(crate) fn read(path: &Path) -> Result<Vec<MetricsRecord>> {
    crate::jsonl::read(path)
}

/// Add `values` to the line of `epoch` (creating it), keeping every other key and line.
pub(crate) fn merge(path: &Path, epoch: u32, values: BTreeMap<String, serde_json::Value>) -> Result<()> {
    let mut records = read(path)?;
    match records.iter_mut().find(|r| r.epoch == epoch) {
        Some(r) => r.values.extend(values),
        None => records.push(MetricsRecord { epoch, values }),
    }
    records.sort_by_key(|r| r.epoch);
    crate::jsonl::write(path, &records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merging_keeps_other_keys_and_epochs_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.json");
        merge(&path, 10, BTreeMap::from([("a".into(), json!(1.0))])).unwrap();
        merge(&path, 5, BTreeMap::from([("b".into(), json!(2.0))])).unwrap();
        merge(&path, 10, BTreeMap::from([("c".into(), json!([1, 2]))])).unwrap();
        let back = read(&path).unwrap();
        assert_eq!(back.iter().map(|r| r.epoch).collect::<Vec<_>>(), [5, 10]);
        assert_eq!(back[1].values["a"], json!(1.0));
        assert_eq!(back[1].values["c"], json!([1, 2]));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("{\"epoch\":5,\"b\":2.0}\n"), "{text}");
    }
}
