//! Where a trainer stands with its training step captured whole as a CUDA graph (image
//! classifiers, GPT-2): an eager warm-up step, the capture, then replays. The families differ in
//! what they capture and when a capture is allowed at all; the states and when a capture pays are
//! the same.

/// Fewest optimizer steps left after the warm-up step for which a model captures its step; with
/// fewer it trains eagerly to the end of the run. Why: a capture has a fixed cost — releasing the
/// allocator's cache (which synchronizes the device and makes buffers be allocated anew), the
/// capture itself, one warm-up step — measured on an H100 at ≈ 0.08 s for a small ResNet-18,
/// while a replay saves ≈ 8 ms per step against its ≈ 11 ms launch-bound eager step: the capture
/// pays after about 10 steps. A zoo run (tens of steps per epoch × 150 epochs) always captures;
/// a short one, such as a resumed model's last epoch at a large batch, stays eager.
pub(crate) const GRAPH_MIN_STEPS: u64 = 12;

/// A trainer's CUDA-graph state; `S` is the family's captured step.
pub(crate) enum GraphState<S> {
    /// Eager steps only: CPU, `run.graph = false`, a step the family does not capture, too few
    /// steps left, or a capture that failed.
    Off,
    /// The next step runs eagerly, then the one after it is captured (if at least
    /// [`GRAPH_MIN_STEPS`] steps are left).
    WarmUp,
    /// The next step is captured (and replayed).
    Capture,
    /// Captured; steps replay it.
    Ready(Box<S>),
}

impl<S> GraphState<S> {
    /// The state after the eager warm-up step, with `left_after_this` steps still to run:
    /// capture next where that pays, else eager to the end.
    pub(crate) fn after_warm_up(left_after_this: u64) -> Self {
        if left_after_this >= GRAPH_MIN_STEPS {
            Self::Capture
        } else {
            tracing::debug!(left_after_this, "too few steps left for a CUDA graph to pay: eager");
            Self::Off
        }
    }
}
