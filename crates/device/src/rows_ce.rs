//! Cross-entropy of bf16 logit rows as one kernel forward and one backward
//! (kernels/rows_cross_entropy.cu), inside a libtorch autograd Function (csrc/rows_ce.cpp).
//!
//! Why: under bf16 autocast PyTorch's `cross_entropy` copies a GPT-2 batch's logits (8,192 ×
//! 50,304) to float32, writes the float32 log-softmax, and in the backward fills a float32 zero
//! gradient, scatters into it, runs the softmax backward and casts the result to bf16: ~4.4 ms of
//! a 124M step on an H100, against 1.4 ms for the kernel `torch.compile` fuses (BENCHMARKS.md,
//! issue 22 profile). These two kernels read the bf16 logits once each way and write the bf16
//! gradient once. They also skip the tied head's padding columns, so the caller need not narrow
//! the padded logits (a copy, and another in the backward).
//!
//! First derivatives only: the backward refuses to build a graph (second derivatives go through
//! float32, where callers do not use this).

use tch::{Device, Kind, Tensor};

use crate::{KernelSource, Kernels};

const SOURCE: KernelSource =
    KernelSource { file: "rows_cross_entropy.cu", code: include_str!("../kernels/rows_cross_entropy.cu") };
const NAMES: [&str; 2] = ["pz_rows_ce_forward", "pz_rows_ce_backward"];

/// Per-row cross-entropy `logsumexp(logits[r, ..cols]) − logits[r, targets[r]]` (float32, `[N]`,
/// differentiable with respect to `logits`), 0 where `targets[r] == ignore_index`, NaN for a
/// target outside `0..cols`. `logits`: `[N, S]` bf16 on a CUDA device, contiguous, `S` even and
/// at least `cols` (columns from `cols` on are padding: no part in the softmax, zero gradient);
/// `targets`: `[N]` int64 on the same device. Captured in CUDA graphs like any kernel, once
/// compiled (the first call compiles; make it outside a capture).
///
/// # Errors
/// Inputs outside that contract (the message says which), no CUDA shim or NVRTC on this
/// machine, a kernel that does not compile or launch.
pub fn rows_cross_entropy(
    logits: &Tensor,
    targets: &Tensor,
    cols: i64,
    ignore_index: i64,
) -> Result<Tensor, String> {
    let Device::Cuda(device) = logits.device() else {
        return Err(format!("the fused cross-entropy runs on CUDA; the logits are on {:?}", logits.device()));
    };
    let size = logits.size();
    // The kernels read and write bf16 pairs as 32-bit words: rows must start 4-byte aligned.
    let aligned = (logits.data_ptr() as usize).is_multiple_of(4);
    if logits.kind() != Kind::BFloat16
        || size.len() != 2
        || !logits.is_contiguous()
        || size[1] % 2 != 0
        || !aligned
    {
        return Err(format!(
            "the fused cross-entropy takes contiguous, 4-byte aligned bf16 logits [N, S] with S even; got {:?} {size:?}",
            logits.kind()
        ));
    }
    if !(1..=size[1]).contains(&cols) || i32::try_from(size[1]).is_err() {
        return Err(format!("{cols} valid columns of {} do not fit the kernel", size[1]));
    }
    if targets.size() != [size[0]] || targets.kind() != Kind::Int64 || targets.device() != logits.device() {
        return Err(format!(
            "the fused cross-entropy takes int64 targets [{}] on the logits' device; got {:?} {:?}",
            size[0],
            targets.kind(),
            targets.size()
        ));
    }
    let kernels = SOURCE.compile(&[], &NAMES, device)?;
    launch(logits, &targets.contiguous(), cols, ignore_index, &kernels)
}

