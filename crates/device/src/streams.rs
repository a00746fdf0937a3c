//! CUDA streams for worker threads, and pinned host memory for copies that do not wait.

use crate::ffi;

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
