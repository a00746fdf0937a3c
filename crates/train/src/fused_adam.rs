//! [`BatchedAdam::update`] on CUDA as one hand-written kernel launch per parameter tensor
//! (kernels/batched_adam.cu, compiled at run time).
//!
//! Why: libtorch's tensor operations take ~11 element-wise kernels per tensor for the update,
//! each a pass over whole tensors; at the PINN zoo's size (700 members, ~5.5M parameters) that is
//! ~0.5 ms of a 5.8 ms step on an H200. The kernel reads p, g, m, v once and writes p, m, v once,
//! with the same operations in the same order and precision (checked against the tensor update
//! on a GPU).
//!
//! Where it applies: CUDA, float32 or float64, parameters `[K, …]` of three dimensions (the
//! `[K, 1, 1]` learning rates broadcast over them), every parameter, gradient and moment of one
//! slot alike in shape, dtype and device, parameters and moments contiguous (they are written in
//! place; a strided gradient is copied first), at most `i32::MAX` elements. Elsewhere, or once the
//! kernel failed to compile or launch on this machine, [`BatchedAdam`] keeps the tensor update.

#![allow(unsafe_code)] // one kernel launch per tensor; it says why its arguments match the kernel

use std::sync::atomic::{AtomicBool, Ordering};

use pz_device::{KernelArg, KernelSource, Kernels};
use tch::{Device, Kind, Tensor};

use crate::BatchedAdam;

const SOURCE: KernelSource =
    KernelSource { file: "batched_adam.cu", code: include_str!("kernels/batched_adam.cu") };
const NAMES: [&str; 1] = ["pz_batched_adam"];
const KERNEL: usize = 0;
/// Threads per block.
const BLOCK: u32 = 256;
/// Most blocks of a launch; the kernel's grid-stride loop covers larger tensors. 4096 blocks of
/// 256 threads are several waves on any current GPU, enough to saturate memory bandwidth.
const MAX_BLOCKS: u32 = 4096;
/// Set after the kernel failed to compile or launch: the tensor update is used from then on.
static OFF: AtomicBool = AtomicBool::new(false);

/// Whether [`update`] would launch the kernel for every tensor of this step (see the module docs).
pub(crate) fn applies(adam: &BatchedAdam, params: &[Tensor], grads: &[Tensor]) -> bool {
    if !adam.fused || OFF.load(Ordering::Relaxed) {
        return false;
    }
    let lr = &adam.lr;
    let (kind, device) = (lr.kind(), lr.device());
    let members = lr.numel();
    let scalars_alike = [&adam.neg_inv_bias1, &adam.bias2_sqrt]
        .iter()
        .all(|s| s.kind() == kind && s.device() == device && s.numel() == 1);
    let slots = params.len();
    if !matches!(kind, Kind::Float | Kind::Double)
        || !device.is_cuda()
        || !lr.is_contiguous()
        || !scalars_alike
        || [grads.len(), adam.exp_avg.len(), adam.exp_avg_sq.len()] != [slots; 3]
    {
        return false;
    }
    let mut tensors = params.iter().zip(grads).zip(&adam.exp_avg).zip(&adam.exp_avg_sq);
    tensors.all(|(((p, g), m), v)| {
        let size = p.size();
        let alike = [g, m, v].iter().all(|t| t.kind() == kind && t.device() == device && t.size() == size);
        let written_in_place = [p, m, v].iter().all(|t| t.is_contiguous());
        let leading = size.first().and_then(|&k| usize::try_from(k).ok());
        alike
            && written_in_place
            && p.kind() == kind
            && p.device() == device
            && size.len() == 3
            && leading == Some(members)
            && i32::try_from(p.numel()).is_ok()
    })
}

