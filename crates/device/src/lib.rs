//! libtorch features that tch 0.24 does not expose, through a small C++ shim (csrc/shim.cpp)
//! compiled against the same libtorch. Each is wrapped in a safe function here; the unsafe
//! foreign calls stay in this file.

#![allow(unsafe_code)] // the FFI calls below; each says why it is sound

mod ffi {
    extern "C" {
        pub fn pz_cuda_autocast_enter_bf16() -> i32;
        pub fn pz_cuda_autocast_exit(previous: i32) -> i32;
        pub fn pz_cuda_autocast_dtype() -> i32;
        pub fn pz_cuda_autocast_enabled() -> i32;
        pub fn pz_pin_memory(t: *const torch_sys::C_tensor) -> *mut torch_sys::C_tensor;
    }
    #[cfg(pz_cuda_shim)]
    extern "C" {
        pub fn pz_use_pool_stream(device: i32) -> i32;
        pub fn pz_current_stream_id(device: i32) -> i64;
    }
}

/// c10::ScalarType's number of bfloat16.
const BFLOAT16: i32 = 15;

/// Leaves the autocast region when dropped, also when `f` panics.
struct AutocastRegion {
    previous: i32,
}

impl Drop for AutocastRegion {
    fn drop(&mut self) {
        // SAFETY: plain integers; the C++ side catches every exception.
        let failed = unsafe { ffi::pz_cuda_autocast_exit(self.previous) };
        debug_assert_eq!(failed, 0, "leaving the autocast region failed");
    }
}

/// Runs `f` with CUDA autocast in bfloat16 on this thread: matmuls and convolutions of CUDA
/// tensors compute in bf16 while parameters, gradients and the optimizer stay float32, as
/// `torch.autocast("cuda", dtype=torch.bfloat16)`. Regions nest.
///
/// # Panics
/// If libtorch refuses to enter autocast (it does not for CUDA builds).
pub fn with_bf16_autocast<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: no arguments; the C++ side catches every exception.
    let previous = unsafe { ffi::pz_cuda_autocast_enter_bf16() };
    assert!(previous >= 0, "libtorch refused bfloat16 autocast");
    let _region = AutocastRegion { previous };
    f()
}

/// Whether CUDA autocast is on for this thread, and in bfloat16.
#[must_use]
pub fn cuda_autocast_is_bf16() -> bool {
    // SAFETY: pure queries without arguments; the C++ side catches every exception.
    unsafe { ffi::pz_cuda_autocast_enabled() == 1 && ffi::pz_cuda_autocast_dtype() == BFLOAT16 }
}

/// A pinned (page-locked) copy of a CPU tensor, from which a non-blocking copy to a GPU does
/// not wait for the device. Needs a CUDA-capable libtorch with a GPU present.
///
/// # Panics
/// If libtorch cannot pin memory (no CUDA).
pub fn pin_memory(t: &tch::Tensor) -> tch::Tensor {
    // SAFETY: `as_ptr` is a live at::Tensor handle for the duration of the call; the shim returns
    // a new owned handle (or null on failure), which `from_ptr` takes ownership of exactly once.
    let ptr = unsafe { ffi::pz_pin_memory(t.as_ptr()) };
    assert!(!ptr.is_null(), "libtorch could not pin host memory");
    unsafe { tch::Tensor::from_ptr(ptr) }
}

/// Gives the calling thread its own CUDA stream on `device` (from libtorch's pool), so that the
/// kernels of several threads each training a model run concurrently instead of queueing on
/// the device's default stream. Returns whether it did: false without a CUDA build of the shim
/// (then the thread keeps the default stream, which is correct, only slower).
///
/// Invariant the callers keep: a thread creates the tensors it trains with after this call, so
/// every kernel touching them is ordered on the one stream (no cross-stream use to synchronize).
pub fn use_own_cuda_stream(device: usize) -> bool {
    #[cfg(pz_cuda_shim)]
    {
        let Ok(device) = i32::try_from(device) else { return false };
        // SAFETY: an integer argument; the C++ side catches every exception.
        unsafe { ffi::pz_use_pool_stream(device) == 0 }
    }
    #[cfg(not(pz_cuda_shim))]
    {
        let _ = device;
        false
    }
}

/// The id of the calling thread's current CUDA stream on `device` (0: the default stream);
/// `None` without the CUDA shim or a usable device.
#[must_use]
pub fn current_cuda_stream_id(device: usize) -> Option<i64> {
    #[cfg(pz_cuda_shim)]
    {
        let device = i32::try_from(device).ok()?;
        // SAFETY: an integer argument; the C++ side catches every exception.
        let id = unsafe { ffi::pz_current_stream_id(device) };
        (id >= 0).then_some(id)
    }
    #[cfg(not(pz_cuda_shim))]
    {
        let _ = device;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_turn_bf16_autocast_on_nest_and_restore_the_previous_state() {
        // The thread-local switches work without a GPU.
        assert!(!cuda_autocast_is_bf16());
        with_bf16_autocast(|| {
            assert!(cuda_autocast_is_bf16());
            with_bf16_autocast(|| assert!(cuda_autocast_is_bf16()));
            assert!(cuda_autocast_is_bf16(), "the inner region keeps the outer one on");
        });
        assert!(!cuda_autocast_is_bf16());
        let caught = std::panic::catch_unwind(|| with_bf16_autocast(|| panic!("inside")));
        assert!(caught.is_err());
        assert!(!cuda_autocast_is_bf16(), "a panic leaves the region too");
        // The dtype before the first region (libtorch's default, float16 = 5) is restored too.
        // SAFETY: no arguments.
        assert_eq!(unsafe { ffi::pz_cuda_autocast_dtype() }, 5);
    }

    #[test]
    fn own_streams_per_thread_where_a_gpu_exists() {
        if !tch::Cuda::is_available() {
            assert!(!use_own_cuda_stream(usize::MAX), "no such device");
            return;
        }
        assert_eq!(current_cuda_stream_id(0), Some(0), "threads start on the default stream");
        let ids: Vec<i64> = (0..2)
            .map(|_| {
                std::thread::spawn(|| {
                    assert!(use_own_cuda_stream(0));
                    current_cuda_stream_id(0).expect("a stream")
                })
                .join()
                .unwrap()
            })
            .collect();
        assert!(ids.iter().all(|&id| id != 0), "{ids:?}");
        assert_eq!(current_cuda_stream_id(0), Some(0), "other threads keep theirs");
    }
}
