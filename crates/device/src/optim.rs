//! Optimizer steps whose learning rate and momentum live in device tensors (csrc/optim.cpp), so
//! that a captured CUDA graph replays them with each step's values.

use tch::Tensor;

use crate::ffi;

/// Why an optimizer step was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepError(pub String);

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StepError {}

/// One SGD step in place, as `torch.optim.SGD` (dampening 0, no Nesterov) with multi-tensor
/// kernels: `d = g + weight_decay·p; buf = momentum·buf + d; p −= lr·buf` for every parameter.
///
/// `momentum` and `lr` are 0-dim tensors on the parameters' device (changed between steps with
/// `fill_`); `buffers` start as zeros shaped like the parameters, which makes the first step
/// `buf = d`, as PyTorch's. Nothing synchronizes with the host, so the step can be captured in a
/// CUDA graph. Parameters must not require gradients here (call it under `no_grad` or on
/// detached tensors).
///
/// # Errors
/// Lists of different lengths; libtorch refusing the tensors (shapes or devices that differ).
pub fn sgd_step(
    params: &[Tensor],
    grads: &[Tensor],
    buffers: &[Tensor],
    weight_decay: f64,
    momentum: &Tensor,
    lr: &Tensor,
) -> Result<(), StepError> {
    let n = same_lengths("SGD step", params, &[("gradients", grads), ("buffers", buffers)])?;
    let (p, g, b) = (handles(params), handles(grads), handles(buffers));
    // SAFETY: the three arrays hold `n` live tensor handles each (borrowed from the slices for
    // the duration of the call), `momentum` and `lr` are live; the C++ side copies the handles
    // into its own list and catches every exception.
    let failed = unsafe {
        ffi::pz_sgd_step(p.as_ptr(), g.as_ptr(), b.as_ptr(), n, weight_decay, momentum.as_ptr(), lr.as_ptr())
    };
    refused(failed, "SGD step")
}

/// One SGD step in place with PyTorch's fused kernel (`torch.optim.SGD(fused=True)`): the same
/// update as [`sgd_step`], one kernel per list instead of four multi-tensor passes, but with the
/// momentum as a plain number. A captured CUDA graph freezes that number, so this suits
/// schedules whose momentum stays fixed; OneCycle, which cycles momentum, needs [`sgd_step`].
/// `lr` is a 0-dim tensor on the parameters' device; buffers start as zeros.
///
/// # Errors
/// Lists of different lengths; libtorch refusing the tensors.
pub fn fused_sgd_step(
    params: &[Tensor],
    grads: &[Tensor],
    buffers: &[Tensor],
    weight_decay: f64,
    momentum: f64,
    lr: &Tensor,
) -> Result<(), StepError> {
    let n = same_lengths("fused SGD step", params, &[("gradients", grads), ("buffers", buffers)])?;
    let (p, g, b) = (handles(params), handles(grads), handles(buffers));
    // SAFETY: as in `sgd_step`: `n` live handles per array, `lr` live, exceptions caught in C++.
    let failed = unsafe {
        ffi::pz_fused_sgd_step(p.as_ptr(), g.as_ptr(), b.as_ptr(), n, weight_decay, momentum, lr.as_ptr())
    };
    refused(failed, "fused SGD step")
}

/// Adam's hyperparameters, as `torch.optim.Adam` (L2 weight decay added to the gradient).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamHyper {
    /// (β1, β2).
    pub betas: [f64; 2],
    /// ε, added after the square root.
    pub eps: f64,
    /// L2 weight decay.
    pub weight_decay: f64,
}

/// The state fused Adam keeps per parameter: moments and a step count on the device.
#[derive(Debug)]
pub struct AdamState {
    /// First moments, shaped like the parameters.
    pub exp_avgs: Vec<Tensor>,
    /// Second moments, shaped like the parameters.
    pub exp_avg_sqs: Vec<Tensor>,
    /// Steps taken, one 0-dim float tensor per parameter (the kernel reads them).
    pub steps: Vec<Tensor>,
}

impl AdamState {
    /// Zero moments and zero steps for `params`, on their devices.
    #[must_use]
    pub fn zeros(params: &[Tensor]) -> Self {
        let like = |p: &Tensor| p.detach().zeros_like();
        Self {
            exp_avgs: params.iter().map(like).collect(),
            exp_avg_sqs: params.iter().map(like).collect(),
            steps: params.iter().map(|p| Tensor::zeros([], (tch::Kind::Float, p.device()))).collect(),
        }
    }
}