/// Applies the step that `adam.advance()` counted to the leading tensors of `params` by the
/// kernel, one launch each on the current stream; returns how many it updated: all of them,
/// none where the kernel does not apply, or those before a launch that failed (logged once). The
/// caller updates the rest.
pub(crate) fn update(adam: &BatchedAdam, params: &[Tensor], grads: &[Tensor]) -> usize {
    if !applies(adam, params, grads) {
        return 0;
    }
    let Device::Cuda(device) = adam.lr.device() else { unreachable!("applies checks CUDA") };
    let kernels = match SOURCE.compile(&options(adam.lr.kind()), &NAMES, device) {
        Ok(k) => k,
        Err(e) => return give_up(&e, 0),
    };
    tch::no_grad(|| {
        let tensors = params.iter().zip(grads).zip(&adam.exp_avg).zip(&adam.exp_avg_sq);
        for (done, (((p, g), m), v)) in tensors.enumerate() {
            if let Err(e) = launch(&kernels, adam, [p, g, m, v]) {
                return give_up(&e, done);
            }
        }
        params.len()
    })
}

/// A job that compiles the kernel for `adam`'s dtype and device, to run on another thread
/// before the first update (as `MlpPopulation::fused_tangent_compile_job`); `None` where the
/// kernel cannot apply.
pub(crate) fn compile_job(adam: &BatchedAdam) -> Option<impl FnOnce() + Send + 'static> {
    let kind = adam.lr.kind();
    let Device::Cuda(device) = adam.lr.device() else { return None };
    if !adam.fused || OFF.load(Ordering::Relaxed) || !matches!(kind, Kind::Float | Kind::Double) {
        return None;
    }
    Some(move || {
        let _ = SOURCE.compile(&options(kind), &NAMES, device);
    })
}

/// NVRTC's options for parameters of `kind`.
fn options(kind: Kind) -> Vec<String> {
    let mut options = vec!["--fmad=false".to_string()];
    if kind == Kind::Double {
        options.push("-DPZ_DOUBLE".into());
    }
    options
}

/// One launch for one slot's parameter, gradient and moments, which [`applies`] checked.
fn launch(kernels: &Kernels, adam: &BatchedAdam, [p, g, m, v]: [&Tensor; 4]) -> Result<(), String> {
    let elements = p.numel();
    if elements == 0 {
        return Ok(());
    }
    let members = adam.lr.numel();
    let n = i32::try_from(elements).map_err(|e| e.to_string())?;
    let per_member = i32::try_from(elements / members).map_err(|e| e.to_string())?;
    // The kernel reads the gradient flat: a strided one (the forward-mode PINN's are narrowed
    // views) is copied first.
    let g = g.contiguous();
    let args = [
        KernelArg::Pointer(p.data_ptr()),
        KernelArg::Pointer(g.data_ptr()),
        KernelArg::Pointer(m.data_ptr()),
        KernelArg::Pointer(v.data_ptr()),
        KernelArg::Pointer(adam.lr.data_ptr()),
        KernelArg::Pointer(adam.neg_inv_bias1.data_ptr()),
        KernelArg::Pointer(adam.bias2_sqrt.data_ptr()),
        KernelArg::F64(adam.betas[0]),
        KernelArg::F64(adam.betas[1]),
        KernelArg::F64(adam.eps),
        KernelArg::F64(adam.weight_decay),
        KernelArg::I32(per_member),
        KernelArg::I32(n),
    ];
    let blocks = u32::try_from(elements.div_ceil(BLOCK as usize)).unwrap_or(MAX_BLOCKS).min(MAX_BLOCKS);
    // SAFETY: pz_batched_adam(real* p, const real* g, real* m, real* v, const real* lr,
    // const real* neg_inv_bias1, const real* bias2_sqrt, double beta1, double beta2, double eps,
    // double weight_decay, int per_member, int n): seven pointers, four doubles and two ints in
    // that order, compiled for the dtype of all of them (applies checked p, g, m, v, lr and both
    // scalars share it and the device the kernel was compiled for). p, g, m, v are contiguous
    // with n elements each, the kernel's indices i < n; lr is contiguous with K = n / per_member
    // values (p is [K, …]), the kernel's i / per_member < K; the two scalars hold one value each.
    // All outlive the queued kernel: p, m, v, lr and the scalars belong to `adam` or the caller;
    // the gradient's copy is freed after the launch is queued on this stream, and libtorch's
    // caching allocator hands its memory only to work queued after it on the same stream.
    unsafe { kernels.launch(KERNEL, [blocks, 1, 1], [BLOCK, 1, 1], &args) }
}

