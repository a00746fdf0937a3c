//! Gradient handling around an optimizer step (csrc/optim.cpp): clipping by the global norm
//! with multi-tensor kernels, and dropping gradients instead of zeroing them. Both as PyTorch's
//! defaults on CUDA (`clip_grad_norm_(foreach=True)`, `zero_grad(set_to_none=True)`): a few
//! launches for a model's whole parameter list instead of one or two per tensor.

use tch::Tensor;

use crate::ffi;
use crate::optim::{handles, refused, StepError};

/// Scale `grads` in place so that their global L2 norm is at most `max_norm`, as
/// `torch.nn.utils.clip_grad_norm_` with `foreach=True`: the norm of the per-tensor norms, then
/// every gradient times `min(1, max_norm / (norm + 1e-6))` (always applied, so the step runs the
/// same kernels whether or not it clips). Returns the norm before clipping, a 0-dim tensor on
/// the device; nothing synchronizes with the host.
///
/// # Errors
/// libtorch refusing the tensors (an empty list, or gradients on different devices).
pub fn clip_grad_norm(grads: &[Tensor], max_norm: f64) -> Result<Tensor, StepError> {
    let g = handles(grads);
    let n = i64::try_from(g.len()).map_err(|_| StepError("too many gradients".into()))?;
    // SAFETY: `n` live handles borrowed for the call; the C++ side catches every exception and
    // returns a new owned handle (or null), which `from_ptr` takes ownership of exactly once.
    let total = unsafe { ffi::pz_clip_grad_norm(g.as_ptr(), n, max_norm) };
    if total.is_null() {
        return Err(StepError(format!(
            "clipping {} gradients: libtorch refused them (none, or not all on one device)",
            grads.len()
        )));
    }
    // SAFETY: a non-null handle the shim allocated for us.
    Ok(unsafe { Tensor::from_ptr(total) })
}

/// Drop the gradients of `tensors` (`zero_grad(set_to_none=True)`): the next backward writes
/// fresh ones instead of adding to zeros. Tensors without a gradient are left as they are.
///
/// # Errors
/// libtorch refusing (it does not for leaf tensors).
pub fn clear_grads(tensors: &[Tensor]) -> Result<(), StepError> {
    let t = handles(tensors);
    let n = i64::try_from(t.len()).map_err(|_| StepError("too many tensors".into()))?;
    // SAFETY: `n` live handles borrowed for the call; the C++ side catches every exception.
    let failed = unsafe { ffi::pz_clear_grads(t.as_ptr(), n) };
    refused(failed, "clearing gradients")
}

/// `dst[i].copy_(src[i])` for every i by the multi-tensor kernel (`torch._foreach_copy_`),
/// converting dtypes as `Tensor::to_kind` does (float32 → bfloat16 rounds to nearest even): a
/// few launches for a whole parameter list where per-tensor casts take one each.
///
/// # Errors
/// Lists of different lengths, or libtorch refusing the tensors (shapes or devices that differ).
pub fn foreach_copy(dst: &[Tensor], src: &[Tensor]) -> Result<(), StepError> {
    if dst.len() != src.len() {
        return Err(StepError(format!("foreach copy: {} destinations, {} sources", dst.len(), src.len())));
    }
    let (d, s) = (handles(dst), handles(src));
    let n = i64::try_from(d.len()).map_err(|_| StepError("too many tensors".into()))?;
    // SAFETY: two arrays of `n` live handles borrowed for the call; the C++ side catches every
    // exception.
    let failed = unsafe { ffi::pz_foreach_copy(d.as_ptr(), s.as_ptr(), n) };
    refused(failed, "foreach copy")
}

#[cfg(test)]
mod tests {
    use tch::{Device, Kind, Tensor};

    use super::*;

    fn max_diff(a: &[Tensor], b: &[Tensor]) -> f64 {
        a.iter().zip(b).map(|(x, y)| f64::try_from((x - y).abs().max()).unwrap()).fold(0.0, f64::max)
    }

