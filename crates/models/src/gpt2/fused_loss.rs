//! The head's cross-entropy by [`pz_device::rows_cross_entropy`] where it applies: bf16 logits
//! on CUDA (training under autocast), read once each way by one kernel, the vocabulary's padding
//! skipped in place. Elsewhere (CPU, float32 metrics, double backward) callers use
//! `cross_entropy_loss`, whose numbers these equal (the kernels' GPU test).
//!
//! On by default since its GPU run (BENCHMARKS.md, issue 22): the kernels' test against PyTorch's
//! float32 cross-entropy passed on an H100, GPT-2 small trained with them to the same validation
//! loss as without (5.239 against 5.241 after 200 steps), and its step took 23.2 ms instead of
//! 28.5. They are more exact than PyTorch's autocast path, which runs `log_softmax` in bf16.
//! `PHASEZOO_FUSED_CE=0` turns them off (a kernel that fails to compile or launch falls back to
//! PyTorch's operator by itself, logged once).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use tch::{Kind, Reduction, Tensor};

/// Set after the kernels failed on this machine: PyTorch's operator from then on.
static OFF: AtomicBool = AtomicBool::new(false);

/// PyTorch's ignore index, as `cross_entropy_loss` is called with elsewhere in the model.
const IGNORE: i64 = -100;

/// Whether the fused kernels are wanted: yes unless `PHASEZOO_FUSED_CE=0` (a model's own
/// setting wins: `Gpt2::set_fused_loss`).
pub(super) fn switched_on() -> bool {
    static ENV: OnceLock<bool> = OnceLock::new();
    *ENV.get_or_init(|| std::env::var("PHASEZOO_FUSED_CE").map_or(true, |v| v != "0"))
}

/// Cross-entropy of `logits` `[N, S]` (columns from `cols` on are padding) against `targets`
/// (N of them, −100 ignored) with `reduction` as `cross_entropy_loss` reduces, or `None` where
/// the fused kernels do not apply or failed (logged once).
pub(super) fn cross_entropy(
    logits: &Tensor,
    targets: &Tensor,
    cols: i64,
    reduction: Reduction,
) -> Option<Tensor> {
    if logits.kind() != Kind::BFloat16 || !logits.device().is_cuda() || OFF.load(Ordering::Relaxed) {
        return None;
    }
    let targets = targets.reshape([-1]);
    let rows = match pz_device::rows_cross_entropy(logits, &targets, cols, IGNORE) {
        Ok(rows) => rows,
        Err(why) => {
            if !OFF.swap(true, Ordering::Relaxed) {
                tracing::warn!("the fused cross-entropy is off, using PyTorch's: {why}");
            }
            return None;
        }
    };
    match reduction {
        Reduction::None => Some(rows),
        Reduction::Sum => Some(rows.sum(Kind::Float)),
        // PyTorch's mean over the targets that are not ignored.
        Reduction::Mean => Some(rows.sum(Kind::Float) / targets.ne(IGNORE).sum(Kind::Float)),
        Reduction::Other(_) => None,
    }
}