#[cfg(pz_cuda_shim)]
fn launch(
    logits: &Tensor,
    targets: &Tensor,
    cols: i64,
    ignore_index: i64,
    kernels: &Kernels,
) -> Result<Tensor, String> {
    let ((forward, device), (backward, _)) = match (kernels.handle(0), kernels.handle(1)) {
        (Some(f), Some(b)) => (f, b),
        _ => return Err("the cross-entropy kernels are missing from their module".into()),
    };
    let mut error = [0u8; 512];
    // SAFETY: `logits` and `targets` are live handles whose shapes, dtypes and device were checked
    // against the kernels' layout above; the handles came from compiling SOURCE's two kernels for
    // this device; the shim catches every exception and returns a new owned handle or null.
    let out = unsafe {
        crate::ffi::pz_rows_cross_entropy(
            logits.as_ptr(),
            targets.as_ptr(),
            cols,
            ignore_index,
            forward as *mut std::ffi::c_void,
            backward as *mut std::ffi::c_void,
            device,
            error.as_mut_ptr().cast(),
            error.len(),
        )
    };
    if out.is_null() {
        return Err(crate::shim_message(&error));
    }
    // SAFETY: a non-null handle the shim allocated for us, taken once.
    Ok(unsafe { Tensor::from_ptr(out) })
}

#[cfg(not(pz_cuda_shim))]
fn launch(_: &Tensor, _: &Tensor, _: i64, _: i64, _: &Kernels) -> Result<Tensor, String> {
    Err("this build has no CUDA shim".into())
}

#[cfg(test)]
mod tests {
    use tch::{Device, Kind, Tensor};

    use super::rows_cross_entropy;

    #[test]
    fn the_fused_cross_entropy_refuses_what_its_kernels_do_not_take() {
        let cpu = Tensor::zeros([4, 8], (Kind::BFloat16, Device::Cpu));
        let targets = Tensor::zeros([4], (Kind::Int64, Device::Cpu));
        let err = rows_cross_entropy(&cpu, &targets, 8, -100).unwrap_err();
        assert!(err.contains("runs on CUDA"), "{err}");
    }

    /// PZ_TEST_CUDA=1 on a GPU machine: loss and gradient equal PyTorch's autocast path
    /// (cross-entropy of the bf16 logits upcast to float32, gradient cast back to bf16) on
    /// padded rows with ignored targets.
    #[test]
    fn the_fused_cross_entropy_equals_pytorchs_on_padded_bf16_rows() {
        if std::env::var_os("PZ_TEST_CUDA").is_none() || !tch::Cuda::is_available() {
            return;
        }
        tch::manual_seed(3);
        let dev = Device::Cuda(0);
        let (n, cols, stride) = (67_i64, 1_001_i64, 1_024_i64);
        let padded = (Tensor::randn([n, stride], (Kind::Float, dev)) * 4.0).to_kind(Kind::BFloat16);
        let targets = Tensor::randint(cols, [n], (Kind::Int64, dev));
        let _ = targets.narrow(0, 5, 3).fill_(-100);
        let weights = Tensor::rand([n], (Kind::Float, dev));

        let ours_in = padded.detach().set_requires_grad(true);
        let ours = rows_cross_entropy(&ours_in, &targets, cols, -100).expect("the kernels run");
        (&ours * &weights).sum(Kind::Float).backward();

        let theirs_in = padded.detach().set_requires_grad(true);
        let theirs = theirs_in.narrow(1, 0, cols).to_kind(Kind::Float).cross_entropy_loss::<Tensor>(
            &targets,
            None,
            tch::Reduction::None,
            -100,
            0.0,
        );
        (&theirs * &weights).sum(Kind::Float).backward();

        let loss_err = (&ours - &theirs).abs().max().double_value(&[]);
        assert!(loss_err < 1e-4, "losses differ by {loss_err}");
        let (g, h) = (ours_in.grad().to_kind(Kind::Float), theirs_in.grad().to_kind(Kind::Float));
        let grad_err = (&g - &h).abs().max().double_value(&[]);
        let scale = h.abs().max().double_value(&[]);
        // Both round the same float32 gradient to bf16; the softmax's float32 sums may differ
        // in their last bits, which can flip a rounding: one bf16 step (2^-8 relative).
        assert!(grad_err <= scale * 2f64.powi(-7), "gradients differ by {grad_err} (largest {scale})");
        let pad = g.narrow(1, cols, stride - cols).abs().max().double_value(&[]);
        assert!(pad == 0.0, "padding columns got gradient {pad}");
        let ignored = g.narrow(0, 5, 3).abs().max().double_value(&[]);
        assert!(ignored == 0.0, "ignored rows got gradient {ignored}");
    }
}
