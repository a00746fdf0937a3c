//! Element-wise CUDA kernels compiled at run time (csrc/jit.cpp: libtorch's jiterator, NVRTC).
//!
//! Why: a chain of element-wise tensor operations reads and writes every intermediate through
//! GPU memory, one kernel each; written as one function, the chain becomes one kernel that
//! reads its inputs once and writes its outputs once. That matters where the element-wise work
//! is memory-bound next to small matrix products (the PINN population's hand-written backward).

use std::ffi::CString;
use std::sync::atomic::{AtomicBool, Ordering};

use tch::Tensor;

/// An element-wise function of tensors, as `torch.cuda.jiterator._create_multi_output_jit_fn`
/// takes it: `code` defines `template <typename T> void <name>(T in0, …, T& out0, …)` with
/// `inputs` inputs and `outputs` outputs.
#[derive(Debug)]
pub struct ElementwiseKernel {
    /// The function's name in `code`.
    pub name: &'static str,
    /// The C++ source of the function template.
    pub code: &'static str,
    /// How many tensors it reads.
    pub inputs: usize,
    /// How many tensors it writes.
    pub outputs: usize,
}

/// Set after the first failure (no NVRTC on the machine, a kernel that does not compile):
/// callers then keep their unfused operations without trying again.
static UNAVAILABLE: AtomicBool = AtomicBool::new(false);

impl ElementwiseKernel {
    /// Runs the kernel over `inputs` (CUDA tensors of one dtype, broadcast together) and
    /// returns its outputs, new tensors shaped like the broadcast inputs. The first run of a
    /// kernel in a process compiles it: do that outside a CUDA graph capture.
    ///
    /// `None` — the caller computes the same with ordinary tensor operations — off CUDA, in a
    /// build without the CUDA shim, with a wrong number of inputs, or once a kernel has failed
    /// in this process (the failure is logged once, with libtorch's message).
    #[must_use]
    pub fn run(&self, inputs: &[&Tensor]) -> Option<Vec<Tensor>> {
        if inputs.len() != self.inputs || !inputs.iter().all(|t| t.device().is_cuda()) {
            return None;
        }
        if UNAVAILABLE.load(Ordering::Relaxed) {
            return None;
        }
        let result = self.launch(inputs);
        if let Err(message) = &result {
            if !UNAVAILABLE.swap(true, Ordering::Relaxed) {
                tracing::warn!(kernel = self.name, "fused element-wise kernels are off: {message}");
            }
        }
        result.ok()
    }

    #[cfg(pz_cuda_shim)]
    fn launch(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>, String> {
        let code = CString::new(self.code).map_err(|e| e.to_string())?;
        let name = CString::new(self.name).map_err(|e| e.to_string())?;
        let handles: Vec<*const torch_sys::C_tensor> = inputs.iter().map(|t| t.as_ptr()).collect();
        let mut outputs: Vec<*mut torch_sys::C_tensor> = vec![std::ptr::null_mut(); self.outputs];
        let mut error = [0u8; 512];
        let (n_in, n_out) = (
            i32::try_from(self.inputs).map_err(|e| e.to_string())?,
            i32::try_from(self.outputs).map_err(|e| e.to_string())?,
        );
        // SAFETY: `code` and `name` are NUL-terminated and live for the call; `handles` holds
        // `n_in` live tensor handles; `outputs` has room for `n_out` pointers, which the shim
        // fills with new owned handles on success only; `error` is a writable buffer of the
        // length passed. The shim catches every exception.
        let failed = unsafe {
            crate::ffi::pz_jit_elementwise(
                code.as_ptr(),
                name.as_ptr(),
                handles.as_ptr(),
                n_in,
                n_out,
                outputs.as_mut_ptr(),
                error.as_mut_ptr().cast(),
                error.len(),
            )
        };
        if failed != 0 {
            return Err(crate::shim_message(&error));
        }
        // SAFETY: on success every pointer is a new at::Tensor handle that nothing else owns.
        Ok(outputs.into_iter().map(|p| unsafe { Tensor::from_ptr(p) }).collect())
    }

    #[cfg(not(pz_cuda_shim))]
    #[allow(clippy::unused_self)]
    fn launch(&self, _inputs: &[&Tensor]) -> Result<Vec<Tensor>, String> {
        Err("this build has no CUDA shim".into())
    }
}

#[cfg(test)]
mod tests {
    use tch::{Device, Kind, Tensor};

    use super::*;

    const AXPY_AND_PRODUCT: ElementwiseKernel = ElementwiseKernel {
        name: "axpy_and_product",
        code: "template <typename T> void axpy_and_product(T x, T y, T& sum, T& product) \
               { sum = T(2) * x + y; product = x * y; }",
        inputs: 2,
        outputs: 2,
    };

    #[test]
    fn cpu_tensors_and_wrong_arity_are_left_to_the_caller() {
        let x = Tensor::ones([3], (Kind::Float, Device::Cpu));
        assert!(AXPY_AND_PRODUCT.run(&[&x, &x]).is_none());
        assert!(AXPY_AND_PRODUCT.run(&[&x]).is_none());
    }

    /// On a GPU (PZ_TEST_CUDA=1): two outputs of a broadcast kernel equal the unfused operations.
    #[test]
    fn cuda_fused_kernel_equals_the_unfused_operations() {
        assert!(std::env::var_os("PZ_TEST_CUDA").is_none() || tch::Cuda::is_available(), "no GPU");
        if !(tch::Cuda::is_available() && crate::cuda_graphs_available()) {
            return;
        }
        let opts = (Kind::Float, Device::Cuda(0));
        let x = Tensor::randn([4, 5, 6], opts);
        let y = Tensor::randn([4, 1, 6], opts); // broadcast over the middle axis
        let out = AXPY_AND_PRODUCT.run(&[&x, &y]).expect("the kernel runs on this GPU");
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].size(), [4, 5, 6]);
        let diff = |a: &Tensor, b: &Tensor| f64::try_from((a - b).abs().max()).unwrap();
        assert!(diff(&out[0], &(&x * 2.0 + &y)) < 1e-6);
        assert!(diff(&out[1], &(&x * &y)) < 1e-6);
    }
}
