//! Hessian-vector products of a population's losses by double backward.
//!
//! For K members with stacked parameters θ (`[K, …]` per tensor) and per-member losses L_k that
//! depend only on slice k, the Hessian of Σ_k L_k is block-diagonal with blocks H_k = ∇²L_k.
//! So one backward of Σ_k ⟨∇L_k, v_k⟩ gives every member's H_k v_k at once (Pearlmutter 1994;
//! PyHessian, Yao et al. 2020, `hessian_vector_product`).
//!
//! [`LossHvp`] follows PyHessian's "dataloader" mode (SPEC §3.1): with B batches and batch
//! weights w_b (PyHessian: w_b = |batch b| / Σ|batch|), the product is
//! H v = Σ_b w_b ∇²L_b v, the Hessian of the weighted mean loss over those samples.

use tch::Tensor;

use crate::vector::{detach_members, members_of, zeros_like_members};

/// A symmetric linear operator on population vectors: v ↦ H v member by member.
///
/// `v` and the result are shaped like the parameters (`[K, …]` per tensor); member k of the
/// result depends only on member k of `v`.
pub trait HvpOperator {
    /// Number of members K.
    fn members(&self) -> usize;

    /// H v for every member at once.
    fn apply(&self, v: &[Tensor]) -> Vec<Tensor>;

    /// H v for several probe vectors. The default loops over [`HvpOperator::apply`]: each probe
    /// costs one second backward per batch (libtorch's `run_backward` has no batched
    /// `grad_outputs`, i.e. no `is_grads_batched`), so there is no saving over separate calls.
    fn apply_many(&self, vs: &[Vec<Tensor>]) -> Vec<Vec<Tensor>> {
        vs.iter().map(|v| self.apply(v)).collect()
    }
}

/// Hessian-vector products of a weighted sum of per-member batch losses.
///
/// Built once from the losses' graphs: each batch's gradient g_b = ∇Σ_k L_{b,k} is computed
/// **once** with `create_graph`, and the weighted gradient G = Σ_b w_b g_b is kept as one flat
/// `[K, n]` tensor with its graph. Every [`HvpOperator::apply`] is then one backward of
/// ⟨G, v⟩ through all batches' graphs (kept for the next call): H v = ∇⟨G, v⟩. PyHessian
/// instead recomputes the forward and first backward of every batch for every product; with
/// fixed data and an eval-mode model the result is identical, and this costs one backward
/// instead of a forward and two backwards per product per batch, at the price of keeping every
/// batch's double-backward graph in memory. The flat G makes the inner product two kernels
/// instead of two per parameter tensor and batch (the products of small models are bound by
/// kernel launches).
#[derive(Debug)]
pub struct LossHvp {
    params: Vec<Tensor>,
    /// G = Σ_b w_b g_b, `[K, n]`, with its graph back to `params`.
    weighted: Tensor,
    /// Whether G depends on the parameters at all (it does not for a linear loss).
    curved: bool,
    members: usize,
    /// The shapes of the vectors this operator takes and returns: the parameters' own for a
    /// population, `[1, …]` around each parameter for a single model.
    shapes: Vec<Vec<i64>>,
}

impl LossHvp {
    /// Record every batch's gradient with `create_graph`.
    ///
    /// `params`: leaf tensors `[K, …]` requiring grad. `batches`: (w_b, L_b) with L_b a `[K]`
    /// tensor of per-member losses carrying the autograd graph back to `params`; for PyHessian's
    /// "Hessian of the mean loss over the samples" pass w_b = |batch b| / Σ|batch| (e.g. 10
    /// batches of 64: w_b = 64/640).
    ///
    /// # Panics
    /// If a loss is not `[K]`, or a parameter does not require grad.
    #[must_use]
    pub fn new(params: &[Tensor], batches: Vec<(f64, Tensor)>) -> Self {
        let shapes = params.iter().map(Tensor::size).collect();
        Self::with_members(params, batches, members_of(params), shapes)
    }

    /// The same for one model whose parameters carry no population axis (an image model's
    /// tensors as its layers hold them): the operator then takes and returns population vectors
    /// of one member, each parameter's shape with a leading 1, so that power iteration,
    /// Hutchinson and Lanczos run on it unchanged (give them `params` unsqueezed the same way).
    /// `batches`: (w_b, L_b) with L_b of shape `[1]`.
    #[must_use]
    pub fn single_model(params: &[Tensor], batches: Vec<(f64, Tensor)>) -> Self {
        let shapes = params.iter().map(|p| [&[1], p.size().as_slice()].concat()).collect();
        Self::with_members(params, batches, 1, shapes)
    }