/// One Adam step in place with PyTorch's fused kernel (`torch.optim.Adam(fused=True)`), the
/// learning rate in a 0-dim device tensor: the step counts advance on the device and the kernel
/// derives its bias corrections from them, so a captured CUDA graph replays each step correctly
/// and nothing synchronizes with the host. One learning rate for all tensors: a population
/// with one rate per member (the PINN zoo) cannot use it.
///
/// # Errors
/// Lists of different lengths; libtorch refusing the tensors (dtypes or devices that differ).
pub fn fused_adam_step(
    params: &[Tensor],
    grads: &[Tensor],
    state: &AdamState,
    lr: &Tensor,
    hyper: AdamHyper,
) -> Result<(), StepError> {
    let n = same_lengths(
        "fused Adam step",
        params,
        &[
            ("gradients", grads),
            ("first moments", &state.exp_avgs),
            ("second moments", &state.exp_avg_sqs),
            ("step counts", &state.steps),
        ],
    )?;
    let (p, g) = (handles(params), handles(grads));
    let (m, v, t) = (handles(&state.exp_avgs), handles(&state.exp_avg_sqs), handles(&state.steps));
    let [beta1, beta2] = hyper.betas;
    // SAFETY: five arrays of `n` live handles borrowed for the call, `lr` live; the C++ side
    // copies the handles and catches every exception.
    let failed = unsafe {
        ffi::pz_fused_adam_step(
            p.as_ptr(),
            g.as_ptr(),
            m.as_ptr(),
            v.as_ptr(),
            t.as_ptr(),
            n,
            lr.as_ptr(),
            beta1,
            beta2,
            hyper.weight_decay,
            hyper.eps,
        )
    };
    refused(failed, "fused Adam step")
}

pub(crate) fn handles(list: &[Tensor]) -> Vec<*const torch_sys::C_tensor> {
    list.iter().map(Tensor::as_ptr).collect()
}

/// The parameters' count as the C++ side takes it, once every other list has as many entries.
pub(crate) fn same_lengths(
    what: &str,
    params: &[Tensor],
    others: &[(&str, &[Tensor])],
) -> Result<i64, StepError> {
    let n = params.len();
    if others.iter().any(|(_, list)| list.len() != n) {
        let counts: Vec<String> =
            others.iter().map(|(name, list)| format!("{} {name}", list.len())).collect();
        return Err(StepError(format!("{what}: {n} parameters, {}", counts.join(", "))));
    }
    i64::try_from(n).map_err(|_| StepError("too many parameters".into()))
}

