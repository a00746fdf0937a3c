//! CUDA C++ kernels compiled at run time (csrc/kernels.cpp: NVRTC, then a driver-API launch on
//! libtorch's current stream).
//!
//! Why: some work is bound by memory traffic between small tensor operations that no libtorch
//! operator fuses (the PINN population's forward-mode sweep, `pz_models::tangent`). A kernel
//! written for it keeps intermediates on chip. NVRTC compiles it on the machine that runs it, for
//! that GPU, so the build needs no CUDA compiler and the same binary serves every GPU.

use std::collections::HashMap;
use std::ffi::{c_void, CString};
use std::sync::{Arc, Mutex, OnceLock};

/// The CUDA C++ source of one or more `extern "C" __global__` kernels.
#[derive(Debug)]
pub struct KernelSource {
    /// A file name for compiler messages.
    pub file: &'static str,
    /// The source text.
    pub code: &'static str,
}

/// Handles of compiled kernels on one device, in the order they were asked for.
#[derive(Debug, Clone)]
pub struct Kernels {
    functions: Arc<Vec<usize>>,
    device: i32,
}

/// One kernel argument, as the kernel declares it.
#[derive(Debug)]
pub enum KernelArg {
    /// A device pointer (`T*`).
    Pointer(*mut c_void),
    /// An `int`.
    I32(i32),
    /// A struct of device pointers passed by value (`struct { T* a[n]; T* b[m]; }` is `n + m`
    /// pointers in a row).
    Pointers(Vec<*mut c_void>),
}

/// Compiled modules by (source address, options, kernel names, device); failures are kept too,
/// so that a source that does not compile is not compiled again at every step.
type Cache = HashMap<(usize, String, String, i32), Result<Arc<Vec<usize>>, String>>;

fn cache() -> &'static Mutex<Cache> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

impl KernelSource {
    /// The kernels `names` of this source compiled with `options` (e.g. `-DWIDTH=50`) for CUDA
    /// device `device`: compiled and loaded on the first call, from a cache afterwards. The
    /// first call must not run during a CUDA graph capture (warm up eagerly first).
    ///
    /// # Errors
    /// No CUDA shim in this build, no NVRTC or driver on the machine, a compile error (with
    /// NVRTC's log), or a missing kernel name. The error is cached: later calls return it.
    pub fn compile(&self, options: &[String], names: &[&str], device: usize) -> Result<Kernels, String> {
        let device = i32::try_from(device).map_err(|e| e.to_string())?;
        let key = (self.code.as_ptr() as usize, options.join(" "), names.join(" "), device);
        let mut cache = cache().lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry =
            cache.entry(key).or_insert_with(|| self.compile_now(options, names, device).map(Arc::new));
        entry.clone().map(|functions| Kernels { functions, device })
    }

    #[cfg(pz_cuda_shim)]
    fn compile_now(&self, options: &[String], names: &[&str], device: i32) -> Result<Vec<usize>, String> {
        let cstr = |s: &str| CString::new(s).map_err(|e| e.to_string());
        let (code, file) = (cstr(self.code)?, cstr(self.file)?);
        let options: Vec<CString> = options.iter().map(|o| cstr(o)).collect::<Result<_, _>>()?;
        let names_c: Vec<CString> = names.iter().map(|n| cstr(n)).collect::<Result<_, _>>()?;
        let option_ptrs: Vec<*const std::ffi::c_char> = options.iter().map(|o| o.as_ptr()).collect();
        let name_ptrs: Vec<*const std::ffi::c_char> = names_c.iter().map(|n| n.as_ptr()).collect();
        let mut functions: Vec<*mut c_void> = vec![std::ptr::null_mut(); names.len()];
        let mut error = vec![0u8; 16 * 1024];
        let (n_options, n_names) = (
            i32::try_from(option_ptrs.len()).map_err(|e| e.to_string())?,
            i32::try_from(name_ptrs.len()).map_err(|e| e.to_string())?,
        );
        // SAFETY: every string is NUL-terminated and outlives the call; the pointer arrays hold
        // the counts passed; `functions` has room for `n_names` handles; `error` is writable for
        // its length. The shim catches every exception.
        let failed = unsafe {
            crate::ffi::pz_kernel_compile(
                code.as_ptr(),
                file.as_ptr(),
                option_ptrs.as_ptr(),
                n_options,
                name_ptrs.as_ptr(),
                n_names,
                device,
                functions.as_mut_ptr(),
                error.as_mut_ptr().cast(),
                error.len(),
            )
        };
        if failed != 0 {
            return Err(crate::shim_message(&error));
        }
        Ok(functions.into_iter().map(|f| f as usize).collect())
    }

    #[cfg(not(pz_cuda_shim))]
    #[allow(clippy::unused_self)]
    fn compile_now(&self, _options: &[String], _names: &[&str], _device: i32) -> Result<Vec<usize>, String> {
        Err("this build has no CUDA shim".into())
    }
}

