//! The documented Hugging Face side of a GPT-2 checkpoint: runs python/phasezoo_gpt2.py on a
//! phasezoo `model.safetensors`, which loads it into `transformers.GPT2LMHeadModel` with
//! `load_state_dict(strict=True)` and returns its state-dict keys, logits and loss.

use std::ffi::OsStr;
use std::path::Path;

use tch::{Kind, Tensor};

use super::Gpt2Config;
use crate::reference::run_reference_module;

/// The repo's Hugging Face loader (`python/phasezoo_gpt2.py`).
pub const GPT2_PYTORCH_MODULE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../python/phasezoo_gpt2.py");

/// What `transformers` made of a checkpoint.
#[derive(Debug)]
pub struct TransformersOutput {
    /// `GPT2LMHeadModel.state_dict()` keys, in order.
    pub keys: Vec<String>,
    /// Whether `lm_head.weight` and `transformer.wte.weight` were one tensor after loading.
    pub tied: bool,
    /// Eval-mode logits, float64 `[N, T, vocab_size]` on the CPU.
    pub logits: Tensor,
    /// Mean cross-entropy of tokens[:, 1:] given tokens[:, :-1] (`labels=tokens`).
    pub loss: f64,
    /// The `transformers` version that ran.
    pub version: String,
}

/// Runs [`GPT2_PYTORCH_MODULE`] with `python` on the model `cfg` loaded from `weights`, on
/// `tokens` `[N, T]` int64 (written to `input` first, as a safetensors file).
///
/// # Errors
/// Python failing (its stderr), an output that is not the module's JSON line, a file that
/// cannot be written.
pub fn transformers_logits(
    python: &OsStr,
    cfg: &Gpt2Config,
    weights: &Path,
    tokens: &Tensor,
    input: &Path,
) -> Result<TransformersOutput, String> {
    let tokens = tokens.to_kind(Kind::Int64);
    let args: Vec<String> = [
        ("--vocab-size", cfg.vocab_size),
        ("--context", cfg.context),
        ("--model-dim", cfg.model_dim),
        ("--depth", cfg.depth),
        ("--heads", cfg.heads),
    ]
    .iter()
    .flat_map(|(flag, v)| [(*flag).to_string(), v.to_string()])
    .collect();
    let (got, keys) =
        run_reference_module(python, GPT2_PYTORCH_MODULE, &args, (weights, input), ("tokens", &tokens), cfg)?;
    // [N][T][V] nested lists → one flat row-major buffer.
    let mut flat = Vec::new();
    let rows = got["logits"].as_array().ok_or("no logits")?;
    for row in rows {
        for position in row.as_array().ok_or("logits that are not [N, T, V]")? {
            let values = position.as_array().ok_or("logits that are not [N, T, V]")?;
            flat.extend(
                values
                    .iter()
                    .map(|v| v.as_f64().ok_or("a logit that is not a number"))
                    .collect::<Result<Vec<_>, _>>()?,
            );
        }
    }
    let (n, t) = tokens.size2().map_err(|e| e.to_string())?;
    let expected = usize::try_from(n * t * cfg.vocab_size).map_err(|e| e.to_string())?;
    if flat.len() != expected {
        return Err(format!("{} logits for [{n}, {t}, {}]", flat.len(), cfg.vocab_size));
    }
    Ok(TransformersOutput {
        keys,
        tied: got["tied"].as_bool().ok_or("no tied flag")?,
        logits: Tensor::from_slice(&flat).reshape([n, t, cfg.vocab_size]),
        loss: got["loss"].as_f64().ok_or("no loss")?,
        version: got["transformers"].as_str().unwrap_or("unknown").to_owned(),
    })
}

/// Whether `python` can import `transformers` (and torch, which it needs).
#[must_use]
pub fn has_transformers(python: &OsStr) -> bool {
    std::process::Command::new(python)
        .args(["-c", "import torch, transformers"])
        .output()
        .is_ok_and(|out| out.status.success())
}
