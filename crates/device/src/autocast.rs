//! bfloat16 autocast regions on CUDA (tch's own autocast is float16 and warns on every call in
//! libtorch 2.11).

use crate::ffi;

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
}
