//! AdamW over stacked parameters in two groups, each member with its own learning rate and
//! weight decay per group: Liu et al. 2022 train the representation (the embeddings; the
//! transformer's positions too) and the decoder with two `torch.optim.AdamW` optimizers of their
//! own lr and weight decay.
//!
//! Per parameter p with gradient g at step t, as `torch.optim.AdamW` (amsgrad off):
//! `p ← p·(1 − lr·wd)`; `m ← β1·m + (1−β1)·g`; `v ← β2·v + (1−β2)·g²`;
//! `p ← p − lr/(1−β1^t) · m / (√v/√(1−β2^t) + ε)`. Learning rate and decay are `[K]` tensors,
//! viewed as `[K, 1, …]` to broadcast over each member's slice of a parameter `[K, …]` (the
//! MLP's are all 3-D, the transformer's LayerNorms and biases 2-D).

use tch::Tensor;

/// AdamW state of a population: group 0 is the first `representation` parameters (the
/// embeddings, and the transformer's positions), group 1 the rest (the decoder).
#[derive(Debug)]
pub(crate) struct GroupedAdamW {
    /// Per group, per-member learning rate and weight decay, `[K]`.
    lr: [Tensor; 2],
    weight_decay: [Tensor; 2],
    betas: [f64; 2],
    eps: f64,
    /// How many leading parameters are in group 0.
    representation: usize,
    /// First and second moments, like the parameters.
    pub exp_avg: Vec<Tensor>,
    pub exp_avg_sq: Vec<Tensor>,
    /// Steps taken.
    pub step: u64,
}

impl GroupedAdamW {
    /// Zero state for `params`, the first `representation` of them in group 0; `lr[g][k]`,
    /// `weight_decay[g][k]`: group g of member k.
    pub(crate) fn new(
        params: &[Tensor],
        representation: usize,
        lr: [Vec<f64>; 2],
        weight_decay: [Vec<f64>; 2],
        betas: [f64; 2],
        eps: f64,
    ) -> Self {
        let p0 = &params[0];
        let column = |v: &[f64]| {
            let k = i64::try_from(v.len()).expect("small");
            Tensor::from_slice(v).reshape([k]).to_kind(p0.kind()).to_device(p0.device())
        };
        let zeros = || params.iter().map(|p| p.detach().zeros_like()).collect();
        Self {
            lr: [column(&lr[0]), column(&lr[1])],
            weight_decay: [column(&weight_decay[0]), column(&weight_decay[1])],
            betas,
            eps,
            representation,
            exp_avg: zeros(),
            exp_avg_sq: zeros(),
            step: 0,
        }
    }

    /// One update of `params` (leaves) with `grads`.
    pub(crate) fn step(&mut self, params: &[Tensor], grads: &[Tensor]) {
        self.step += 1;
        let [b1, b2] = self.betas;
        #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
        let t = self.step as i32;
        let (bias1, bias2_sqrt) = (1.0 - b1.powi(t), (1.0 - b2.powi(t)).sqrt());
        tch::no_grad(|| {
            for (i, (p, g)) in params.iter().zip(grads).enumerate() {
                let group = usize::from(i >= self.representation);
                // [K] → [K, 1, …] of the parameter's rank.
                let mut shape = vec![1i64; p.dim()];
                shape[0] = -1;
                let (lr, wd) = (self.lr[group].view(&shape[..]), self.weight_decay[group].view(&shape[..]));
                let mut p = p.shallow_clone();
                let _ = p.g_mul_(&(-(&lr * &wd) + 1.0));
                let (mut m, mut v) = (self.exp_avg[i].shallow_clone(), self.exp_avg_sq[i].shallow_clone());
                let _ = m.g_mul_scalar_(b1);
                let _ = m.g_add_(&(g * (1.0 - b1)));
                let _ = v.g_mul_scalar_(b2);
                let _ = v.addcmul_(&(g * (1.0 - b2)), g);
                let denom = v.sqrt() / bias2_sqrt + self.eps;
                let _ = p.g_sub_(&(&m * (&lr / bias1) / denom));
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn matches_the_closed_form_of_adamw_with_a_constant_gradient() {
        // With a constant gradient g, AdamW's bias-corrected direction is g/(|g| + ε) every
        // step: p_t = p_{t-1}(1 − lr·wd) − lr·g/(|g| + ε).
        let p = Tensor::ones([2, 1, 2], (Kind::Double, Device::Cpu)).set_requires_grad(true);
        let q = Tensor::ones([2, 1, 1], (Kind::Double, Device::Cpu)).set_requires_grad(true);
        let g = Tensor::from_slice(&[0.5f64, -2.0, 4.0, 1.0]).reshape([2, 1, 2]);
        let h = Tensor::from_slice(&[3.0f64, -1.0]).reshape([2, 1, 1]);
        let (lr, wd) = ([[0.1, 0.01], [0.2, 0.02]], [[0.5, 0.0], [1.0, 2.0]]);
        let params = [p.shallow_clone(), q.shallow_clone()];
        let mut adam = GroupedAdamW::new(
            &params,
            1,
            [lr[0].to_vec(), lr[1].to_vec()],
            [wd[0].to_vec(), wd[1].to_vec()],
            [0.9, 0.999],
            1e-8,
        );
        let mut expected_p: Vec<f64> = vec![1.0; 4];
        let mut expected_q: Vec<f64> = vec![1.0; 2];
        let (gv, hv) = (Vec::<f64>::try_from(g.flatten(0, -1)).unwrap(), [3.0, -1.0]);
        for _ in 0..3 {
            adam.step(&params, &[g.shallow_clone(), h.shallow_clone()]);
            for (i, e) in expected_p.iter_mut().enumerate() {
                let k = i / 2;
                *e = *e * (1.0 - lr[0][k] * wd[0][k]) - lr[0][k] * gv[i] / (gv[i].abs() + 1e-8);
            }
            for (k, e) in expected_q.iter_mut().enumerate() {
                *e = *e * (1.0 - lr[1][k] * wd[1][k]) - lr[1][k] * hv[k] / (hv[k].abs() + 1e-8);
            }
        }
        let got_p = Vec::<f64>::try_from(p.detach().flatten(0, -1)).unwrap();
        let got_q = Vec::<f64>::try_from(q.detach().flatten(0, -1)).unwrap();
        for (a, b) in got_p.iter().zip(&expected_p).chain(got_q.iter().zip(&expected_q)) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
    }
}
