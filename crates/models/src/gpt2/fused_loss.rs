//! The head's cross-entropy by [`pz_device::rows_cross_entropy`] where it applies: bf16 logits
//! on CUDA (training under autocast), read once each way by one kernel, the vocabulary's padding
//! skipped in place. Elsewhere (CPU, float32 metrics, double backward) callers use
//! `cross_entropy_loss`, whose numbers these equal (the kernels' GPU test).
//!
//! Off until its GPU test has passed on a GPU: `PHASEZOO_FUSED_CE=1` turns it on. Its first
//! device run did not compile (NVRTC has no math.h; fixed since, not yet rerun), and a kernel
//! whose numbers were wrong would train every GPU model wrong without an error, which the
//! fallback on compile and launch errors cannot catch (BENCHMARKS.md, issue 22).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use tch::{Kind, Reduction, Tensor};

/// Set after the kernels failed on this machine: PyTorch's operator from then on.
static OFF: AtomicBool = AtomicBool::new(false);

/// PyTorch's ignore index, as `cross_entropy_loss` is called with elsewhere in the model.
const IGNORE: i64 = -100;

/// Whether `PHASEZOO_FUSED_CE=1` asks for the fused kernels (a model's own setting wins:
/// `Gpt2::set_fused_loss`).
pub(super) fn switched_on() -> bool {
    static ENV: OnceLock<bool> = OnceLock::new();
    *ENV.get_or_init(|| std::env::var("PHASEZOO_FUSED_CE").is_ok_and(|v| v == "1"))
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
