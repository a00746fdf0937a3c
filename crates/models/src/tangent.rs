//! A tanh MLP's outputs with one directional derivative, and the exact gradient of any loss of
//! both, written out by hand (no autograd graph).
//!
//! Why: a PDE residual such as u_t + β u_x is the derivative of u along one direction (β, 1) of
//! the input. Reverse-mode autograd gets it by a backward pass with `create_graph` and then
//! differentiates that backward pass again (double backward), which records and replays a graph
//! of many small element-wise kernels. Forward-mode tangents carry the derivative alongside the
//! activations (one extra matmul per layer), and the gradient with respect to the parameters
//! is one hand-written backward sweep using fused `tanh_backward` kernels. Same mathematics,
//! fewer kernels; checked against the double backward in float64 (tests below). On CUDA,
//! [`MlpPopulation::fused_tangent_forward`] runs the same sweep as two kernels of phasezoo's own
//! (fused_tangent.rs); [`MlpPopulation::tangent_backward`] follows whichever sweep made the tape.
//!
//! # Equations (one member; rows are points)
//! Forward, hidden layers l = 0 … H−1, `z₀ = XW₀ + b₀`, `ż₀ = dW₀`:
//! `a_l = tanh z_l`, `ȧ_l = ż_l ∘ (1 − a_l²)`, `z_{l+1} = a_l W_{l+1} + b_{l+1}`,
//! `ż_{l+1} = ȧ_l W_{l+1}`; outputs `u = z_H` and `r = ż_H` (= ∇u·d).
//! Backward from adjoints ū, r̄: `W̄_{l+1} = a_lᵀ z̄_{l+1} + ȧ_lᵀ ż̄_{l+1}`,
//! `b̄_{l+1} = Σ_rows z̄_{l+1}`, `ā_l = z̄_{l+1}W_{l+1}ᵀ − 2 a_l ∘ ż_l ∘ (ż̄_{l+1}W_{l+1}ᵀ)`,
//! `ż̄_l = (ż̄_{l+1}W_{l+1}ᵀ) ∘ (1 − a_l²)`, `z̄_l = ā_l ∘ (1 − a_l²)`;
//! `W̄₀ = Xᵀz̄₀ + dᵀ Σ_rows ż̄₀`, `b̄₀ = Σ_rows z̄₀`.
//!
//! # Shapes
//! Points `[K, P, in]`; the derivative is taken on the first `n` rows only (e.g. collocation
//! points first, then initial and boundary points); direction `[K, 1, in]`.

use pz_device::ElementwiseKernel;
use tch::Tensor;

use crate::fused_tangent::FusedTape;
use crate::MlpPopulation;

/// What the backward sweep needs from the forward one.
#[derive(Debug)]
pub struct TangentTape(Tape);

#[derive(Debug)]
enum Tape {
    Tensors(TensorTape),
    Fused(FusedTape),
}

impl TangentTape {
    pub(crate) fn fused(tape: FusedTape) -> Self {
        Self(Tape::Fused(tape))
    }
}

/// The tensor sweep's tape.
#[derive(Debug)]
struct TensorTape {
    inputs: Tensor,
    direction: Tensor,
    /// `a_l`, `[K, P, w]` per hidden layer.
    activations: Vec<Tensor>,
    /// `ż_l` (pre-activation tangent), `[K, n, w]` (or `[K, 1, w]` for the first layer).
    pre_tangents: Vec<Tensor>,
    /// `ȧ_l`, `[K, n, w]`.
    tangents: Vec<Tensor>,
    n: i64,
}

