//! CUDA C++ kernels compiled at run time (csrc/kernels.cpp: NVRTC, then a driver-API launch on
//! libtorch's current stream).
//!
//! Why: some work is bound by memory traffic between small tensor operations that no libtorch
//! operator fuses (the PINN population's forward-mode sweep, `pz_models::tangent`). A kernel
//! written for it keeps intermediates on chip. NVRTC compiles it on the machine that runs it, for
//! that GPU, so the build needs no CUDA compiler and the same binary serves every GPU.

use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::{Arc, Mutex, OnceLock};

#[cfg(pz_cuda_shim)]
use crate::kernel_cache::DiskCache;

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
    /// A `double`.
    F64(f64),
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
    /// device `device`: on a process's first call loaded from the disk cache of an earlier
    /// process (`kernel_cache.rs`) or compiled (and stored there), from memory afterwards. The
    /// first call must not run during a CUDA graph capture (warm up eagerly first); calls from
    /// other threads wait for it, so a compile may be started ahead on a thread of its own.
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
        let cache = DiskCache::from_env();
        self.compile_or_load(options, names, device, cache.as_ref()).map(|(functions, _)| functions)
    }

    #[cfg(not(pz_cuda_shim))]
    #[allow(clippy::unused_self)]
    fn compile_now(&self, _options: &[String], _names: &[&str], _device: i32) -> Result<Vec<usize>, String> {
        Err("this build has no CUDA shim".into())
    }

    /// The kernels' handles from the cubin in `cache`, or compiled now (and stored there).
    #[cfg(pz_cuda_shim)]
    fn compile_or_load(
        &self,
        options: &[String],
        names: &[&str],
        device: i32,
        cache: Option<&DiskCache>,
    ) -> Result<(Vec<usize>, Origin), String> {
        let stored = match cache {
            Some(cache) => Some((cache, cache.path(self.file, self.code, options, &shim::target(device)?))),
            None => None,
        };
        if let Some(cubin) = stored.as_ref().and_then(|(_, path)| DiskCache::read(path)) {
            match shim::load(&cubin, self.file, names, device) {
                Ok(functions) => return Ok((functions, Origin::Disk)),
                Err(why) => tracing::warn!(
                    file = self.file,
                    "a stored compiled kernel did not load, compiling again: {why}"
                ),
            }
        }
        let start = std::time::Instant::now();
        let cubin = shim::build(self.code, self.file, options, device)?;
        tracing::info!(file = self.file, secs = start.elapsed().as_secs_f64(), "kernels compiled with NVRTC");
        if let Some((cache, path)) = &stored {
            if let Err(e) = cache.write(path, &cubin) {
                tracing::warn!(path = %path.display(), "compiled kernels not stored for later runs: {e}");
            }
        }
        Ok((shim::load(&cubin, self.file, names, device)?, Origin::Compiled))
    }
}

/// Where [`KernelSource::compile_or_load`] found a module.
#[cfg(pz_cuda_shim)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Compiled,
    Disk,
}

/// The three steps of getting kernels, each one shim call.
#[cfg(pz_cuda_shim)]
mod shim {
    use std::ffi::{c_char, c_void, CString};

    fn cstr(s: &str) -> Result<CString, String> {
        CString::new(s).map_err(|e| e.to_string())
    }

    fn count(n: usize) -> Result<i32, String> {
        i32::try_from(n).map_err(|e| e.to_string())
    }

    /// The device's architecture and NVRTC's version, as one string.
    pub(super) fn target(device: i32) -> Result<String, String> {
        let mut out = vec![0u8; 256];
        // SAFETY: `out` is writable for its length; the shim catches every exception.
        let failed = unsafe { crate::ffi::pz_kernel_target(device, out.as_mut_ptr().cast(), out.len()) };
        let text = crate::shim_message(&out);
        if failed != 0 {
            return Err(text);
        }
        Ok(text)
    }

