//! A fused AdamW step (csrc/optim.cpp): PyTorch's `torch.optim.AdamW(fused=True)` kernel over
//! nanoGPT's two parameter groups, the learning rate and the step count in device tensors, so
//! that nothing synchronizes with the host and a captured CUDA graph replays correct steps.

use tch::Tensor;

use crate::ffi;
use crate::optim::{handles, refused, same_lengths, StepError};

/// AdamW's hyperparameters, as `torch.optim.AdamW` (decoupled weight decay).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWHyper {
    /// (β1, β2).
    pub betas: [f64; 2],
    /// ε, added after the square root.
    pub eps: f64,
    /// Decoupled weight decay of the parameters that decay: `p ← p·(1 − lr·weight_decay)`.
    pub weight_decay: f64,
}

/// One AdamW step in place with PyTorch's fused kernel: per parameter `p` with gradient `g`,
/// `p ← p·(1 − lr·wd)` (only where `decays[i]`), `m ← β1·m + (1−β1)·g`,
/// `v ← β2·v + (1−β2)·g²`, `p ← p − lr/(1−β1^t) · m / (√v/√(1−β2^t) + ε)`.
///
/// `step` is one 0-dim float32 tensor on the parameters' device counting the steps taken: it is
/// incremented once, before the update, and t is read from it on the device. `lr` is a 0-dim
/// tensor there too (changed between steps with `fill_`). Parameters must not require
/// gradients here (call it under `no_grad` or on detached tensors).
///
/// # Errors
/// Lists of different lengths; libtorch refusing the tensors (dtypes or devices that differ).
#[allow(clippy::too_many_arguments)] // the kernel's own argument list
pub fn fused_adamw_step(
    params: &[Tensor],
    grads: &[Tensor],
    exp_avgs: &[Tensor],
    exp_avg_sqs: &[Tensor],
    decays: &[bool],
    step: &Tensor,
    lr: &Tensor,
    hyper: AdamWHyper,
) -> Result<(), StepError> {
    let n = same_lengths(
        "fused AdamW step",
        params,
        &[("gradients", grads), ("first moments", exp_avgs), ("second moments", exp_avg_sqs)],
    )?;
    if decays.len() != params.len() {
        return Err(StepError(format!(
            "fused AdamW step: {} parameters, {} weight-decay flags",
            params.len(),
            decays.len()
        )));
    }
    // libtorch's CPU kernel reads each list by its parameter's size without checking the others'.
    for (i, p) in params.iter().enumerate() {
        let size = p.size();
        for (what, list) in [("gradient", grads), ("first moment", exp_avgs), ("second moment", exp_avg_sqs)]
        {
            if list[i].size() != size {
                return Err(StepError(format!(
                    "fused AdamW step: the {what} of parameter {i} is shaped {:?}, the parameter {size:?}",
                    list[i].size()
                )));
            }
        }
    }
    let flags: Vec<u8> = decays.iter().map(|&d| u8::from(d)).collect();
    let (p, g) = (handles(params), handles(grads));
    let (m, v) = (handles(exp_avgs), handles(exp_avg_sqs));
    let [beta1, beta2] = hyper.betas;
    // SAFETY: four arrays of `n` live handles and `n` flags borrowed for the call, `step` and
    // `lr` live; the C++ side copies the handles and catches every exception.
    let failed = unsafe {
        ffi::pz_fused_adamw_step(
            p.as_ptr(),
            g.as_ptr(),
            m.as_ptr(),
            v.as_ptr(),
            flags.as_ptr(),
            n,
            step.as_ptr(),
            lr.as_ptr(),
            beta1,
            beta2,
            hyper.weight_decay,
            hyper.eps,
        )
    };
    refused(failed, "fused AdamW step")
}

#[cfg(test)]
mod tests {
    use tch::{Device, Kind, Tensor};

    use super::*;

    fn max_diff(a: &[Tensor], b: &[Tensor]) -> f64 {
        a.iter().zip(b).map(|(x, y)| f64::try_from((x - y).abs().max()).unwrap()).fold(0.0, f64::max)
    }

    /// `torch.optim.AdamW`'s update written out (torch/optim/adamw.py, single-tensor path).
    #[allow(clippy::too_many_arguments)]
    fn reference_step(
        p: &mut Tensor,
        g: &Tensor,
        m: &mut Tensor,
        v: &mut Tensor,
        t: i32,
        lr: f64,
        decays: bool,
        h: AdamWHyper,
    ) {
        let [b1, b2] = h.betas;
        if decays {
            *p = &*p * (1.0 - lr * h.weight_decay);
        }
        *m = &*m * b1 + g * (1.0 - b1);
        *v = &*v * b2 + g.square() * (1.0 - b2);
        let denom = (&*v / (1.0 - b2.powi(t))).sqrt() + h.eps;
        *p = &*p - (&*m / (1.0 - b1.powi(t))) / denom * lr;
    }

