//! bf16 copies of a GPT-2's matmul operands, kept beside the float32 parameters: the forward pass
//! reads the copies, the backward pass differentiates them, one multi-tensor copy widens their
//! gradients for clipping and AdamW, and another refreshes them from the updated parameters.
//!
//! Why: under bf16 autocast every step casts each Conv1D weight and bias to bf16 (one kernel
//! each) and casts each of their gradients back (another), about 200 small kernels a step for
//! GPT-2 small; on an H100 they took ~1.9 ms of a 42 ms step (BENCHMARKS.md, issue 22 profile:
//! 122 gradient casts, ~100 weight casts). The copies are exactly what autocast would cast (the
//! same rounding to nearest even), and a bf16 gradient widens exactly, so training is the same
//! bit for bit (`bf16_shadow_weights_train_exactly_as_autocast_casts`); the float32 parameters
//! stay the model's, in checkpoints and evaluations.
//!
//! Opt-in (`PHASEZOO_BF16_SHADOWS=1`) until a GPU run has measured it: CUDA, bf16 autocast, the
//! fused step, one forward pass a step (no micro-batches: a copy's gradient would accumulate in
//! bf16).

use std::collections::HashMap;
use std::sync::OnceLock;

use pz_device::{foreach_copy, StepError};
use pz_models::gpt2::Gpt2;
use tch::{Kind, Tensor};

/// Whether `PHASEZOO_BF16_SHADOWS=1` asks for the copies.
pub(super) fn switched_on() -> bool {
    static ENV: OnceLock<bool> = OnceLock::new();
    *ENV.get_or_init(|| std::env::var("PHASEZOO_BF16_SHADOWS").is_ok_and(|v| v == "1"))
}

/// The copies and what a step reads and writes through them.
pub(super) struct Shadows {
    /// Per parameter (state-dict order): what the forward reads and the backward
    /// differentiates — its bf16 copy for a matmul operand, else the float32 parameter itself.
    pub(super) trainables: Vec<Tensor>,
    /// The same by name, as `Gpt2::loss_with` takes them.
    pub(super) by_name: HashMap<String, Tensor>,
    /// Indices of the copied parameters.
    copied: Vec<usize>,
    /// Their float32 parameters and bf16 copies, same order.
    originals: Vec<Tensor>,
    copies: Vec<Tensor>,
    /// float32 buffers their gradients are widened into (fixed addresses for a CUDA graph).
    wide: Vec<Tensor>,
}

impl Shadows {
    /// Copies of `model`'s matmul operands (`params`: its parameters, state-dict order).
    pub(super) fn new(model: &Gpt2, params: &[Tensor]) -> Self {
        let operands = model.matmul_operands();
        let copied: Vec<usize> = (0..params.len()).filter(|&i| operands[i]).collect();
        let originals: Vec<Tensor> = copied.iter().map(|&i| params[i].shallow_clone()).collect();
        let copies: Vec<Tensor> =
            originals.iter().map(|p| p.detach().to_kind(Kind::BFloat16).set_requires_grad(true)).collect();
        let wide = originals.iter().map(|p| p.detach().zeros_like()).collect();
        let mut trainables: Vec<Tensor> = params.iter().map(Tensor::shallow_clone).collect();
        for (&i, c) in copied.iter().zip(&copies) {
            trainables[i] = c.shallow_clone();
        }
        let by_name =
            model.parameter_names().into_iter().zip(trainables.iter().map(Tensor::shallow_clone)).collect();
        Self { trainables, by_name, copied, originals, copies, wide }
    }

    /// The float32 gradient of every parameter from `grads`, the gradients of
    /// [`Shadows::trainables`]: the copies' bf16 gradients widened into the buffers, the others
    /// as they are.
    ///
    /// # Errors
    /// libtorch refusing the multi-tensor copy (a bug: the tensors are the model's own).
    pub(super) fn widen(&self, grads: &[Tensor]) -> Result<Vec<Tensor>, StepError> {
        let narrow: Vec<Tensor> = self.copied.iter().map(|&i| grads[i].shallow_clone()).collect();
        tch::no_grad(|| foreach_copy(&self.wide, &narrow))?;
        let mut out: Vec<Tensor> = grads.iter().map(Tensor::shallow_clone).collect();
        for (&i, w) in self.copied.iter().zip(&self.wide) {
            out[i] = w.shallow_clone();
        }
        Ok(out)
    }

    /// Copy the float32 parameters into the copies: after every optimizer step, and after the
    /// parameters were loaded from a checkpoint.
    ///
    /// # Errors
    /// libtorch refusing the multi-tensor copy (a bug).
    pub(super) fn refresh(&self) -> Result<(), StepError> {
        tch::no_grad(|| foreach_copy(&self.copies, &self.originals))
    }

    /// The copies (tests: they must equal the parameters cast to bf16).
    #[cfg(test)]
    pub(super) fn copies(&self) -> (&[Tensor], &[Tensor]) {
        (&self.copies, &self.originals)
    }
}
