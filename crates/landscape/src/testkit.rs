//! Test fixtures (compiled for tests only): a population of tiny float64 tanh MLPs with
//! explicit Hessians, and quadratic losses with known Hessians.

use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use tch::{Device, Kind, Tensor};

use crate::hvp::{HvpOperator, LossHvp};
use crate::vector::{flatten_members, member_numel, unflatten_members};

/// Standard Gaussian float64 tensor from a ChaCha8 stream (no global libtorch generator, so
/// parallel tests stay deterministic).
pub(crate) fn randn(shape: &[i64], rng: &mut ChaCha8Rng) -> Tensor {
    let n: i64 = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|_| StandardNormal.sample(rng)).collect();
    Tensor::from_slice(&v).reshape(shape)
}

/// K members of a 2 → 4 → 3 tanh MLP (27 parameters each), each with its own 2-D inputs and
/// 3-D targets, and the mean squared error as loss.
pub(crate) struct Tiny {
    /// W0 `[K, 2, 4]`, b0 `[K, 1, 4]`, W1 `[K, 4, 3]`, b1 `[K, 1, 3]`; leaves requiring grad.
    pub params: Vec<Tensor>,
    /// `[K, N, 2]`.
    pub x: Tensor,
    /// `[K, N, 3]`.
    pub y: Tensor,
}

impl Tiny {
    pub(crate) fn new(k: i64, n: i64, seed: u64) -> Self {
        use rand::SeedableRng;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let shapes: [&[i64]; 4] = [&[k, 2, 4], &[k, 1, 4], &[k, 4, 3], &[k, 1, 3]];
        let params = shapes.iter().map(|s| randn(s, &mut rng).set_requires_grad(true)).collect();
        let x = randn(&[k, n, 2], &mut rng);
        let y = randn(&[k, n, 3], &mut rng);
        Self { params, x, y }
    }

    /// Per-member mean squared error `[K]` of `params` on samples `start .. start + len`.
    pub(crate) fn loss_of(params: &[Tensor], x: &Tensor, y: &Tensor) -> Tensor {
        let h = params[1].baddbmm(x, &params[0], 1.0, 1.0).tanh();
        let out = params[3].baddbmm(&h, &params[2], 1.0, 1.0);
        (out - y).square().mean_dim([1, 2].as_slice(), false, Kind::Double)
    }

    /// A [`LossHvp`] over consecutive batches of the given sizes, weighted by size / N.
    pub(crate) fn hvp(&self, batch_sizes: &[i64]) -> LossHvp {
        let total: i64 = batch_sizes.iter().sum();
        let mut start = 0;
        let batches = batch_sizes
            .iter()
            .map(|&b| {
                let loss =
                    Self::loss_of(&self.params, &self.x.narrow(1, start, b), &self.y.narrow(1, start, b));
                start += b;
                #[allow(clippy::cast_precision_loss)]
                (b as f64 / total as f64, loss)
            })
            .collect();
        LossHvp::new(&self.params, batches)
    }

    /// The same members on `device`.
    pub(crate) fn to_device(&self, device: Device) -> Self {
        Self {
            params: self
                .params
                .iter()
                .map(|p| p.detach().to_device(device).set_requires_grad(true))
                .collect(),
            x: self.x.to_device(device),
            y: self.y.to_device(device),
        }
    }

    /// Member k alone, as a population of one.
    pub(crate) fn member(&self, k: i64) -> Self {
        Self {
            params: self
                .params
                .iter()
                .map(|p| p.narrow(0, k, 1).detach().copy().set_requires_grad(true))
                .collect(),
            x: self.x.narrow(0, k, 1),
            y: self.y.narrow(0, k, 1),
        }
    }

    /// Autograd gradient of every member's full-data loss at θ + δ (δ flat, `[K, n]`).
    pub(crate) fn gradient_at(&self, delta: &Tensor) -> Vec<Tensor> {
        let shifted: Vec<Tensor> = self
            .params
            .iter()
            .zip(unflatten_members(delta, &self.params))
            .map(|(p, d)| (p.detach() + d).set_requires_grad(true))
            .collect();
        let loss = Self::loss_of(&shifted, &self.x, &self.y).sum(Kind::Double);
        Tensor::run_backward(&[loss], &shifted, false, false)
    }

    /// Every member's Hessian `[K, n, n]`, column j = H e_j, from n products with unit vectors.
    pub(crate) fn explicit_hessian(&self, op: &impl HvpOperator) -> Tensor {
        explicit_hessian(op, &self.params)
    }
}

/// Every member's Hessian `[K, n, n]` built column by column from H e_j.
pub(crate) fn explicit_hessian(op: &impl HvpOperator, params: &[Tensor]) -> Tensor {
    let k = i64::try_from(op.members()).unwrap();
    let n = i64::try_from(member_numel(params)).unwrap();
    let columns: Vec<Tensor> = (0..n)
        .map(|j| {
            let e = Tensor::zeros([k, n], (Kind::Double, Device::Cpu));
            let _ = e.narrow(1, j, 1).fill_(1.0);
            flatten_members(&op.apply(&unflatten_members(&e, params)))
        })
        .collect();
    Tensor::stack(&columns, 2)
}

/// Per-member eigenvalues of `[K, n, n]` symmetric matrices, ascending (LAPACK through
/// `torch.linalg.eigvalsh`).
pub(crate) fn eigvalsh(h: &Tensor) -> Vec<Vec<f64>> {
    let e = h.linalg_eigvalsh("L");
    (0..e.size()[0]).map(|k| Vec::<f64>::try_from(e.get(k)).unwrap()).collect()
}

/// Per-member trace of `[K, n, n]`.
pub(crate) fn traces(h: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(h.diagonal(0, 1, 2).sum_dim_intlist(1, false, Kind::Double)).unwrap()
}

/// A population of quadratics L_k = ½ x_kᵀ A_k x_k with x `[K, n]`: returns (params, operator).
pub(crate) fn quadratic(a: &Tensor, rng: &mut ChaCha8Rng) -> (Vec<Tensor>, LossHvp) {
    let size = a.size();
    let x = randn(&size[..2], rng).set_requires_grad(true);
    let loss = (x.unsqueeze(1).bmm(a).squeeze_dim(1) * &x).sum_dim_intlist(1, false, Kind::Double) * 0.5;
    let params = vec![x];
    let op = LossHvp::new(&params, vec![(1.0, loss)]);
    (params, op)
}

/// Per-member values of a `[K, …]` tensor as nested vectors of rows (for plain-Rust references).
pub(crate) fn rows(h: &Tensor, k: i64) -> Vec<Vec<f64>> {
    let m = h.get(k);
    (0..m.size()[0]).map(|i| Vec::<f64>::try_from(m.get(i)).unwrap()).collect()
}
