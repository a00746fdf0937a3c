//! Adam over stacked parameters with one learning rate per member.
//!
//! Same update as `torch.optim.Adam` (L2 `weight_decay` added to the gradient, bias-corrected
//! moments, ε added after the square root), applied to all members at once; the learning rate is
//! a `[K, 1, 1]` tensor broadcast over each member's slice. On CUDA the update is one kernel
//! launch per parameter tensor where it applies (`fused_adam.rs`), tensor operations
//! elsewhere.

use tch::{Kind, Tensor};

/// Adam state for a population.
#[derive(Debug)]
pub struct BatchedAdam {
    /// Per-member learning rate `[K, 1, 1]`.
    pub lr: Tensor,
    /// (β1, β2).
    pub betas: [f64; 2],
    /// ε.
    pub eps: f64,
    /// L2 weight decay.
    pub weight_decay: f64,
    /// First moments, like the parameters.
    pub exp_avg: Vec<Tensor>,
    /// Second moments, like the parameters.
    pub exp_avg_sq: Vec<Tensor>,
    /// Steps taken.
    pub step: u64,
    /// The bias corrections of the step being taken, `−1/(1−β1^t)` and `√(1−β2^t)`, as 0-dim
    /// device tensors written before each update, so that a CUDA graph replaying the update
    /// reads each step's values instead of those frozen at capture.
    pub(crate) neg_inv_bias1: Tensor,
    pub(crate) bias2_sqrt: Tensor,
    /// On CUDA, update by the hand-written kernel where it applies (`fused_adam.rs`).
    pub(crate) fused: bool,
}

impl BatchedAdam {
    /// Zero state for parameters `params` and per-member learning rates.
    #[must_use]
    pub fn new(params: &[Tensor], lrs: &[f64], betas: [f64; 2], eps: f64, weight_decay: f64) -> Self {
        let p0 = &params[0];
        let k = i64::try_from(lrs.len()).expect("small");
        let lr = Tensor::from_slice(lrs).reshape([k, 1, 1]).to_kind(p0.kind()).to_device(p0.device());
        let zeros = || params.iter().map(|p| p.detach().zeros_like()).collect();
        let scalar = || Tensor::zeros([], (p0.kind(), p0.device()));
        Self {
            lr,
            betas,
            eps,
            weight_decay,
            exp_avg: zeros(),
            exp_avg_sq: zeros(),
            step: 0,
            neg_inv_bias1: scalar(),
            bias2_sqrt: scalar(),
            fused: true,
        }
    }

    /// Whether updates on CUDA may use phasezoo's fused kernel (one launch per parameter tensor;
    /// on by default); `false` keeps libtorch's tensor operations, for debugging and comparison.
    #[must_use]
    pub fn with_fused_kernels(mut self, on: bool) -> Self {
        self.fused = on;
        self
    }

    /// One update of `params` (leaves) with `grads`.
    pub fn step(&mut self, params: &[Tensor], grads: &[Tensor]) {
        self.advance();
        self.update(params, grads);
    }

    /// Count the next step and write its bias corrections to the device (kernels, no host
    /// synchronization); [`BatchedAdam::update`] then applies it.
    pub fn advance(&mut self) {
        self.step += 1;
        let [b1, b2] = self.betas;
        #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
        let t = self.step as i32;
        let _ = self.neg_inv_bias1.fill_(-1.0 / (1.0 - b1.powi(t)));
        let _ = self.bias2_sqrt.fill_((1.0 - b2.powi(t)).sqrt());
    }

    /// The update of the step [`BatchedAdam::advance`] counted: kernels only, reading the
    /// bias corrections from the device, so it can be captured in a CUDA graph. Its first call
    /// on CUDA compiles the fused kernel, so it must not be inside a capture (step eagerly first).
    pub fn update(&self, params: &[Tensor], grads: &[Tensor]) {
        let fused = if self.fused { crate::fused_adam::update(self, params, grads) } else { 0 };
        self.tensor_update(fused, params, grads);
    }

    /// The update by libtorch's tensor operations, of the tensors from index `first` on (those
    /// before it were updated by the fused kernel).
    fn tensor_update(&self, first: usize, params: &[Tensor], grads: &[Tensor]) {
        if first >= params.len() {
            return;
        }
        let [b1, b2] = self.betas;
        let step_size = &self.lr * &self.neg_inv_bias1;
        let mut exp_avg = self.exp_avg.iter().map(Tensor::shallow_clone).collect::<Vec<_>>();
        let mut exp_avg_sq = self.exp_avg_sq.iter().map(Tensor::shallow_clone).collect::<Vec<_>>();
        tch::no_grad(|| {
            let tensors = params.iter().zip(grads).zip(&mut exp_avg).zip(&mut exp_avg_sq);
            for (((p, g), m), v) in tensors.skip(first) {
                let g = if self.weight_decay > 0.0 { g + p * self.weight_decay } else { g.shallow_clone() };
                let _ = m.g_mul_scalar_(b1);
                let _ = m.g_add_(&(&g * (1.0 - b1)));
                let _ = v.g_mul_scalar_(b2);
                let _ = v.addcmul_(&(&g * (1.0 - b2)), &g);
                let denom = v.sqrt() / &self.bias2_sqrt + self.eps;
                let mut p = p.shallow_clone();
                let _ = p.addcdiv_(&(&*m * &step_size), &denom);
            }
        });
    }

    /// The kind of the state (that of the parameters).
    #[must_use]
    pub fn kind(&self) -> Kind {
        self.lr.kind()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn matches_the_closed_form_of_the_first_steps() {
        // With a constant gradient g, Adam's bias-corrected update is −lr·g/(|g| + ε) each step.
        let p = Tensor::zeros([2, 1, 3], (Kind::Double, Device::Cpu)).set_requires_grad(true);
        let g = Tensor::from_slice(&[0.5f64, -2.0, 4.0, 1.0, 1.0, -1.0]).reshape([2, 1, 3]);
        let mut adam = BatchedAdam::new(&[p.shallow_clone()], &[0.1, 0.01], [0.9, 0.999], 1e-8, 0.0);
        for _ in 0..3 {
            adam.step(&[p.shallow_clone()], &[g.shallow_clone()]);
        }
        let lr = Tensor::from_slice(&[0.1f64, 0.01]).reshape([2, 1, 1]);
        let expected = -(g.sign() * lr * 3.0) * (g.abs() / (g.abs() + 1e-8));
        let diff = f64::try_from((p.detach() - expected).abs().max()).unwrap();
        assert!(diff < 1e-12, "{diff}");
    }
}
