//! A trial's `result.json` (SPEC §2.3): one JSON object per `training_iteration`, the
//! trainable's metrics plus Ray's bookkeeping keys, and on the analysis epoch the landscape
//! metrics the original's notebooks added afterwards.

use std::path::Path;

use serde_json::{Map, Value};

use crate::{Error, Result};

/// The keys Ray adds to every line (SPEC §2.3); everything else came from the trainable or the
/// metric notebooks.
pub const RAY_KEYS: [&str; 13] = [
    "done",
    "training_iteration",
    "trial_id",
    "date",
    "timestamp",
    "time_this_iter_s",
    "time_total_s",
    "pid",
    "hostname",
    "node_ip",
    "time_since_restore",
    "iterations_since_restore",
    "config",
];

/// One line of `result.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochResult {
    /// Ray's `training_iteration`: the epoch (0 = the untrained model).
    pub training_iteration: u32,
    /// Every key of the line, Ray's included. Python's `NaN`, `Infinity` and `-Infinity`
    /// (a diverged run's loss) are kept as the strings `"NaN"`, `"Infinity"`, `"-Infinity"`;
    /// [`EpochResult::number`] reads them back as floats.
    pub values: Map<String, Value>,
}

impl EpochResult {
    /// A numeric value (`train_loss`, `test_acc`, `curve_mc_train_error`, ...), non-finite
    /// ones included; `None` if absent or not a number.
    #[must_use]
    pub fn number(&self, key: &str) -> Option<f64> {
        match self.values.get(key)? {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => match s.as_str() {
                "NaN" => Some(f64::NAN),
                "Infinity" => Some(f64::INFINITY),
                "-Infinity" => Some(f64::NEG_INFINITY),
                _ => None,
            },
            _ => None,
        }
    }

    /// The keys that are not Ray's bookkeeping: the metrics.
    pub fn metric_keys(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str).filter(|k| !RAY_KEYS.contains(k))
    }
}

/// Read `result.json`: every non-empty line must be an object with a `training_iteration`.
///
/// # Errors
/// Unreadable file; a line that is not JSON (named by line); a line without an integer
/// `training_iteration`.
pub fn read_results(path: &Path) -> Result<Vec<EpochResult>> {
    let text = fs_err::read_to_string(path)?;
    let mut results = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let values: Map<String, Value> = serde_json::from_str(&quote_non_finite(line))
            .map_err(|source| Error::Json { path: path.to_owned(), line: Some(i + 1), source })?;
        let training_iteration = values
            .get("training_iteration")
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| Error::Trial {
                path: path.to_owned(),
                message: format!("line {} has no integer training_iteration", i + 1),
            })?;
        results.push(EpochResult { training_iteration, values });
    }
    Ok(results)
}

/// Python's `json.dumps` writes non-finite floats as bare `NaN`/`Infinity`/`-Infinity`, which
/// JSON (and serde_json) rejects; quote them outside strings.
fn quote_non_finite(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let (mut in_string, mut escaped) = (false, false);
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        if in_string {
            in_string = escaped || c != '"';
            escaped = !escaped && c == '\\';
        } else if c == '"' {
            in_string = true;
        } else if let Some(word) = ["NaN", "Infinity", "-Infinity"].into_iter().find(|w| rest.starts_with(w))
        {
            out.push('"');
            out.push_str(word);
            out.push('"');
            rest = &rest[word.len()..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_numbers_outside_strings_are_quoted() {
        assert_eq!(
            quote_non_finite(r#"{"a": NaN, "b": -Infinity, "c": "NaN \" Infinity", "d": Infinity}"#),
            r#"{"a": "NaN", "b": "-Infinity", "c": "NaN \" Infinity", "d": "Infinity"}"#
        );
    }

    #[test]
    fn lines_keep_metrics_and_read_non_finite_losses() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("result.json");
        fs_err::write(
            &path,
            "{\"train_loss\": 2.3, \"test_acc\": 0.1, \"training_iteration\": 0, \"done\": false}\n\
             {\"train_loss\": NaN, \"test_acc\": 0.1, \"training_iteration\": 1, \"done\": true}\n",
        )
        .unwrap();
        let results = read_results(&path).unwrap();
        assert_eq!(results.len(), 2);
        assert_eq!(results[0].number("train_loss"), Some(2.3));
        assert!(results[1].number("train_loss").unwrap().is_nan());
        assert_eq!(results[1].metric_keys().collect::<Vec<_>>(), vec!["test_acc", "train_loss"]);
    }

    #[test]
    fn a_broken_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("result.json");
        fs_err::write(&path, "{\"training_iteration\": 0}\n{\"training_iter").unwrap();
        let err = read_results(&path).unwrap_err().to_string();
        assert!(err.contains("result.json") && err.contains("line 2"), "{err}");
    }
}