impl Kernels {
    /// Launches kernel `index` (its place in the names given to [`KernelSource::compile`]) on
    /// the device's current stream with `grid` × `block` threads.
    ///
    /// # Safety
    /// `args` must match the kernel's parameter list in number, order and types, and every
    /// pointer in them must be device memory of this device that stays allocated until the
    /// kernel has finished (stream order), large enough for every index the kernel computes
    /// from its other arguments. Nothing here can check that: a mismatch corrupts GPU memory.
    ///
    /// # Errors
    /// The driver refused the launch (e.g. more threads per block than the kernel allows).
    pub unsafe fn launch(
        &self,
        index: usize,
        grid: [u32; 3],
        block: [u32; 3],
        args: &[KernelArg],
    ) -> Result<(), String> {
        let function = *self.functions.get(index).ok_or("no such kernel")?;
        // Each argument's bytes, then a pointer to each (the driver's `void** kernelParams`).
        let mut storage: Vec<Vec<u8>> = args
            .iter()
            .map(|a| match a {
                KernelArg::Pointer(p) => (*p as usize).to_ne_bytes().to_vec(),
                KernelArg::I32(v) => v.to_ne_bytes().to_vec(),
                KernelArg::Pointers(ps) => ps.iter().flat_map(|p| (*p as usize).to_ne_bytes()).collect(),
            })
            .collect();
        let mut params: Vec<*mut c_void> = storage.iter_mut().map(|s| s.as_mut_ptr().cast()).collect();
        self.launch_raw(function, grid, block, &mut params)
    }

    #[cfg(pz_cuda_shim)]
    fn launch_raw(
        &self,
        function: usize,
        grid: [u32; 3],
        block: [u32; 3],
        params: &mut [*mut c_void],
    ) -> Result<(), String> {
        let mut error = [0u8; 512];
        // SAFETY: `function` came from pz_kernel_compile for this device; `params` points at the
        // arguments' bytes, which outlive the call (the driver copies them at launch); the
        // caller of `launch` vouched for their types.
        let failed = unsafe {
            crate::ffi::pz_kernel_launch(
                function as *mut c_void,
                self.device,
                grid.as_ptr(),
                block.as_ptr(),
                params.as_mut_ptr(),
                error.as_mut_ptr().cast(),
                error.len(),
            )
        };
        if failed != 0 {
            return Err(crate::shim_message(&error));
        }
        Ok(())
    }

    #[cfg(not(pz_cuda_shim))]
    #[allow(clippy::unused_self)]
    fn launch_raw(
        &self,
        _function: usize,
        _grid: [u32; 3],
        _block: [u32; 3],
        _params: &mut [*mut c_void],
    ) -> Result<(), String> {
        Err("this build has no CUDA shim".into())
    }
}

#[cfg(test)]
mod tests {
    use tch::{Device, Kind, Tensor};

    use super::*;

    const AXPY: KernelSource = KernelSource {
        file: "axpy.cu",
        code: "extern \"C\" __global__ void axpy(float* y, const float* x, int n) { \
               int i = blockIdx.x * blockDim.x + threadIdx.x; if (i < n) y[i] += SCALE * x[i]; }",
    };

    #[test]
    fn cpu_builds_refuse_with_a_reason() {
        if tch::Cuda::is_available() {
            return;
        }
        let err = AXPY.compile(&["-DSCALE=2.0f".into()], &["axpy"], 0).unwrap_err();
        assert!(!err.is_empty());
    }

    /// On a GPU (PZ_TEST_CUDA=1): a kernel with a define, an int and two pointers computes what
    /// the tensor operations do; a compile error carries NVRTC's log.
    #[test]
    fn cuda_compiled_kernel_runs_and_errors_name_the_file() {
        assert!(std::env::var_os("PZ_TEST_CUDA").is_none() || tch::Cuda::is_available(), "no GPU");
        if !(tch::Cuda::is_available() && crate::cuda_graphs_available()) {
            return;
        }
        let kernels = AXPY.compile(&["-DSCALE=2.0f".into()], &["axpy"], 0).expect("compiles");
        let opts = (Kind::Float, Device::Cuda(0));
        let (x, y) = (Tensor::randn([1000], opts), Tensor::randn([1000], opts));
        let expected = &y + &x * 2.0;
        let args = [KernelArg::Pointer(y.data_ptr()), KernelArg::Pointer(x.data_ptr()), KernelArg::I32(1000)];
        // SAFETY: axpy(float*, const float*, int) with two 1000-float tensors of device 0.
        unsafe { kernels.launch(0, [4, 1, 1], [256, 1, 1], &args) }.expect("launches");
        assert!(f64::try_from((y - expected).abs().max()).unwrap() < 1e-6);
        let err = AXPY.compile(&[], &["axpy"], 0).unwrap_err(); // SCALE undefined
        assert!(err.contains("axpy.cu") && err.contains("SCALE"), "{err}");
    }
}
