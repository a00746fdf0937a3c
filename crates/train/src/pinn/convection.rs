//! 1-D convection: u_t + β u_x = 0 on x ∈ [0, 2π), t ∈ [0, 1], u(x, 0) = sin x, periodic in x.
//! Exact solution u = sin(x − βt).
//!
//! # Shapes
//! Training inputs `[K, P, 2]` with columns (x, t); the P points of a member are, in order:
//! `n_f` random collocation points (fixed per seed), `n_0` initial points (x_i = 2πi/n_0,
//! t = 0), `n_b` left-boundary points (0, t_j) and `n_b` right-boundary points (2π, t_j),
//! t_j = linspace(0, 1, n_b). Evaluation grid: x = 2πi/eval_x (endpoint excluded),
//! t = linspace(0, 1, eval_t), shared by all members.

use std::f64::consts::TAU;

use pz_spec::ConvectionConfig;
use pz_spec::{member_rng, Stream};
use rand::Rng;
use tch::{Device, Kind, Tensor};

/// A population as the PINN loss sees it: u at points, and u with a directional derivative.
pub trait PinnModel {
    /// u at `[K, P, 2]` points: `[K, P, 1]`.
    fn u(&self, points: &Tensor) -> Tensor;
    /// u `[K, P, 1]` and ∇u·d `[K, P, 1]` for one direction d `[K, 1, 2]` per member, at points
    /// that require grad, differentiable with respect to the parameters.
    fn u_and_derivative(&self, points: &Tensor, direction: &Tensor) -> (Tensor, Tensor);
}

/// A model whose input gradient comes from reverse-mode autograd with create_graph (the
/// double-backward reference). Wraps any `[K, P, 2] → [K, P, 1]` function.
pub struct Autograd<F>(pub F);

impl<F: Fn(&Tensor) -> Tensor> PinnModel for Autograd<F> {
    fn u(&self, points: &Tensor) -> Tensor {
        (self.0)(points)
    }
    fn u_and_derivative(&self, points: &Tensor, direction: &Tensor) -> (Tensor, Tensor) {
        let u = (self.0)(points);
        let du = input_gradients(&u, points);
        let along = (du * direction).sum_dim_intlist(2, true, None);
        (u, along)
    }
}

/// The problem for K members (same point counts, per-member β and collocation points).
#[derive(Debug)]
pub struct ConvectionBatch {
    /// Collocation points `[K, n_f, 2]`, requiring grad (the residual needs u_x and u_t).
    pub collocation: Tensor,
    /// Initial and boundary points `[K, n_0 + 2 n_b, 2]` (no derivatives needed there).
    pub fixed: Tensor,
    /// All points `[K, P, 2]`: the collocation points first, then the fixed ones.
    pub points: Tensor,
    /// Number of collocation points.
    pub n_f: i64,
    /// β per member, `[K, 1]`.
    pub beta: Tensor,
    /// The residual's direction (β, 1) in (x, t) per member, `[K, 1, 2]`:
    /// u_t + β u_x = ∇u·(β, 1).
    pub direction: Tensor,
    /// sin of the initial points, `[1, n_0]`.
    initial_target: Tensor,
    /// Evaluation inputs `[1, N_eval, 2]`.
    eval_inputs: Tensor,
    n_0: i64,
    n_b: i64,
}

/// Per-member PINN loss terms, each `[K]`.
#[derive(Debug)]
pub struct PinnLoss {
    /// Mean squared residual u_t + β u_x over the collocation points.
    pub residual: Tensor,
    /// Mean squared error of u(x, 0) against sin x.
    pub initial: Tensor,
    /// Mean squared difference u(0, t) − u(2π, t).
    pub boundary: Tensor,
}

impl PinnLoss {
    /// The total loss per member, `[K]`: the sum of the three terms (unit weights, as
    /// Krishnapriyan et al.).
    pub fn total(&self) -> Tensor {
        &self.residual + &self.initial + &self.boundary
    }
}