impl MlpPopulation {
    /// Outputs u `[K, P, out]` at all points and the directional derivatives r = ∇u·d
    /// `[K, n, out]` at the first `n`, with the tape for [`MlpPopulation::tangent_backward`].
    /// Runs without recording an autograd graph.
    pub fn tangent_forward(
        &self,
        points: &Tensor,
        n: i64,
        direction: &Tensor,
    ) -> (Tensor, Tensor, TangentTape) {
        tch::no_grad(|| {
            let hidden = self.sizes.len() - 2;
            let mut z = self.params[1].baddbmm(points, &self.params[0], 1.0, 1.0);
            let mut z_dot = direction.bmm(&self.params[0]); // [K, 1, w]: constant over points
            let (mut activations, mut pre_tangents, mut tangents) = (Vec::new(), Vec::new(), Vec::new());
            for l in 0..hidden {
                let a = z.tanh();
                let a_n = a.narrow(1, 0, n);
                let a_dot = Tensor::tanh_backward(&z_dot.expand_as(&a_n), &a_n);
                let (w, b) = (&self.params[2 * l + 2], &self.params[2 * l + 3]);
                z = b.baddbmm(&a, w, 1.0, 1.0);
                let next_dot = a_dot.bmm(w);
                activations.push(a);
                pre_tangents.push(z_dot);
                tangents.push(a_dot);
                z_dot = next_dot;
            }
            let tape = TensorTape {
                inputs: points.shallow_clone(),
                direction: direction.shallow_clone(),
                activations,
                pre_tangents,
                tangents,
                n,
            };
            (z, z_dot, TangentTape(Tape::Tensors(tape)))
        })
    }

    /// Gradients of a loss with respect to `params` (same order and shapes), given the loss's
    /// adjoints ū = ∂L/∂u `[K, P, out]` and r̄ = ∂L/∂r `[K, n, out]`, by the sweep that made
    /// the tape.
    pub fn tangent_backward(&self, tape: &TangentTape, u_bar: &Tensor, r_bar: &Tensor) -> Vec<Tensor> {
        match &tape.0 {
            Tape::Tensors(t) => self.tensor_backward(t, u_bar, r_bar),
            Tape::Fused(t) => self.fused_tangent_backward(t, u_bar, r_bar).unwrap_or_else(|| {
                // The kernel failed (logged): redo the step's forward with tensors.
                let (_, _, tape) = self.tangent_forward(t.points(), t.n(), t.direction());
                self.tangent_backward(&tape, u_bar, r_bar)
            }),
        }
    }

    /// The tensor sweep's backward. It keeps the first `n` rows (points with a tangent) and the
    /// others as separate blocks, so that the tangent rows' element-wise work is one fused
    /// kernel on CUDA ([`TANH_TANGENT_BACKWARD`]) writing blocks the next products read directly.
    fn tensor_backward(&self, tape: &TensorTape, u_bar: &Tensor, r_bar: &Tensor) -> Vec<Tensor> {
        tch::no_grad(|| {
            let hidden = self.sizes.len() - 2;
            let n = tape.n;
            let rest = u_bar.size()[1] - n;
            // (first n rows, the other rows if any)
            let split = |t: &Tensor| (t.narrow(1, 0, n), (rest > 0).then(|| t.narrow(1, n, rest)));
            let row_sum = |t: &Tensor| t.sum_dim_intlist(1, true, None);
            let mut grads: Vec<Option<Tensor>> = (0..self.params.len()).map(|_| None).collect();
            let (mut z_bar, mut z_bar_rest) = split(u_bar);
            let mut z_dot_bar = r_bar.shallow_clone();
            for l in (0..hidden).rev() {
                // Layer l+1 maps (a_l, ȧ_l) → (z_{l+1}, ż_{l+1}).
                let (a_dot, z_dot) = (&tape.tangents[l], &tape.pre_tangents[l]);
                let (a, a_rest) = split(&tape.activations[l]);
                let w = &self.params[2 * l + 2];
                let mut w_grad =
                    a.transpose(1, 2).bmm(&z_bar).baddbmm(&a_dot.transpose(1, 2), &z_dot_bar, 1.0, 1.0);
                let mut b_grad = row_sum(&z_bar);
                if let (Some(a_rest), Some(z_bar_rest)) = (&a_rest, &z_bar_rest) {
                    w_grad = w_grad.baddbmm(&a_rest.transpose(1, 2), z_bar_rest, 1.0, 1.0);
                    b_grad += row_sum(z_bar_rest);
                }
                grads[2 * l + 2] = Some(w_grad);
                grads[2 * l + 3] = Some(b_grad);
                let w_t = w.transpose(1, 2);
                (z_bar, z_dot_bar) = tanh_tangent_backward(&z_bar.bmm(&w_t), &z_dot_bar.bmm(&w_t), z_dot, &a);
                z_bar_rest = a_rest.zip(z_bar_rest).map(|(a, z)| Tensor::tanh_backward(&z.bmm(&w_t), &a));
            }
            let (x, x_rest) = split(&tape.inputs);
            let mut w0 = x.transpose(1, 2).bmm(&z_bar).baddbmm(
                &tape.direction.transpose(1, 2),
                &row_sum(&z_dot_bar),
                1.0,
                1.0,
            );
            let mut b0 = row_sum(&z_bar);
            if let (Some(x_rest), Some(z_bar_rest)) = (&x_rest, &z_bar_rest) {
                w0 = w0.baddbmm(&x_rest.transpose(1, 2), z_bar_rest, 1.0, 1.0);
                b0 += row_sum(z_bar_rest);
            }
            grads[0] = Some(w0);
            grads[1] = Some(b0);
            grads.into_iter().map(|g| g.expect("every parameter has a gradient")).collect()
        })
    }
}

