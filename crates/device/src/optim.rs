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
    let n = params.len();
    if grads.len() != n || buffers.len() != n {
        return Err(StepError(format!(
            "SGD step: {n} parameters, {} gradients, {} buffers",
            grads.len(),
            buffers.len()
        )));
    }
    let handles = |list: &[Tensor]| list.iter().map(Tensor::as_ptr).collect::<Vec<_>>();
    let (p, g, b) = (handles(params), handles(grads), handles(buffers));
    let n = i64::try_from(n).map_err(|_| StepError("too many parameters".into()))?;
    // SAFETY: the three arrays hold `n` live tensor handles each (borrowed from the slices for
    // the duration of the call), `momentum` and `lr` are live; the C++ side copies the handles
    // into its own list and catches every exception.
    let failed = unsafe {
        ffi::pz_sgd_step(p.as_ptr(), g.as_ptr(), b.as_ptr(), n, weight_decay, momentum.as_ptr(), lr.as_ptr())
    };
    if failed != 0 {
        return Err(StepError("SGD step: libtorch refused the tensors (each gradient and buffer shaped as its parameter, all on one device)".into()));
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