    /// The cubin of `code` compiled with `options` for `device`.
    pub(super) fn build(code: &str, file: &str, options: &[String], device: i32) -> Result<Vec<u8>, String> {
        let (code, file) = (cstr(code)?, cstr(file)?);
        let options: Vec<CString> = options.iter().map(|o| cstr(o)).collect::<Result<_, _>>()?;
        let option_ptrs: Vec<*const c_char> = options.iter().map(|o| o.as_ptr()).collect();
        let mut cubin: *mut c_char = std::ptr::null_mut();
        let mut len = 0usize;
        let mut error = vec![0u8; 16 * 1024];
        // SAFETY: every string is NUL-terminated and outlives the call; the pointer array holds
        // the count passed; `cubin` and `len` are written on success only; `error` is writable
        // for its length. The shim catches every exception.
        let failed = unsafe {
            crate::ffi::pz_kernel_build(
                code.as_ptr(),
                file.as_ptr(),
                option_ptrs.as_ptr(),
                count(option_ptrs.len())?,
                device,
                &raw mut cubin,
                &raw mut len,
                error.as_mut_ptr().cast(),
                error.len(),
            )
        };
        if failed != 0 {
            return Err(crate::shim_message(&error));
        }
        // SAFETY: on success the shim malloc'd `len` bytes at `cubin` (non-null) and hands them
        // over; they are copied, then freed once by the shim's matching free.
        let bytes = unsafe { std::slice::from_raw_parts(cubin.cast::<u8>(), len).to_vec() };
        unsafe { crate::ffi::pz_kernel_free(cubin) };
        Ok(bytes)
    }

    /// Loads `cubin` into the device's context: the handles of kernels `names`.
    pub(super) fn load(cubin: &[u8], file: &str, names: &[&str], device: i32) -> Result<Vec<usize>, String> {
        let file = cstr(file)?;
        let names_c: Vec<CString> = names.iter().map(|n| cstr(n)).collect::<Result<_, _>>()?;
        let name_ptrs: Vec<*const c_char> = names_c.iter().map(|n| n.as_ptr()).collect();
        let mut functions: Vec<*mut c_void> = vec![std::ptr::null_mut(); names.len()];
        let mut error = vec![0u8; 1024];
        // SAFETY: `cubin` is a whole cubin (NVRTC's output, or a stored copy whose checksum
        // matched), which the driver reads only during the call; the strings are NUL-terminated;
        // `functions` has room for one handle per name; `error` is writable for its length.
        let failed = unsafe {
            crate::ffi::pz_kernel_load(
                cubin.as_ptr().cast(),
                file.as_ptr(),
                name_ptrs.as_ptr(),
                count(name_ptrs.len())?,
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
}

impl Kernels {
    /// The driver handle of kernel `index` and the device it was compiled for (for the shim's
    /// own launches, csrc/rows_ce.cpp).
    #[cfg_attr(not(pz_cuda_shim), allow(dead_code))]
    pub(crate) fn handle(&self, index: usize) -> Option<(usize, i32)> {
        self.functions.get(index).map(|&f| (f, self.device))
    }

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
                KernelArg::F64(v) => v.to_ne_bytes().to_vec(),
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

    /// On a GPU: the first compile stores the cubin, the next loads it from disk instead of
    /// compiling, and the loaded kernel computes the same.
    #[cfg(pz_cuda_shim)]
    #[test]
    fn cuda_compiled_kernels_are_stored_and_reloaded() {
        assert!(std::env::var_os("PZ_TEST_CUDA").is_none() || tch::Cuda::is_available(), "no GPU");
        if !(tch::Cuda::is_available() && crate::cuda_graphs_available()) {
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let cache = DiskCache::at(tmp.path().to_path_buf());
        let options = ["-DSCALE=3.0f".to_string()];
        let (_, first) = AXPY.compile_or_load(&options, &["axpy"], 0, Some(&cache)).expect("compiles");
        assert_eq!(first, Origin::Compiled);
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
        let (functions, second) = AXPY.compile_or_load(&options, &["axpy"], 0, Some(&cache)).expect("loads");
        assert_eq!(second, Origin::Disk);
        let kernels = Kernels { functions: Arc::new(functions), device: 0 };
        let opts = (Kind::Float, Device::Cuda(0));
        let (x, y) = (Tensor::randn([300], opts), Tensor::randn([300], opts));
        let expected = &y + &x * 3.0;
        let args = [KernelArg::Pointer(y.data_ptr()), KernelArg::Pointer(x.data_ptr()), KernelArg::I32(300)];
        // SAFETY: axpy(float*, const float*, int) with two 300-float tensors of device 0.
        unsafe { kernels.launch(0, [2, 1, 1], [256, 1, 1], &args) }.expect("launches");
        assert!(f64::try_from((y - expected).abs().max()).unwrap() < 1e-6);
    }
}