pub(crate) fn refused(failed: i32, what: &str) -> Result<(), StepError> {
    if failed != 0 {
        return Err(StepError(format!(
            "{what}: libtorch refused the tensors (each gradient and state tensor shaped as its \
             parameter, all of one dtype on one device)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use tch::{Device, Kind, Tensor};

    use super::*;

    /// Two steps with changing learning rate and momentum against the formula written out.
    #[test]
    fn sgd_step_matches_the_formula_with_momentum_and_weight_decay() {
        let opts = (Kind::Double, Device::Cpu);
        tch::manual_seed(3);
        let p0 = [Tensor::randn([3, 4], opts), Tensor::randn([5], opts)];
        let grads = [
            [Tensor::randn([3, 4], opts), Tensor::randn([5], opts)],
            [Tensor::randn([3, 4], opts), Tensor::randn([5], opts)],
        ];
        let params: Vec<Tensor> = p0.iter().map(Tensor::copy).collect();
        let buffers: Vec<Tensor> = p0.iter().map(Tensor::zeros_like).collect();
        let (lr, momentum) = (Tensor::zeros([], opts), Tensor::zeros([], opts));
        let wd = 5e-4;
        let mut expect_p: Vec<Tensor> = p0.iter().map(Tensor::copy).collect();
        let mut expect_buf: Vec<Option<Tensor>> = vec![None, None];
        for (g, (l, m)) in grads.iter().zip([(0.1, 0.9), (0.05, 0.85)]) {
            let _ = lr.shallow_clone().fill_(l);
            let _ = momentum.shallow_clone().fill_(m);
            sgd_step(&params, g, &buffers, wd, &momentum, &lr).expect("step");
            for ((p, g), buf) in expect_p.iter_mut().zip(g).zip(&mut expect_buf) {
                let d = g + &*p * wd;
                let b = match buf.take() {
                    None => d,
                    Some(old) => old * m + d,
                };
                *p = &*p - &b * l;
                *buf = Some(b);
            }
        }
        for (got, want) in params.iter().zip(&expect_p).chain(buffers.iter().zip(expect_buf.iter().flatten()))
        {
            let diff = f64::try_from((got - want).abs().max()).unwrap();
            assert!(diff < 1e-12, "{diff}");
        }
    }

    fn max_diff(a: &[Tensor], b: &[Tensor]) -> f64 {
        a.iter().zip(b).map(|(x, y)| f64::try_from((x - y).abs().max()).unwrap()).fold(0.0, f64::max)
    }

    /// The fused kernel against the multi-tensor step over three steps with a changing rate.
    #[test]
    fn fused_sgd_step_equals_the_multi_tensor_step_at_fixed_momentum() {
        let opts = (Kind::Double, Device::Cpu);
        tch::manual_seed(4);
        let p0 = [Tensor::randn([4, 3], opts), Tensor::randn([6], opts)];
        let (fused, multi): (Vec<Tensor>, Vec<Tensor>) = p0.iter().map(|p| (p.copy(), p.copy())).unzip();
        let (fused_buf, multi_buf): (Vec<Tensor>, Vec<Tensor>) =
            p0.iter().map(|p| (p.zeros_like(), p.zeros_like())).unzip();
        let (lr, momentum) = (Tensor::zeros([], opts), Tensor::full([], 0.9, opts));
        for l in [0.1, 0.07, 0.02] {
            let grads = [Tensor::randn([4, 3], opts), Tensor::randn([6], opts)];
            let _ = lr.shallow_clone().fill_(l);
            fused_sgd_step(&fused, &grads, &fused_buf, 5e-4, 0.9, &lr).expect("fused step");
            sgd_step(&multi, &grads, &multi_buf, 5e-4, &momentum, &lr).expect("multi-tensor step");
        }
        assert!(max_diff(&fused, &multi) < 1e-14, "parameters {}", max_diff(&fused, &multi));
        assert!(max_diff(&fused_buf, &multi_buf) < 1e-14, "buffers {}", max_diff(&fused_buf, &multi_buf));
        assert!(max_diff(&fused, &p0) > 1e-3, "the steps moved the parameters");
    }

    /// Three fused Adam steps with a changing rate against torch.optim.Adam's update written out.
    #[test]
    fn fused_adam_step_matches_the_formula_with_bias_corrections() {
        let opts = (Kind::Double, Device::Cpu);
        tch::manual_seed(5);
        let p0 = [Tensor::randn([3, 5], opts), Tensor::randn([2], opts)];
        let params: Vec<Tensor> = p0.iter().map(Tensor::copy).collect();
        let state = AdamState::zeros(&params);
        let hyper = AdamHyper { betas: [0.9, 0.99], eps: 1e-8, weight_decay: 1e-2 };
        let lr = Tensor::zeros([], opts);
        let mut expect: Vec<Tensor> = p0.iter().map(Tensor::copy).collect();
        let mut m: Vec<Tensor> = p0.iter().map(Tensor::zeros_like).collect();
        let mut v: Vec<Tensor> = p0.iter().map(Tensor::zeros_like).collect();
        for (t, l) in [(1, 1e-2), (2, 5e-3), (3, 2e-2)] {
            let grads = [Tensor::randn([3, 5], opts), Tensor::randn([2], opts)];
            let _ = lr.shallow_clone().fill_(l);
            fused_adam_step(&params, &grads, &state, &lr, hyper).expect("fused Adam step");
            let (b1, b2) = (0.9f64, 0.99f64);
            for i in 0..2 {
                let g = &grads[i] + &expect[i] * 1e-2;
                m[i] = &m[i] * b1 + &g * (1.0 - b1);
                v[i] = &v[i] * b2 + g.square() * (1.0 - b2);
                let m_hat = &m[i] / (1.0 - b1.powi(t));
                let denom = (&v[i] / (1.0 - b2.powi(t))).sqrt() + 1e-8;
                expect[i] = &expect[i] - m_hat / denom * l;
            }
        }
        assert!(max_diff(&params, &expect) < 1e-12, "parameters {}", max_diff(&params, &expect));
        assert!(max_diff(&state.exp_avgs, &m) < 1e-14);
        assert!(max_diff(&state.exp_avg_sqs, &v) < 1e-14);
        let steps: Vec<f64> = state.steps.iter().map(|t| f64::try_from(t).unwrap()).collect();
        assert_eq!(steps, [3.0, 3.0]);
    }

    /// On a GPU: fused Adam and fused SGD steps captured in a CUDA graph and replayed with a
    /// changing learning rate equal the same steps run eagerly (Adam's step counts advance on the
    /// device, so the replayed bias corrections follow the steps).
    #[test]
    fn replayed_fused_steps_equal_eager_fused_steps_on_a_gpu() {
        assert!(std::env::var_os("PZ_TEST_CUDA").is_none() || tch::Cuda::is_available(), "no GPU");
        if !(crate::cuda_graphs_available() && tch::Cuda::is_available()) {
            return;
        }
        std::thread::spawn(|| {
            assert!(crate::use_own_cuda_stream(0));
            let opts = (Kind::Float, Device::Cuda(0));
            tch::manual_seed(6);
            let p0 = [Tensor::randn([64, 32], opts), Tensor::randn([32], opts)];
            let grads = [Tensor::randn([64, 32], opts), Tensor::randn([32], opts)];
            let hyper = AdamHyper { betas: [0.9, 0.999], eps: 1e-8, weight_decay: 1e-4 };
            let run = |graph: bool| {
                let params: Vec<Tensor> = p0.iter().map(Tensor::copy).collect();
                let buffers: Vec<Tensor> = p0.iter().map(Tensor::zeros_like).collect();
                let state = AdamState::zeros(&params);
                let lr = Tensor::full([], 1e-3, opts);
                let step = || {
                    fused_adam_step(&params, &grads, &state, &lr, hyper).expect("adam");
                    fused_sgd_step(&params, &grads, &buffers, 1e-4, 0.9, &lr).expect("sgd");
                };
                step(); // eager first step in both runs (the warm-up before a capture)
                let captured = graph.then(|| crate::CudaGraph::capture(0, step).expect("capture"));
                for value in [2e-3, 5e-4, 1e-3] {
                    let _ = lr.shallow_clone().fill_(value);
                    match &captured {
                        Some(g) => g.replay().expect("replay"),
                        None => step(),
                    }
                }
                (params, state.steps)
            };
            let ((eager, eager_steps), (replayed, replayed_steps)) = (run(false), run(true));
            let scale = eager.iter().map(|t| f64::try_from(t.abs().max()).unwrap()).fold(0.0, f64::max);
            let diff = max_diff(&eager, &replayed);
            assert!(diff <= 1e-6 * scale, "replayed {diff} away from eager (scale {scale})");
            assert_eq!(max_diff(&eager_steps, &replayed_steps), 0.0);
            assert_eq!(f64::try_from(&replayed_steps[0]).unwrap(), 4.0);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn fused_steps_refuse_mismatched_lists_with_their_lengths() {
        let t = || Tensor::zeros([2], (Kind::Float, Device::Cpu));
        let lr = Tensor::zeros([], (Kind::Float, Device::Cpu));
        let err = fused_sgd_step(&[t()], &[t(), t()], &[t()], 0.0, 0.9, &lr).unwrap_err();
        assert_eq!(err.0, "fused SGD step: 1 parameters, 2 gradients, 1 buffers");
        let state = AdamState::zeros(&[t(), t()]);
        let hyper = AdamHyper { betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0.0 };
        let err = fused_adam_step(&[t()], &[t()], &state, &lr, hyper).unwrap_err();
        assert_eq!(
            err.0,
            "fused Adam step: 1 parameters, 1 gradients, 2 first moments, 2 second moments, 2 step counts"
        );
    }

    #[test]
    fn mismatched_lists_are_refused_with_their_lengths() {
        let t = || Tensor::zeros([2], (Kind::Float, Device::Cpu));
        let err =
            sgd_step(&[t(), t()], &[t()], &[t(), t()], 0.0, &t().sum(Kind::Float), &t().sum(Kind::Float))
                .unwrap_err();
        assert_eq!(err.0, "SGD step: 2 parameters, 1 gradients, 2 buffers");
        let misshapen = Tensor::zeros([3], (Kind::Float, Device::Cpu));
        let refused =
            sgd_step(&[t()], &[misshapen], &[t()], 0.0, &t().sum(Kind::Float), &t().sum(Kind::Float));
        assert!(refused.is_err(), "a gradient shaped unlike its parameter");
    }
}