impl ConvectionBatch {
    /// Build the problem for members given as (seed, config). Collocation points come from each
    /// seed's data stream, so a member sees the same points in any population.
    ///
    /// # Panics
    /// If the members' point counts differ (a population shares shapes), or no member is given.
    #[must_use]
    pub fn new(members: &[(u64, &ConvectionConfig)], kind: Kind, device: Device) -> Self {
        let c0 = members[0].1;
        for (_, c) in members {
            assert!(
                (c.collocation_points, c.initial_points, c.boundary_points, c.eval_x, c.eval_t)
                    == (c0.collocation_points, c0.initial_points, c0.boundary_points, c0.eval_x, c0.eval_t),
                "a population shares point counts"
            );
        }
        let (n_f, n_0, n_b) = (c0.collocation_points, c0.initial_points, c0.boundary_points);
        let fixed_xt = fixed_points(n_0, n_b);
        let mut all = Vec::with_capacity(members.len() * (n_f * 2 + fixed_xt.len()));
        for (seed, _) in members {
            let mut rng = member_rng(*seed, Stream::Data);
            for _ in 0..n_f {
                let x: f64 = rng.gen::<f64>() * TAU;
                let t: f64 = rng.gen();
                all.extend([x, t]);
            }
            all.extend_from_slice(&fixed_xt);
        }
        let k = i64::try_from(members.len()).expect("small");
        let p = i64::try_from(n_f + n_0 + 2 * n_b).expect("small");
        let n_f64 = i64::try_from(n_f).expect("small");
        let inputs = Tensor::from_slice(&all).reshape([k, p, 2]).to_kind(kind).to_device(device);
        let collocation = inputs.narrow(1, 0, n_f64).contiguous().set_requires_grad(true);
        let fixed = inputs.narrow(1, n_f64, p - n_f64).contiguous();
        let points = inputs;
        let betas: Vec<f64> = members.iter().map(|(_, c)| c.beta).collect();
        let beta = Tensor::from_slice(&betas).reshape([k, 1]).to_kind(kind).to_device(device);
        let direction = Tensor::stack(&[beta.shallow_clone(), beta.ones_like()], 1).reshape([k, 1, 2]);
        let x0: Vec<f64> = (0..n_0).map(|i| sin_of(TAU * i as f64 / n_0 as f64)).collect();
        let initial_target = Tensor::from_slice(&x0).reshape([1, -1]).to_kind(kind).to_device(device);
        let eval_inputs = eval_grid(c0.eval_x, c0.eval_t).to_kind(kind).to_device(device);
        let n = |v: usize| i64::try_from(v).expect("small");
        Self {
            collocation,
            fixed,
            points,
            n_f: n_f64,
            beta,
            direction,
            initial_target,
            eval_inputs,
            n_0: n(n_0),
            n_b: n(n_b),
        }
    }

    /// The PINN loss terms of `net`, with the graph kept so that the caller can backpropagate to
    /// the parameters. Input derivatives are taken at the collocation points only.
    pub fn loss(&self, net: &impl PinnModel) -> PinnLoss {
        // u_t + β u_x as one directional derivative, [K, n_f, 1].
        let (_, residual) = net.u_and_derivative(&self.collocation, &self.direction);
        let residual = residual.squeeze_dim(2).square().mean_dim(1, false, None);
        let u = net.u(&self.fixed).squeeze_dim(2); // [K, n_0 + 2 n_b]
        let u0 = u.narrow(1, 0, self.n_0);
        let initial = (u0 - &self.initial_target).square().mean_dim(1, false, None);
        let left = u.narrow(1, self.n_0, self.n_b);
        let right = u.narrow(1, self.n_0 + self.n_b, self.n_b);
        let boundary = (left - right).square().mean_dim(1, false, None);
        PinnLoss { residual, initial, boundary }
    }

    /// The loss terms from the network's outputs u `[K, P, 1]` at [`ConvectionBatch::points`]
    /// and residuals r = u_t + β u_x `[K, n_f, 1]` at the collocation points, with the adjoints
    /// ∂L/∂u and ∂L/∂r of the total loss L = Σ_members (residual + initial + boundary), for a
    /// hand-written backward pass.
    pub fn loss_and_adjoints(&self, u: &Tensor, r: &Tensor) -> (PinnLoss, Tensor, Tensor) {
        tch::no_grad(|| {
            #[allow(clippy::cast_precision_loss)]
            let (n_f, n_0, n_b) = (self.n_f as f64, self.n_0 as f64, self.n_b as f64);
            let residual = r.squeeze_dim(2).square().mean_dim(1, false, None);
            let r_bar = r * (2.0 / n_f);
            let u_fixed = u.narrow(1, self.n_f, self.n_0 + 2 * self.n_b).squeeze_dim(2);
            let initial_error = u_fixed.narrow(1, 0, self.n_0) - &self.initial_target;
            let initial = initial_error.square().mean_dim(1, false, None);
            let gap =
                u_fixed.narrow(1, self.n_0, self.n_b) - u_fixed.narrow(1, self.n_0 + self.n_b, self.n_b);
            let boundary = gap.square().mean_dim(1, false, None);
            let gap_bar = gap * (2.0 / n_b);
            let u_bar = Tensor::cat(
                &[
                    u.narrow(1, 0, self.n_f).squeeze_dim(2).zeros_like(),
                    initial_error * (2.0 / n_0),
                    gap_bar.shallow_clone(),
                    -gap_bar,
                ],
                1,
            )
            .unsqueeze(2);
            (PinnLoss { residual, initial, boundary }, u_bar, r_bar)
        })
    }

