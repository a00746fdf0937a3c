//! The documented PyTorch side of a vision checkpoint: runs python/phasezoo_vision.py (plain
//! torch) on a phasezoo `model.safetensors`, which loads it with `load_state_dict(strict=True)`
//! and returns its state-dict keys and eval-mode logits. The tests of the models and of `train`
//! use it to show that checkpoints load in PyTorch and give phasezoo's logits.

use std::ffi::OsStr;
use std::path::Path;

use tch::{Kind, Tensor};

use super::VisionModelConfig;
use crate::reference::run_reference_module;

/// The repo's PyTorch module definitions (`python/phasezoo_vision.py`).
pub const PYTORCH_MODULE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../python/phasezoo_vision.py");

/// What PyTorch made of a checkpoint.
#[derive(Debug)]
pub struct PytorchOutput {
    /// Its `state_dict()` keys, in order.
    pub keys: Vec<String>,
    /// Eval-mode logits of the images, float64 `[N, classes]` on the CPU.
    pub logits: Tensor,
}

/// Runs [`PYTORCH_MODULE`] with `python` on the model `cfg` loaded from `weights`, on `images`
/// (written to `input` first, as a safetensors file).
///
/// # Errors
/// Python failing (its stderr), an output that is not the module's JSON line, a file that
/// cannot be written.
pub fn pytorch_logits(
    python: &OsStr,
    cfg: &VisionModelConfig,
    weights: &Path,
    images: &Tensor,
    input: &Path,
) -> Result<PytorchOutput, String> {
    let arg = |v: i64| v.to_string();
    let args: Vec<String> = [
        ("--arch", cfg.arch.name().to_string()),
        ("--width", arg(cfg.width)),
        ("--in-channels", arg(cfg.in_channels)),
        ("--classes", arg(cfg.classes)),
        ("--image-size", arg(cfg.image_size)),
        ("--patch-size", arg(cfg.patch_size)),
        ("--depth", arg(cfg.depth)),
        ("--head-dim", arg(cfg.head_dim)),
        ("--mlp-ratio", arg(cfg.mlp_ratio)),
    ]
    .into_iter()
    .flat_map(|(flag, v)| [flag.to_string(), v])
    .collect();
    let (got, keys) =
        run_reference_module(python, PYTORCH_MODULE, &args, (weights, input), ("images", images), cfg)?;
    let rows: Vec<Vec<f64>> = got["logits"]
        .as_array()
        .ok_or("no logits")?
        .iter()
        .map(|row| row.as_array().map(|r| r.iter().filter_map(serde_json::Value::as_f64).collect()))
        .collect::<Option<_>>()
        .ok_or("logits that are not rows of numbers")?;
    let n = i64::try_from(rows.len()).map_err(|e| e.to_string())?;
    let flat: Vec<f64> = rows.concat();
    let logits = Tensor::from_slice(&flat).reshape([n, -1]);
    Ok(PytorchOutput { keys, logits })
}

/// The first logit where `ours` and PyTorch's differ by more than 1e-5·(1 + |PyTorch's|): both
/// compute in float32 with the same libtorch kernels, so only summation order may differ.
/// `None` when all agree (and the shapes match).
#[must_use]
pub fn logits_disagree(ours: &Tensor, theirs: &Tensor) -> Option<String> {
    let ours = ours.to_kind(Kind::Double).to_device(tch::Device::Cpu);
    if ours.size() != theirs.size() {
        return Some(format!("shapes {:?} (phasezoo) and {:?} (PyTorch)", ours.size(), theirs.size()));
    }
    let too_far = (&ours - theirs).abs().gt_tensor(&((theirs.abs() + 1.0) * 1e-5));
    let bad = too_far.nonzero();
    (bad.size()[0] > 0).then(|| {
        let (i, j) = (bad.int64_value(&[0, 0]), bad.int64_value(&[0, 1]));
        format!(
            "logit [{i}, {j}]: phasezoo {} vs PyTorch {}",
            ours.double_value(&[i, j]),
            theirs.double_value(&[i, j])
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logits_disagree_names_the_first_logit_beyond_the_tolerance() {
        let theirs = Tensor::from_slice(&[1.0f64, -2.0, 30.0, 0.5]).reshape([2, 2]);
        let same = theirs.to_kind(Kind::Float);
        assert_eq!(logits_disagree(&same, &theirs), None);
        // 30 · 1e-5 · (1 + 1/30) ≈ 3.1e-4 allowed at [1, 0]; 1e-3 is beyond.
        let off = &theirs + Tensor::from_slice(&[0.0f64, 0.0, 1e-3, 0.0]).reshape([2, 2]);
        let e = logits_disagree(&off, &theirs).expect("a difference");
        assert!(e.starts_with("logit [1, 0]: phasezoo 30.001"), "{e}");
        let within = &theirs * (1.0 + 9e-6);
        assert_eq!(logits_disagree(&within, &theirs), None, "a relative 9e-6 is inside the bound");
        assert!(logits_disagree(&theirs.reshape([4]), &theirs).expect("shapes").starts_with("shapes"));
    }
}