/// Turns the kernel off for the process and says why, once; returns `done`.
fn give_up(why: &str, done: usize) -> usize {
    if !OFF.swap(true, Ordering::Relaxed) {
        tracing::warn!("fused Adam kernel is off, using tensor operations: {why}");
    }
    done
}

#[cfg(test)]
mod tests {
    use tch::Device;

    use super::*;

    fn population(kind: Kind, device: Device) -> (Vec<Tensor>, BatchedAdam) {
        let params: Vec<Tensor> =
            [[3, 2, 5], [3, 1, 5]].iter().map(|s| Tensor::randn(*s, (kind, device))).collect();
        let adam = BatchedAdam::new(&params, &[1e-3, 1e-2, 0.1], [0.9, 0.999], 1e-8, 0.01);
        (params, adam)
    }

    #[test]
    fn cpu_tensors_keep_the_tensor_adam() {
        let (params, mut adam) = population(Kind::Double, Device::Cpu);
        let grads: Vec<Tensor> = params.iter().map(Tensor::randn_like).collect();
        let before: Vec<Tensor> = params.iter().map(Tensor::copy).collect();
        adam.advance();
        assert!(!applies(&adam, &params, &grads));
        assert_eq!(update(&adam, &params, &grads), 0);
        assert!(params.iter().zip(&before).all(|(p, b)| p.equal(b)), "the kernel path touched nothing");
        adam.update(&params, &grads);
        assert!(!params.iter().zip(&before).all(|(p, b)| p.equal(b)), "the tensor path updated");
    }

    /// On a GPU (PZ_TEST_CUDA=1): three steps of the kernel equal three of the tensor update, in
    /// both dtypes, with odd sizes, weight decay, one learning rate per member and a strided
    /// gradient (as the forward-mode PINN's are).
    #[test]
    fn cuda_fused_adam_equals_the_tensor_update() {
        assert!(std::env::var_os("PZ_TEST_CUDA").is_none() || tch::Cuda::is_available(), "no GPU");
        if !(tch::Cuda::is_available() && pz_device::cuda_graphs_available()) {
            return;
        }
        tch::manual_seed(7);
        for (kind, tolerance) in [(Kind::Double, 1e-12), (Kind::Float, 1e-5)] {
            let (fused_params, fused) = population(kind, Device::Cuda(0));
            let mut fused = fused.with_fused_kernels(true);
            let tensor_params: Vec<Tensor> = fused_params.iter().map(Tensor::copy).collect();
            let mut tensor = BatchedAdam::new(&tensor_params, &[1e-3, 1e-2, 0.1], [0.9, 0.999], 1e-8, 0.01)
                .with_fused_kernels(false);
            for _ in 0..3 {
                let grads = vec![
                    Tensor::randn([3, 3, 5], (kind, Device::Cuda(0))).narrow(1, 0, 2),
                    Tensor::randn([3, 1, 5], (kind, Device::Cuda(0))),
                ];
                assert!(!grads[0].is_contiguous());
                assert!(applies(&fused, &fused_params, &grads), "the kernel applies");
                assert!(!applies(&tensor, &tensor_params, &grads), "switched off");
                fused.step(&fused_params, &grads);
                tensor.step(&tensor_params, &grads);
                // A failed compile or launch would have turned the kernel off.
                assert!(applies(&fused, &fused_params, &grads), "the kernel ran");
            }
            let pairs = fused_params
                .iter()
                .zip(&tensor_params)
                .chain(fused.exp_avg.iter().zip(&tensor.exp_avg))
                .chain(fused.exp_avg_sq.iter().zip(&tensor.exp_avg_sq));
            for (a, b) in pairs {
                let scale = f64::try_from(b.abs().max()).unwrap();
                let diff = f64::try_from((a - b).abs().max()).unwrap();
                assert!(diff <= tolerance * scale, "{kind:?}: {diff} > {tolerance} × {scale}");
            }
        }
    }
}
