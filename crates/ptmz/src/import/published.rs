//! The landscape metrics PTMZ published in its result lines (SPEC §2.5), written to the imported
//! model's `metrics.json` under phasezoo's keys, so that `phases`, `plot` and `report` read an
//! imported zoo's labels from the original's own measurements (and `phasezoo metrics` adds only
//! what is missing).
//!
//! Mapping: `representation_similarity` (a number, or its per-batch vector averaged) → `cka`;
//! `curve_mc_{train,test}_{error,loss}` → `mc_*` (errors in percentage points, as phasezoo's);
//! `log_hessian_trace_train` (else `log_hessian_trace`) → `hessian_trace` = exp(·), likewise
//! `log_hessian_top_ev_train` / `log_hessian_top_ev` → `hessian_top_ev`, and the `_val` keys →
//! `hessian_*_val`. PTMZ's values are cell means written to every seed's line, as phasezoo's
//! cell metrics are; its Hessian logs are of the cell mean, so every seed gets that mean.

use std::collections::BTreeMap;

use pz_store::{EpochRecord, MetricKey};
use serde_json::Value;

/// (phasezoo key, PTMZ keys in order of preference, whether PTMZ stored its natural log).
const MAPPING: [(&str, &[&str], bool); 9] = [
    (MetricKey::Cka.as_str(), &["representation_similarity"], false),
    (MetricKey::McTrainError.as_str(), &["curve_mc_train_error"], false),
    (MetricKey::McTestError.as_str(), &["curve_mc_test_error"], false),
    (MetricKey::McTrainLoss.as_str(), &["curve_mc_train_loss"], false),
    (MetricKey::McTestLoss.as_str(), &["curve_mc_test_loss"], false),
    (MetricKey::HessianTrace.as_str(), &["log_hessian_trace_train", "log_hessian_trace"], true),
    (MetricKey::HessianTopEv.as_str(), &["log_hessian_top_ev_train", "log_hessian_top_ev"], true),
    // MetricKey::on_test_set forms (not const).
    ("hessian_trace_val", &["log_hessian_trace_val"], true),
    ("hessian_top_ev_val", &["log_hessian_top_ev_val"], true),
];

/// A number, or the mean of a list of numbers (PTMZ's per-batch CKA vector).
fn scalar(v: &Value) -> Option<f64> {
    match v {
        Value::Array(items) => {
            let xs: Option<Vec<f64>> = items.iter().map(Value::as_f64).collect();
            let xs = xs?;
            #[allow(clippy::cast_precision_loss)]
            (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
        }
        other => other.as_f64(),
    }
}

/// Per epoch, the published metrics of `records` under phasezoo's keys (epochs without any:
/// absent). Non-finite values are left out.
pub(crate) fn published_metrics(records: &[EpochRecord]) -> BTreeMap<u32, BTreeMap<String, Value>> {
    let mut out = BTreeMap::new();
    for r in records {
        let mut values = BTreeMap::new();
        for (key, sources, logged) in MAPPING {
            let Some(x) = sources.iter().find_map(|s| r.extra.get(*s).and_then(scalar)) else { continue };
            let x = if logged { x.exp() } else { x };
            if let Some(n) = serde_json::Number::from_f64(x) {
                values.insert(key.to_string(), Value::Number(n));
            }
        }
        if !values.is_empty() {
            out.insert(r.epoch, values);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(epoch: u32, extra: serde_json::Value) -> EpochRecord {
        let extra = extra.as_object().unwrap().clone().into_iter().collect();
        EpochRecord { epoch, step: 0, train_loss: 0.1, test_loss: 0.2, test_error: 0.3, extra }
    }

    #[test]
    fn the_published_keys_map_to_phasezoos_and_logs_are_undone() {
        let records = vec![
            record(1, serde_json::json!({"train_acc": 0.9})),
            record(
                2,
                serde_json::json!({
                    "representation_similarity": [0.8, 0.9],
                    "curve_mc_train_error": -12.5,
                    "log_hessian_trace_train": 2.0_f64.ln(),
                    "log_hessian_trace": 7.0,
                    "log_hessian_top_ev_val": 0.0,
                }),
            ),
        ];
        let m = published_metrics(&records);
        assert_eq!(m.keys().copied().collect::<Vec<_>>(), vec![2]);
        let v = &m[&2];
        assert!((v["cka"].as_f64().unwrap() - 0.85).abs() < 1e-15);
        assert_eq!(v["mc_train_error"].as_f64(), Some(-12.5));
        assert!((v["hessian_trace"].as_f64().unwrap() - 2.0).abs() < 1e-12, "the _train key wins");
        assert_eq!(v["hessian_top_ev_val"].as_f64(), Some(1.0));
        assert!(!v.contains_key("mc_test_error"));
        assert_eq!(MetricKey::Cka.as_str(), "cka");
        assert_eq!(MetricKey::HessianTrace.on_test_set(), "hessian_trace_val");
    }
}