/// One hidden layer's backward on the rows with a tangent, from the adjoints of its outputs
/// ā (of a = tanh z) and ǡ (of ȧ = ż ∘ (1 − a²)): `z̄ = (ā − 2 a ∘ ż ∘ ǡ) ∘ (1 − a²)` and
/// `ż̄ = ǡ ∘ (1 − a²)` (ȧ depends on a too: ∂ȧ/∂a = −2 a ∘ ż). One kernel on CUDA instead of
/// five passes over memory.
pub const TANH_TANGENT_BACKWARD: ElementwiseKernel = ElementwiseKernel {
    name: "pz_tanh_tangent_backward",
    code: "template <typename T> void pz_tanh_tangent_backward(T a_bar, T a_dot_bar, T z_dot, T a, \
           T& z_bar, T& z_dot_bar) { T slope = T(1) - a * a; z_dot_bar = a_dot_bar * slope; \
           z_bar = (a_bar - T(2) * a * z_dot * a_dot_bar) * slope; }",
    inputs: 4,
    outputs: 2,
};

/// `(z̄, ż̄)` of [`TANH_TANGENT_BACKWARD`]: the fused kernel where it runs (CUDA), else the
/// same with tensor operations. `z_dot` may be `[K, 1, w]` (broadcast over the rows).
fn tanh_tangent_backward(a_bar: &Tensor, a_dot_bar: &Tensor, z_dot: &Tensor, a: &Tensor) -> (Tensor, Tensor) {
    if let Some(mut out) = TANH_TANGENT_BACKWARD.run(&[a_bar, a_dot_bar, z_dot, a]) {
        let z_dot_bar = out.pop().expect("two outputs");
        let z_bar = out.pop().expect("two outputs");
        return (z_bar, z_dot_bar);
    }
    let through_slope = a_dot_bar * z_dot * -2.0;
    let a_bar = a_bar.addcmul(&through_slope, a);
    (Tensor::tanh_backward(&a_bar, a), Tensor::tanh_backward(a_dot_bar, a))
}

#[cfg(test)]
mod tests {
    use tch::{Device, Kind, Tensor};

    use super::TANH_TANGENT_BACKWARD;
    use crate::MlpPopulation;

    fn max_abs(t: &Tensor) -> f64 {
        f64::try_from(t.abs().max()).unwrap()
    }

