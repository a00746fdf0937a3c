//! JSON-lines files (`result.json`, `metrics.json`): read with line-numbered errors, replaced
//! atomically.

use std::path::Path;

use serde::{de::DeserializeOwned, Serialize};

use crate::{atomic_write, Error, Result};

/// Every record of the file, empty when it does not exist. An empty file, a last line cut short
/// (no final newline and not valid JSON) and a malformed line are errors naming the file (and
/// the line); the first two carry a hint on how to recover.
pub(crate) fn read<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let text = match fs_err::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    // Writers always write at least one line: an existing empty file was damaged.
    if text.trim().is_empty() {
        return Err(Error::corrupt(path, format!("is empty (damaged or cut short)\n  hint: {}", hint(path))));
    }
    let lines: Vec<(usize, &str)> = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()).collect();
    let last = lines.last().map(|(i, _)| *i);
    lines
        .into_iter()
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|source| {
                // Every line is written with its newline: a last line without one was cut off.
                if Some(i) == last && !text.ends_with('\n') {
                    Error::corrupt(
                        path,
                        format!(
                            "line {} is cut short (the file was truncated)\n  hint: {}",
                            i + 1,
                            hint(path)
                        ),
                    )
                } else {
                    Error::Json { path: path.into(), line: Some(i + 1), source }
                }
            })
        })
        .collect()
}

/// How to recover from a damaged JSON-lines file: what the file is tells what rewrites it.
fn hint(path: &Path) -> String {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let model = crate::atomic::parent(path).display();
    match name {
        "result.json" => format!(
            "the model's training record is lost: delete its folder {model} and run `phasezoo train` \
             again with the same --out to retrain it"
        ),
        "metrics.json" => {
            format!("delete {} and run `phasezoo metrics` again to measure the model anew", path.display())
        }
        _ => format!("delete {} and rerun the command that wrote it", path.display()),
    }
}

/// Replace the file with these records, one per line.
pub(crate) fn write<T: Serialize>(path: &Path, records: &[T]) -> Result<()> {
    let mut text = String::new();
    for r in records {
        text.push_str(&serde_json::to_string(r).expect("records always serialize"));
        text.push('\n');
    }
    atomic_write(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    type Line = std::collections::BTreeMap<String, u32>;

    fn read_text(name: &str, text: &str) -> Result<Vec<Line>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m1").join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        read(&path)
    }

    #[test]
    fn issue_17_an_empty_result_file_is_an_error_with_a_hint() {
        let err = read_text("result.json", "").unwrap_err().to_string();
        assert!(err.contains("result.json: is empty"), "{err}");
        assert!(err.contains("hint: ") && err.contains("m1 and run `phasezoo train`"), "{err}");
        let err = read_text("metrics.json", "\n").unwrap_err().to_string();
        assert!(err.contains("metrics.json: is empty"), "{err}");
        assert!(err.contains("hint: delete ") && err.contains("`phasezoo metrics` again"), "{err}");
    }

    #[test]
    fn issue_17_a_last_line_cut_short_is_an_error_with_a_hint() {
        let err = read_text("metrics.json", "{\"epoch\":1}\n{\"epoch\":2,\"ab").unwrap_err().to_string();
        assert!(err.contains("metrics.json: line 2 is cut short"), "{err}");
        assert!(err.contains("hint: delete "), "{err}");
        // A malformed line that was written whole is a JSON error naming the line.
        let err = read_text("metrics.json", "{\"epoch\":1}\n{\"epoch\":2,\"ab\n").unwrap_err().to_string();
        assert!(err.contains("metrics.json: invalid JSON on line 2"), "{err}");
        // A last line complete but for its newline lost nothing.
        assert_eq!(read_text("metrics.json", "{\"epoch\":1}\n{\"epoch\":2}").unwrap().len(), 2);
    }

    #[test]
    fn a_missing_file_has_no_records() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read::<Line>(&dir.path().join("result.json")).unwrap().is_empty());
    }
}