    /// Above the limit the gradients scale to it; below, they stay (times a factor of exactly 1).
    #[test]
    fn clipping_scales_to_the_global_norm_as_clip_grad_norm() {
        let opts = (Kind::Double, Device::Cpu);
        tch::manual_seed(9);
        let g0 = [Tensor::randn([5, 4], opts), Tensor::randn([7], opts)];
        let norm =
            g0.iter().map(|g| f64::try_from(g.square().sum(Kind::Double)).unwrap()).sum::<f64>().sqrt();
        for max_norm in [0.5 * norm, 2.0 * norm] {
            let grads: Vec<Tensor> = g0.iter().map(Tensor::copy).collect();
            let total = clip_grad_norm(&grads, max_norm).expect("clip");
            assert!((f64::try_from(&total).unwrap() - norm).abs() < 1e-12);
            let coef = (max_norm / (norm + 1e-6)).min(1.0);
            let want: Vec<Tensor> = g0.iter().map(|g| g * coef).collect();
            assert!(max_diff(&grads, &want) < 1e-14, "max_norm {max_norm}: {}", max_diff(&grads, &want));
        }
        assert!(clip_grad_norm(&[], 1.0).is_err(), "no gradients");
    }

    /// After clearing, a backward pass writes the new gradient, not the sum with the old one.
    #[test]
    fn cleared_gradients_start_afresh() {
        let x = Tensor::from_slice(&[1.0f64, 2.0]).set_requires_grad(true);
        (&x * 3.0).sum(Kind::Double).backward();
        assert!(x.grad().defined());
        clear_grads(&[x.shallow_clone()]).expect("clear");
        assert!(!x.grad().defined(), "the gradient is gone");
        (&x * 5.0).sum(Kind::Double).backward();
        assert_eq!(Vec::<f64>::try_from(x.grad()).unwrap(), [5.0, 5.0]);
        clear_grads(&[Tensor::zeros([2], (Kind::Float, Device::Cpu))]).expect("no gradient to clear");
    }

    /// Widening and narrowing a list equals `to_kind` per tensor exactly (bf16 rounds to
    /// nearest even both ways); on a GPU (the gputest step) the CUDA kernel too.
    #[test]
    fn a_foreach_copy_converts_every_tensor_as_to_kind() {
        assert!(std::env::var_os("PZ_TEST_CUDA").is_none() || tch::Cuda::is_available(), "no GPU");
        let devices: &[Device] =
            if tch::Cuda::is_available() { &[Device::Cpu, Device::Cuda(0)] } else { &[Device::Cpu] };
        for &device in devices {
            tch::manual_seed(3);
            let src: Vec<Tensor> = [vec![65, 33], vec![7], vec![3, 1, 5]]
                .iter()
                .map(|s| Tensor::randn(s.as_slice(), (Kind::Float, device)) * 1e3)
                .collect();
            let narrow: Vec<Tensor> = src.iter().map(|t| t.zeros_like().to_kind(Kind::BFloat16)).collect();
            foreach_copy(&narrow, &src).expect("narrow");
            let wide: Vec<Tensor> = src.iter().map(Tensor::zeros_like).collect();
            foreach_copy(&wide, &narrow).expect("widen");
            for ((s, n), w) in src.iter().zip(&narrow).zip(&wide) {
                assert!(n.equal(&s.to_kind(Kind::BFloat16)), "{device:?}: narrowing differs from to_kind");
                assert!(w.equal(&n.to_kind(Kind::Float)), "{device:?}: widening differs from to_kind");
            }
        }
        let one = [Tensor::zeros([2], (Kind::Float, Device::Cpu))];
        assert!(foreach_copy(&one, &[]).is_err(), "lengths");
        assert!(foreach_copy(&one, &[Tensor::zeros([3], (Kind::Float, Device::Cpu))]).is_err(), "shapes");
    }
}
