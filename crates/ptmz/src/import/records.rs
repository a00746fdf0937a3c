//! A trial's `result.json` lines (SPEC §2.3) as phasezoo result lines and back.
//!
//! phasezoo's fields: `train_loss` and `test_loss` as the original's, `test_error` = 1 −
//! `test_acc`, `step` = epoch × steps per epoch. Every other key the trainable or the metric
//! notebooks wrote (`train_acc`, `test_acc`, `representation_similarity`,
//! `curve_mc_train_error`, `log_hessian_*`, ...) is kept in `extra` under its original name; Ray's
//! bookkeeping keys are dropped, but for `trial_id`.

use pz_store::EpochRecord;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

use crate::{EpochResult, Error, Result, Trial, RAY_KEYS};

/// The `config` key Ray adds to each line holds the trainable's steps per epoch.
pub(crate) const STEPS_KEY: &str = "scheduler::steps_per_epoch";

/// The trial's steps per epoch as its Ray `config` recorded them.
pub(crate) fn recorded_steps_per_epoch(trial: &Trial) -> Option<u64> {
    trial.results.iter().find_map(|r| r.values.get("config")?.get(STEPS_KEY)?.as_u64())
}

/// phasezoo's result lines of a trial: one per epoch 0..=n, in order.
///
/// # Errors
/// [`Error::Trial`] naming `result.json` when the lines do not count up from 0 one epoch at a
/// time, or a line lacks `train_loss`, `test_loss` or `test_acc`.
pub(crate) fn epoch_records(trial: &Trial, steps_per_epoch: u64) -> Result<Vec<EpochRecord>> {
    let path = trial.dir.join("result.json");
    let fail = |message: String| Error::Trial { path: path.clone(), message };
    let mut results: Vec<&EpochResult> = trial.results.iter().collect();
    results.sort_by_key(|r| r.training_iteration);
    results
        .iter()
        .enumerate()
        .map(|(i, r)| {
            if r.training_iteration as usize != i {
                return Err(fail(format!(
                    "expected training_iteration {i}, found {} (lines must count epochs up from 0)",
                    r.training_iteration
                )));
            }
            let number = |key: &str| {
                number(r, key)
                    .ok_or_else(|| fail(format!("the line of training_iteration {i} has no number `{key}`")))
            };
            let (train_loss, test_loss, test_acc) =
                (number("train_loss")?, number("test_loss")?, number("test_acc")?);
            let extra: BTreeMap<String, Value> = r
                .values
                .iter()
                .filter(|(k, _)| {
                    (!RAY_KEYS.contains(&k.as_str()) || *k == "trial_id")
                        && !matches!(k.as_str(), "train_loss" | "test_loss")
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            Ok(EpochRecord {
                epoch: r.training_iteration,
                train_loss,
                test_loss,
                test_error: 1.0 - test_acc,
                step: u64::from(r.training_iteration) * steps_per_epoch,
                extra,
            })
        })
        .collect()
}

/// A number of a line, with `null` (phasezoo's export of a non-finite value) read as NaN.
fn number(r: &EpochResult, key: &str) -> Option<f64> {
    match r.values.get(key)? {
        Value::Null => Some(f64::NAN),
        _ => r.number(key),
    }
}

/// A phasezoo result line as a PTMZ one: the trainable's keys, the extra keys phasezoo keeps,
/// and Ray's `training_iteration`, `done`, `trial_id`, `iterations_since_restore` and `config`.
/// Non-finite numbers become `null` (JSON has no NaN; the importer reads them back as NaN).
pub(crate) fn ptmz_line(
    record: &EpochRecord,
    last_epoch: u32,
    trial_id: &str,
    steps_per_epoch: u64,
) -> String {
    let finite = |x: f64| if x.is_finite() { json!(x) } else { Value::Null };
    let mut line: Map<String, Value> = record.extra.clone().into_iter().collect();
    line.insert("train_loss".into(), finite(record.train_loss));
    line.insert("test_loss".into(), finite(record.test_loss));
    line.entry("test_acc").or_insert_with(|| finite(1.0 - record.test_error));
    line.insert("training_iteration".into(), json!(record.epoch));
    line.insert("iterations_since_restore".into(), json!(record.epoch));
    line.insert("done".into(), json!(record.epoch == last_epoch));
    line.insert("trial_id".into(), json!(trial_id));
    line.insert("config".into(), json!({ STEPS_KEY: steps_per_epoch }));
    Value::Object(line).to_string()
}

/// Whether two record lists would be written as the same lines (NaN equals NaN here, as both
/// are written `null`).
pub(crate) fn same_records(a: &[EpochRecord], b: &[EpochRecord]) -> bool {
    serde_json::to_value(a).ok() == serde_json::to_value(b).ok()
}
