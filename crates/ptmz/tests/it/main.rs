//! pz-ptmz's integration tests, one binary (STYLE §8). Checkpoint fixtures are made by real
//! PyTorch through `fixtures.py` beside this file, run with `$PZ_PYTHON` (the repo's venv; `./pz
//! test` sets it); without it those tests print a note and pass vacuously.

mod experiment;
mod forged;
mod hostile;
mod import;
mod import_threads;
mod state_dicts;
mod write;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use pz_ptmz::{Dtype, Tensor};

/// The venv python, or `None` (with a note on stderr) when `PZ_PYTHON` is unset.
#[allow(clippy::print_stderr)] // the note is the point: a skipped test must say so
pub fn python(test: &str) -> Option<PathBuf> {
    match std::env::var_os("PZ_PYTHON") {
        Some(python) if !python.is_empty() => Some(PathBuf::from(python)),
        _ => {
            eprintln!(
                "note: {test} skipped: PZ_PYTHON is unset (source scripts/libtorch-env.sh, or run ./pz test)"
            );
            None
        }
    }
}

/// Run `fixtures.py COMMAND ARGS...`; panics with its output if it fails.
pub fn fixtures(python: &Path, command: &str, args: &[&Path]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/fixtures.py");
    let output = Command::new(python).arg(script).arg(command).args(args).output().expect("run $PZ_PYTHON");
    let text =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "fixtures.py {command} failed:\n{text}");
    text
}

/// The tensors PyTorch wrote to a safetensors file, by name.
pub fn expected(path: &Path) -> HashMap<String, (Dtype, Vec<usize>, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    file.tensors()
        .into_iter()
        .map(|(name, view)| (name, (view.dtype(), view.shape().to_vec(), view.data().to_vec())))
        .collect()
}

/// Every tensor equals PyTorch's: same set of names, dtype, shape and bytes.
pub fn assert_matches(tensors: &[Tensor], expected: &HashMap<String, (Dtype, Vec<usize>, Vec<u8>)>) {
    assert_eq!(tensors.len(), expected.len(), "tensor count");
    for t in tensors {
        let (dtype, shape, data) =
            expected.get(&t.name).unwrap_or_else(|| panic!("unexpected tensor {}", t.name));
        assert_eq!((&t.dtype, &t.shape), (dtype, shape), "{}", t.name);
        assert!(t.data == *data, "{}: bytes differ from PyTorch's", t.name);
    }
}