    fn with_members(
        params: &[Tensor],
        batches: Vec<(f64, Tensor)>,
        members: usize,
        shapes: Vec<Vec<i64>>,
    ) -> Self {
        let k = i64::try_from(members).expect("small");
        let mut weighted: Option<Tensor> = None;
        for (weight, loss) in batches {
            assert_eq!(loss.size(), [k], "per-member losses must be [K] = [{k}]");
            let g = Tensor::run_backward(&[loss.sum(loss.kind())], params, true, true);
            // A parameter this batch does not reach has an undefined gradient: zero.
            let flat: Vec<Tensor> = g
                .into_iter()
                .zip(params)
                .map(|(g, p)| if g.defined() { g } else { p.detach().zeros_like() }.reshape([k, -1]))
                .collect();
            let g = Tensor::cat(&flat, 1) * weight;
            weighted = Some(match weighted {
                None => g,
                Some(total) => total + g,
            });
        }
        let weighted = weighted.unwrap_or_else(|| {
            Tensor::cat(&zeros_like_members(params).iter().map(|z| z.reshape([k, -1])).collect::<Vec<_>>(), 1)
        });
        let curved = weighted.requires_grad();
        Self { params: params.iter().map(Tensor::shallow_clone).collect(), weighted, curved, members, shapes }
    }

    /// The weighted gradient Σ_b w_b ∇L_b (detached), shaped like the parameters.
    #[must_use]
    pub fn gradient(&self) -> Vec<Tensor> {
        let flat = self.weighted.detach();
        let mut offset = 0;
        self.params
            .iter()
            .zip(&self.shapes)
            .map(|(p, shape)| {
                let n = i64::try_from(p.numel() / self.members).expect("small");
                let part = flat.narrow(1, offset, n).reshape(shape.as_slice());
                offset += n;
                part
            })
            .collect()
    }
}

impl HvpOperator for LossHvp {
    fn members(&self) -> usize {
        self.members
    }