    #[test]
    fn outputs_and_directional_derivatives_match_autograd() {
        let pop = MlpPopulation::init(&[3, 4], &[2, 6, 5, 1], Kind::Double, Device::Cpu);
        let x = Tensor::randn([2, 7, 2], (Kind::Double, Device::Cpu)).set_requires_grad(true);
        let d = Tensor::from_slice(&[3.0f64, 1.0, -0.5, 1.0]).reshape([2, 1, 2]);
        let (u, r, _) = pop.tangent_forward(&x, 4, &d);
        let reference = pop.forward(&x);
        assert!(max_abs(&(&u - &reference)) < 1e-14);
        let grad = Tensor::run_backward(&[reference.sum(Kind::Double)], &[&x], false, false).pop().unwrap();
        let expected = (grad * &d).sum_dim_intlist(2, true, None).narrow(1, 0, 4);
        assert!(max_abs(&(r - expected)) < 1e-13);
    }

    #[test]
    fn parameter_gradients_match_the_double_backward() {
        // L = Σ c₁ ∘ u² + Σ c₂ ∘ r³ (arbitrary smooth loss of both outputs), K = 3, 3 hidden layers.
        let pop = MlpPopulation::init(&[1, 2, 3], &[2, 5, 4, 6, 1], Kind::Double, Device::Cpu);
        let opts = (Kind::Double, Device::Cpu);
        let x = Tensor::randn([3, 9, 2], opts).set_requires_grad(true);
        let d = Tensor::randn([3, 1, 2], opts);
        let (c1, c2) = (Tensor::randn([3, 9, 1], opts), Tensor::randn([3, 5, 1], opts));

        // Reference: autograd input gradient with create_graph, then the parameter gradient.
        let u = pop.forward(&x);
        let du = Tensor::run_backward(&[u.sum(Kind::Double)], &[&x], true, true).pop().unwrap();
        let r = (du * &d).sum_dim_intlist(2, true, None).narrow(1, 0, 5);
        let loss = (&c1 * u.square()).sum(Kind::Double) + (&c2 * r.pow_tensor_scalar(3)).sum(Kind::Double);
        let expected = Tensor::run_backward(&[loss], &pop.params, false, false);

        let (u, r, tape) = pop.tangent_forward(&x.detach(), 5, &d);
        let u_bar = &c1 * &u * 2.0;
        let r_bar = &c2 * r.square() * 3.0;
        let got = pop.tangent_backward(&tape, &u_bar, &r_bar);
        for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
            assert_eq!(g.size(), e.size(), "param {i}");
            let scale = max_abs(e).max(1e-12);
            assert!(max_abs(&(g - e)) / scale < 1e-12, "param {i}: {}", max_abs(&(g - e)) / scale);
        }
    }

    #[test]
    fn the_fused_sweep_is_for_cuda_only() {
        let pop = MlpPopulation::init(&[1, 2], &[2, 8, 8, 1], Kind::Float, Device::Cpu);
        let x = Tensor::randn([2, 9, 2], (Kind::Float, Device::Cpu));
        let d = Tensor::randn([2, 1, 2], (Kind::Float, Device::Cpu));
        assert!(pop.fused_tangent_forward(&x, 5, &d).is_none());
    }

    /// On a GPU (PZ_TEST_CUDA=1): phasezoo's fused kernels (kernels/tangent_mlp.cu) give the
    /// CPU tensor sweep's outputs and gradients, in float64: three hidden layers of width 9
    /// (not a multiple of the kernels' vector loads), 301 rows of which 200 carry the tangent
    /// (blocks of 128 rows: one ends mid-tangent, one is partial), five members.
    #[test]
    fn cuda_fused_kernels_equal_the_cpu_sweep() {
        assert!(std::env::var_os("PZ_TEST_CUDA").is_none() || tch::Cuda::is_available(), "no GPU");
        if !tch::Cuda::is_available() {
            return;
        }
        let cpu = MlpPopulation::init(&[4, 5, 6, 7, 8], &[2, 9, 9, 9, 1], Kind::Double, Device::Cpu);
        let cuda = MlpPopulation {
            sizes: cpu.sizes.clone(),
            params: cpu.params.iter().map(|p| p.detach().to_device(Device::Cuda(0))).collect(),
        };
        let opts = (Kind::Double, Device::Cpu);
        let (x, d) = (Tensor::randn([5, 301, 2], opts), Tensor::randn([5, 1, 2], opts) * 10.0);
        let (c1, c2) = (Tensor::randn([5, 301, 1], opts), Tensor::randn([5, 200, 1], opts));
        let on = |t: &Tensor| t.to_device(Device::Cuda(0));
        let (u, r, tape) =
            cuda.fused_tangent_forward(&on(&x), 200, &on(&d)).expect("the kernels run on this GPU");
        let grads = cuda.tangent_backward(&tape, &(on(&c1) * &u * 2.0), &(on(&c2) * r.square() * 3.0));
        let (u_ref, r_ref, tape_ref) = cpu.tangent_forward(&x, 200, &d);
        let grads_ref = cpu.tangent_backward(&tape_ref, &(&c1 * &u_ref * 2.0), &(&c2 * r_ref.square() * 3.0));
        let rel = |a: &Tensor, e: &Tensor| max_abs(&(a.to_device(Device::Cpu) - e)) / max_abs(e).max(1e-12);
        assert_eq!(u.size(), u_ref.size());
        assert_eq!(r.size(), r_ref.size());
        assert!(
            rel(&u, &u_ref) < 1e-12 && rel(&r, &r_ref) < 1e-12,
            "{} {}",
            rel(&u, &u_ref),
            rel(&r, &r_ref)
        );
        for (i, (g, e)) in grads.iter().zip(&grads_ref).enumerate() {
            assert_eq!(g.size(), e.size(), "param {i}");
            assert!(rel(g, e) < 1e-12, "param {i}: {}", rel(g, e));
        }
    }

    /// On a GPU (PZ_TEST_CUDA=1): the sweep with the fused kernel equals the CPU's tensor
    /// operations, in float64, with the first layer's broadcast tangent and two row blocks.
    #[test]
    fn cuda_fused_backward_equals_the_cpu_sweep() {
        assert!(std::env::var_os("PZ_TEST_CUDA").is_none() || tch::Cuda::is_available(), "no GPU");
        if !tch::Cuda::is_available() {
            return;
        }
        let cpu = MlpPopulation::init(&[4, 5], &[2, 7, 6, 1], Kind::Double, Device::Cpu);
        let cuda = MlpPopulation {
            sizes: cpu.sizes.clone(),
            params: cpu.params.iter().map(|p| p.detach().to_device(Device::Cuda(0))).collect(),
        };
        let opts = (Kind::Double, Device::Cpu);
        let (x, d) = (Tensor::randn([2, 11, 2], opts), Tensor::randn([2, 1, 2], opts));
        let (c1, c2) = (Tensor::randn([2, 11, 1], opts), Tensor::randn([2, 6, 1], opts));
        let grads = |pop: &MlpPopulation, device: Device| {
            let (u, r, tape) = pop.tangent_forward(&x.to_device(device), 6, &d.to_device(device));
            let u_bar = c1.to_device(device) * u * 2.0;
            let r_bar = c2.to_device(device) * r.square() * 3.0;
            pop.tangent_backward(&tape, &u_bar, &r_bar)
        };
        assert!(TANH_TANGENT_BACKWARD
            .run(&[&Tensor::zeros([1], (Kind::Double, Device::Cuda(0))); 4])
            .is_some());
        for (i, (g, e)) in grads(&cuda, Device::Cuda(0)).iter().zip(grads(&cpu, Device::Cpu)).enumerate() {
            let scale = max_abs(&e).max(1e-12);
            let diff = max_abs(&(g.to_device(Device::Cpu) - &e)) / scale;
            assert!(diff < 1e-12, "param {i}: {diff}");
        }
    }
}
