//! JSON-lines files (`result.json`, `metrics.json`): read with line-numbered errors, replaced
//! atomically.

use std::path::Path;

use serde::{de::DeserializeOwned, Serialize};

use crate::{atomic_write, Error, Result};

/// Every record of the file, empty when it does not exist; a malformed line is an error naming
/// the file and the line.
pub(crate) fn read<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let text = match fs_err::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|source| Error::Json {
                path: path.into(),
                line: Some(i + 1),
                source,
            })
        })
        .collect()
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
