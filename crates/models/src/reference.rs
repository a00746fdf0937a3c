//! Running one of the repo's Python reference modules (python/phasezoo_vision.py,
//! python/phasezoo_gpt2.py) on a phasezoo checkpoint: the input tensor goes to a safetensors
//! file, the module loads the weights strictly and prints one JSON line with its state-dict
//! `keys` and what the caller asked of it.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::Path;

use tch::Tensor;

use crate::tensor_to_named;

/// Writes `tensor` as `name` to `input`, runs `python module args… --weights weights --input
/// input`, and returns the module's JSON line with its `keys` read out. `what` names the model
/// in Python's error.
///
/// # Errors
/// A file that cannot be written, Python failing (its stderr), an output that is not the
/// module's JSON line.
pub(crate) fn run_reference_module(
    python: &OsStr,
    module: &str,
    args: &[String],
    (weights, input): (&Path, &Path),
    (name, tensor): (&str, &Tensor),
    what: &dyn std::fmt::Display,
) -> Result<(serde_json::Value, Vec<String>), String> {
    let encoded = pz_store::encode_tensors(input, &[tensor_to_named(name, tensor)], &HashMap::new())
        .map_err(|e| e.to_string())?;
    std::fs::write(input, encoded).map_err(|e| format!("{}: {e}", input.display()))?;
    let out = std::process::Command::new(python)
        .arg(module)
        .args(args)
        .arg("--weights")
        .arg(weights)
        .arg("--input")
        .arg(input)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.to_string_lossy()))?;
    if !out.status.success() {
        return Err(format!("{what}: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let got: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("not the module's JSON line: {e}"))?;
    let keys = got["keys"]
        .as_array()
        .ok_or("no keys")?
        .iter()
        .map(|k| k.as_str().map(str::to_owned).ok_or("a key that is not a string"))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((got, keys))
}