    /// Three steps with a changing rate, one decaying and one non-decaying parameter, against
    /// the update written out; the step count advances once a call.
    #[test]
    fn fused_adamw_matches_torch_adamw_with_decay_on_the_decaying_group_only() {
        let opts = (Kind::Double, Device::Cpu);
        tch::manual_seed(7);
        let p0 = [Tensor::randn([4, 3], opts), Tensor::randn([3], opts)];
        let decays = [true, false];
        let params: Vec<Tensor> = p0.iter().map(Tensor::copy).collect();
        let (m, v): (Vec<Tensor>, Vec<Tensor>) = p0.iter().map(|p| (p.zeros_like(), p.zeros_like())).unzip();
        let h = AdamWHyper { betas: [0.9, 0.95], eps: 1e-8, weight_decay: 0.1 };
        let step = Tensor::zeros([], (Kind::Float, Device::Cpu));
        let lr = Tensor::zeros([], opts);
        let mut want: Vec<Tensor> = p0.iter().map(Tensor::copy).collect();
        let (mut wm, mut wv): (Vec<Tensor>, Vec<Tensor>) =
            p0.iter().map(|p| (p.zeros_like(), p.zeros_like())).unzip();
        for (t, l) in [(1, 1e-2), (2, 3e-2), (3, 5e-3)] {
            let grads = [Tensor::randn([4, 3], opts), Tensor::randn([3], opts)];
            let _ = lr.shallow_clone().fill_(l);
            fused_adamw_step(&params, &grads, &m, &v, &decays, &step, &lr, h).expect("fused AdamW step");
            for i in 0..2 {
                reference_step(&mut want[i], &grads[i], &mut wm[i], &mut wv[i], t, l, decays[i], h);
            }
        }
        assert!(max_diff(&params, &want) < 1e-12, "parameters {}", max_diff(&params, &want));
        assert!(max_diff(&m, &wm) < 1e-14 && max_diff(&v, &wv) < 1e-14, "moments");
        assert_eq!(f64::try_from(&step).unwrap(), 3.0);
        assert!(max_diff(&params, &p0) > 1e-3, "the steps moved the parameters");
    }

    #[test]
    fn mismatched_lists_and_flags_are_refused_with_their_lengths() {
        let t = || Tensor::zeros([2], (Kind::Float, Device::Cpu));
        let (step, lr) =
            (Tensor::zeros([], (Kind::Float, Device::Cpu)), Tensor::zeros([], (Kind::Float, Device::Cpu)));
        let h = AdamWHyper { betas: [0.9, 0.95], eps: 1e-8, weight_decay: 0.1 };
        let err = fused_adamw_step(&[t()], &[t()], &[t(), t()], &[t()], &[true], &step, &lr, h).unwrap_err();
        assert_eq!(err.0, "fused AdamW step: 1 parameters, 1 gradients, 2 first moments, 1 second moments");
        let err = fused_adamw_step(&[t()], &[t()], &[t()], &[t()], &[], &step, &lr, h).unwrap_err();
        assert_eq!(err.0, "fused AdamW step: 1 parameters, 0 weight-decay flags");
        let misshapen = Tensor::zeros([3], (Kind::Float, Device::Cpu));
        let err = fused_adamw_step(&[t()], &[misshapen], &[t()], &[t()], &[true], &step, &lr, h).unwrap_err();
        assert_eq!(err.0, "fused AdamW step: the gradient of parameter 0 is shaped [3], the parameter [2]");
        let doubles = Tensor::zeros([2], (Kind::Double, Device::Cpu));
        assert!(
            fused_adamw_step(&[t()], &[doubles], &[t()], &[t()], &[true], &step, &lr, h).is_err(),
            "dtypes"
        );
    }

    /// On a GPU: the fused step on CUDA float32 equals the same step on the CPU.
    #[test]
    fn the_cuda_kernel_equals_the_cpu_kernel() {
        assert!(std::env::var_os("PZ_TEST_CUDA").is_none() || tch::Cuda::is_available(), "no GPU");
        if !tch::Cuda::is_available() {
            return;
        }
        tch::manual_seed(8);
        let cpu = (Kind::Float, Device::Cpu);
        let p0 = [Tensor::randn([64, 32], cpu), Tensor::randn([32], cpu)];
        let grads = [Tensor::randn([64, 32], cpu), Tensor::randn([32], cpu)];
        let h = AdamWHyper { betas: [0.9, 0.95], eps: 1e-8, weight_decay: 0.1 };
        let run = |device: Device| {
            // A copy: `to_device` to the device a tensor is on returns that tensor, and the steps
            // update in place, so the CPU run would move p0 and the CUDA run start from there
            // (the first GPU run of this test failed by 4e-3, three steps' worth).
            let params: Vec<Tensor> = p0.iter().map(|p| p.to_device(device).copy()).collect();
            let g: Vec<Tensor> = grads.iter().map(|p| p.to_device(device)).collect();
            let (m, v): (Vec<Tensor>, Vec<Tensor>) =
                params.iter().map(|p| (p.zeros_like(), p.zeros_like())).unzip();
            let step = Tensor::zeros([], (Kind::Float, device));
            let lr = Tensor::full([], 1e-3, (Kind::Float, device));
            for _ in 0..3 {
                fused_adamw_step(&params, &g, &m, &v, &[true, false], &step, &lr, h).expect("step");
            }
            params.iter().map(|p| p.to_device(Device::Cpu)).collect::<Vec<_>>()
        };
        let diff = max_diff(&run(Device::Cpu), &run(Device::Cuda(0)));
        assert!(diff < 1e-6, "CUDA {diff} away from CPU");
    }
}