    /// The evaluation grid for `k` members, `[k, N, 2]` (a broadcast view).
    pub fn eval_points(&self, k: i64) -> Tensor {
        let n = self.eval_inputs.size()[1];
        self.eval_inputs.expand([k, n, 2], false)
    }

    /// Test loss (mean squared error) and test error (relative L2 error) per member against the
    /// exact solution on the evaluation grid, each `[K]`. Runs without gradients, in chunks of
    /// points so that large populations fit in memory.
    pub fn evaluate(&self, net: &impl PinnModel) -> (Tensor, Tensor) {
        tch::no_grad(|| {
            let k = self.beta.size()[0];
            let n = self.eval_inputs.size()[1];
            let chunk = (1 << 22) / k.max(1) + 1;
            let (mut sq_err, mut sq_ref) = (Vec::new(), Vec::new());
            let mut start = 0;
            while start < n {
                let len = chunk.min(n - start);
                let pts = self.eval_inputs.narrow(1, start, len).expand([k, len, 2], false);
                let u = net.u(&pts).squeeze_dim(2);
                let exact = exact_solution(&pts.select(2, 0), &pts.select(2, 1), &self.beta);
                sq_err.push((u - &exact).square().sum_dim_intlist(1, false, None));
                sq_ref.push(exact.square().sum_dim_intlist(1, false, None));
                start += len;
            }
            let sq_err = Tensor::stack(&sq_err, 0).sum_dim_intlist(0, false, None);
            let sq_ref = Tensor::stack(&sq_ref, 0).sum_dim_intlist(0, false, None);
            #[allow(clippy::cast_precision_loss)]
            let test_loss = &sq_err / n as f64;
            (test_loss, (sq_err / sq_ref).sqrt())
        })
    }
}

/// u = sin(x − βt) with β `[K, 1]` broadcast over `[K, N]` inputs.
pub fn exact_solution(x: &Tensor, t: &Tensor, beta: &Tensor) -> Tensor {
    (x - beta * t).sin()
}

/// ∂u/∂inputs for every point, keeping the graph (create_graph) so a loss built from the result
/// can be differentiated again. `u` is `[K, P]` or `[K, P, 1]` computed from `inputs`
/// `[K, P, d]`; each output depends only on its own input point, so the gradient of Σu is the
/// per-point derivative.
pub fn input_gradients(u: &Tensor, inputs: &Tensor) -> Tensor {
    let sum = u.sum(u.kind());
    Tensor::run_backward(&[sum], &[inputs], true, true).pop().expect("one input")
}

fn sin_of(x: f64) -> f64 {
    x.sin()
}

fn fixed_points(n_0: usize, n_b: usize) -> Vec<f64> {
    let mut v = Vec::with_capacity(2 * (n_0 + 2 * n_b));
    #[allow(clippy::cast_precision_loss)]
    for i in 0..n_0 {
        v.extend([TAU * i as f64 / n_0 as f64, 0.0]);
    }
    let times = linspace01(n_b);
    for &t in &times {
        v.extend([0.0, t]);
    }
    for &t in &times {
        v.extend([TAU, t]);
    }
    v
}

#[allow(clippy::cast_precision_loss)]
fn linspace01(n: usize) -> Vec<f64> {
    if n == 1 {
        return vec![0.0];
    }
    (0..n).map(|j| j as f64 / (n - 1) as f64).collect()
}