    fn apply(&self, v: &[Tensor]) -> Vec<Tensor> {
        assert_eq!(v.len(), self.params.len(), "v must be shaped like the parameters");
        if !self.curved {
            // A constant gradient: the Hessian is zero.
            return v.iter().map(|t| t.detach().zeros_like()).collect();
        }
        let k = i64::try_from(self.members).expect("small");
        let flat: Vec<Tensor> = detach_members(v).iter().map(|t| t.reshape([k, -1])).collect();
        // s = Σ_k ⟨G_k, v_k⟩, so ∇_θ s = (H_k v_k)_k.
        let s = (&self.weighted * Tensor::cat(&flat, 1)).sum(self.weighted.kind());
        let hv = Tensor::run_backward(&[s], &self.params, true, false);
        hv.into_iter()
            .zip(&self.params)
            .zip(&self.shapes)
            .map(|((h, p), shape)| {
                if h.defined() { h } else { p.detach().zeros_like() }.reshape(shape.as_slice())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{randn, Tiny};
    use crate::vector::flatten_members;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use tch::{Device, Kind};

    fn max_abs(t: &Tensor) -> f64 {
        f64::try_from(t.abs().max()).unwrap()
    }

    #[test]
    fn hvp_of_a_quadratic_is_the_matrix_times_the_vector() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let (k, n) = (3, 7);
        let b = randn(&[k, n, n], &mut rng);
        let a = &b + b.transpose(1, 2); // symmetric [K, n, n]
        let x = randn(&[k, n], &mut rng).set_requires_grad(true);
        // L_k = ½ x_kᵀ A_k x_k
        let loss = (x.unsqueeze(1).bmm(&a).squeeze_dim(1) * &x).sum_dim_intlist(1, false, Kind::Double) * 0.5;
        let op = LossHvp::new(&[x.shallow_clone()], vec![(1.0, loss)]);
        let v = randn(&[k, n], &mut rng);
        let hv = op.apply(&[v.shallow_clone()]);
        let expected = a.bmm(&v.unsqueeze(2)).squeeze_dim(2);
        assert!(max_abs(&(&hv[0] - &expected)) < 1e-12 * max_abs(&expected));
        // Applying twice reuses the kept graph and gives the same answer.
        let again = op.apply(&[v]);
        assert_eq!(max_abs(&(&hv[0] - &again[0])), 0.0);
    }

    #[test]
    fn population_hvp_equals_each_member_computed_alone() {
        let tiny = Tiny::new(3, 12, 5);
        let op = tiny.hvp(&[12]);
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let v: Vec<Tensor> = tiny.params.iter().map(|p| randn(&p.size(), &mut rng)).collect();
        let hv = flatten_members(&op.apply(&v));
        for k in 0..3 {
            let alone = tiny.member(k);
            let v_alone: Vec<Tensor> = v.iter().map(|t| t.narrow(0, k, 1)).collect();
            let hv_alone = flatten_members(&alone.hvp(&[12]).apply(&v_alone));
            let diff = max_abs(&(hv.get(k) - hv_alone.get(0)));
            assert!(diff <= 1e-14 * max_abs(&hv_alone), "member {k}: {diff}");
        }
    }

    /// A model whose tensors have no population axis (an image model's layers) gives the same
    /// products and gradient as the same model stacked as a population of one.
    #[test]
    fn a_single_model_gives_the_products_of_its_population_of_one() {
        let tiny = Tiny::new(1, 12, 8);
        let stacked = tiny.hvp(&[12]);
        let plain: Vec<Tensor> =
            tiny.params.iter().map(|p| p.detach().squeeze_dim(0).set_requires_grad(true)).collect();
        let lifted: Vec<Tensor> = plain.iter().map(|p| p.unsqueeze(0)).collect();
        let single = LossHvp::single_model(&plain, vec![(1.0, Tiny::loss_of(&lifted, &tiny.x, &tiny.y))]);
        assert_eq!(single.members(), 1);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let v: Vec<Tensor> = tiny.params.iter().map(|p| randn(&p.size(), &mut rng)).collect();
        let got = single.apply(&v);
        for (g, t) in got.iter().zip(&v) {
            assert_eq!(g.size(), t.size(), "products come back shaped like the vectors");
        }
        let (a, b) = (flatten_members(&got), flatten_members(&stacked.apply(&v)));
        assert!(max_abs(&(&a - &b)) <= 1e-14 * max_abs(&b), "{}", max_abs(&(&a - &b)));
        let (ga, gb) = (flatten_members(&single.gradient()), flatten_members(&stacked.gradient()));
        assert!(max_abs(&(&ga - &gb)) <= 1e-14 * max_abs(&gb));
    }

    #[test]
    fn weighted_batches_give_the_hvp_of_the_mean_loss_over_all_samples() {
        let tiny = Tiny::new(3, 12, 6);
        let batched = tiny.hvp(&[4, 8]); // weights 4/12 and 8/12
        let whole = tiny.hvp(&[12]);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let v: Vec<Tensor> = tiny.params.iter().map(|p| randn(&p.size(), &mut rng)).collect();
        let a = flatten_members(&batched.apply(&v));
        let b = flatten_members(&whole.apply(&v));
        assert!(max_abs(&(&a - &b)) < 1e-13 * max_abs(&b), "{}", max_abs(&(&a - &b)));
        let ga = flatten_members(&batched.gradient());
        let gb = flatten_members(&whole.gradient());
        assert!(max_abs(&(&ga - &gb)) < 1e-13 * max_abs(&gb));
    }

    #[test]
    fn explicit_hessian_is_symmetric_and_matches_finite_differences_of_gradients() {
        let tiny = Tiny::new(3, 12, 7);
        let h = tiny.explicit_hessian(&tiny.hvp(&[12]));
        let scale = max_abs(&h);
        let asym = max_abs(&(&h - h.transpose(1, 2)));
        assert!(asym < 1e-14 * scale, "asymmetry {asym:e} of {scale:e}");
        // Central differences of autograd gradients, column j for all members at once:
        // (g(θ + ε e_j) − g(θ − ε e_j)) / 2ε = H e_j + O(ε² ∂³L); rounding ≈ 1e-16/ε.
        let eps = 1e-5;
        let n = h.size()[1];
        let mut worst = 0.0f64;
        for j in 0..n {
            let e = Tensor::zeros([3, n], (Kind::Double, Device::Cpu));
            let _ = e.narrow(1, j, 1).fill_(eps);
            let plus = flatten_members(&tiny.gradient_at(&e));
            let minus = flatten_members(&tiny.gradient_at(&(-&e)));
            let fd = (plus - minus) / (2.0 * eps);
            worst = worst.max(max_abs(&(fd - h.select(2, j))));
        }
        assert!(worst < 1e-6 * scale, "finite differences differ by {worst:e} (scale {scale:e})");
    }
}