#[allow(clippy::cast_precision_loss)]
fn eval_grid(nx: usize, nt: usize) -> Tensor {
    let mut v = Vec::with_capacity(2 * nx * nt);
    for &t in &linspace01(nt) {
        for i in 0..nx {
            v.extend([TAU * i as f64 / nx as f64, t]);
        }
    }
    Tensor::from_slice(&v).reshape([1, -1, 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(beta: f64) -> ConvectionConfig {
        ConvectionConfig {
            beta,
            collocation_points: 300,
            initial_points: 64,
            boundary_points: 20,
            eval_x: 64,
            eval_t: 20,
            derivatives: pz_spec::Derivatives::Autograd,
        }
    }

    fn max_abs(t: &Tensor) -> f64 {
        f64::try_from(t.abs().max()).unwrap()
    }

    #[test]
    fn input_gradients_match_the_analytic_derivative() {
        // f(x, t) = sin(x) t² + 3t  ⇒  f_x = cos(x) t², f_t = 2 sin(x) t + 3.
        let c = config(1.0);
        let batch = ConvectionBatch::new(&[(0, &c), (1, &c)], Kind::Double, Device::Cpu);
        let f = |p: &Tensor| {
            let (x, t) = (p.select(2, 0), p.select(2, 1));
            x.sin() * t.square() + t * 3.0
        };
        let pts = &batch.collocation;
        let du = input_gradients(&f(pts), pts);
        let (x, t) = (pts.select(2, 0), pts.select(2, 1));
        assert!(max_abs(&(du.select(2, 0) - x.cos() * t.square())) < 1e-12);
        assert!(max_abs(&(du.select(2, 1) - (x.sin() * &t * 2.0 + 3.0))) < 1e-12);
    }

    #[test]
    fn the_exact_solution_has_zero_loss_and_zero_error() {
        let (c1, c7) = (config(1.0), config(7.0));
        let batch = ConvectionBatch::new(&[(0, &c1), (1, &c7)], Kind::Double, Device::Cpu);
        let exact =
            Autograd(|p: &Tensor| exact_solution(&p.select(2, 0), &p.select(2, 1), &batch.beta).unsqueeze(2));
        let loss = batch.loss(&exact);
        assert!(max_abs(&loss.total()) < 1e-24, "{}", max_abs(&loss.total()));
        let (test_loss, test_error) = batch.evaluate(&exact);
        assert!(max_abs(&test_loss) < 1e-24 && max_abs(&test_error) < 1e-12);
    }

    #[test]
    fn the_wrong_beta_has_the_expected_residual() {
        // u = sin(x − 2t) under β = 5: u_t + βu_x = (5 − 2) cos(x − 2t); mean of 9 cos² ≈ 4.5.
        let c = ConvectionConfig { collocation_points: 20_000, ..config(5.0) };
        let batch = ConvectionBatch::new(&[(3, &c)], Kind::Double, Device::Cpu);
        let two = Tensor::from_slice(&[2.0f64]).reshape([1, 1]);
        let u = Autograd(|p: &Tensor| exact_solution(&p.select(2, 0), &p.select(2, 1), &two).unsqueeze(2));
        let residual = f64::try_from(batch.loss(&u).residual.get(0)).unwrap();
        assert!((residual - 4.5).abs() < 0.15, "{residual}");
    }

    #[test]
    fn adjoints_are_the_gradient_of_the_total_loss() {
        let (c1, c4) = (config(1.0), config(4.0));
        let batch = ConvectionBatch::new(&[(0, &c1), (1, &c4)], Kind::Double, Device::Cpu);
        let p = batch.points.size()[1];
        let u = Tensor::randn([2, p, 1], (Kind::Double, Device::Cpu)).set_requires_grad(true);
        let r = Tensor::randn([2, batch.n_f, 1], (Kind::Double, Device::Cpu)).set_requires_grad(true);
        let (loss, u_bar, r_bar) = batch.loss_and_adjoints(&u, &r);
        // The same terms written directly, differentiated by autograd.
        let uf = u.narrow(1, batch.n_f, p - batch.n_f).squeeze_dim(2);
        let (n0, nb) = (batch.n_0, batch.n_b);
        let total = r.square().mean_dim(1, false, None).sum(Kind::Double)
            + (uf.narrow(1, 0, n0) - &batch.initial_target)
                .square()
                .mean_dim(1, false, None)
                .sum(Kind::Double)
            + (uf.narrow(1, n0, nb) - uf.narrow(1, n0 + nb, nb))
                .square()
                .mean_dim(1, false, None)
                .sum(Kind::Double);
        let grads = Tensor::run_backward(&[&total], &[&u, &r], false, false);
        assert!(max_abs(&(&grads[0] - u_bar)) < 1e-14);
        assert!(max_abs(&(&grads[1] - r_bar)) < 1e-14);
        assert!(
            (f64::try_from(loss.total().sum(Kind::Double)).unwrap() - f64::try_from(total).unwrap()).abs()
                < 1e-12
        );
    }

    #[test]
    fn zero_prediction_has_relative_error_one() {
        let c = config(3.0);
        let batch = ConvectionBatch::new(&[(0, &c)], Kind::Double, Device::Cpu);
        let (test_loss, test_error) =
            batch.evaluate(&Autograd(|p: &Tensor| p.select(2, 0).zeros_like().unsqueeze(2)));
        assert!((f64::try_from(test_error.get(0)).unwrap() - 1.0).abs() < 1e-12);
        // Mean of sin² over a full period in x is 1/2.
        assert!((f64::try_from(test_loss.get(0)).unwrap() - 0.5).abs() < 1e-9);
    }

    #[test]
    fn collocation_points_depend_on_the_seed_only() {
        let c = config(1.0);
        let a = ConvectionBatch::new(&[(5, &c)], Kind::Float, Device::Cpu);
        let b = ConvectionBatch::new(&[(4, &c), (5, &c)], Kind::Float, Device::Cpu);
        assert!(max_abs(&(a.collocation.get(0) - b.collocation.get(1))) == 0.0);
        assert!(max_abs(&(a.collocation.get(0) - b.collocation.get(0))) > 0.1);
    }
}
