//! bfloat16 autocast regions on CUDA, and on the CPU for tests (tch's own autocast is float16
//! and warns on every call in libtorch 2.11).

use tch::Device;

use crate::ffi;

/// c10::ScalarType's number of bfloat16.
const BFLOAT16: i32 = 15;

/// Leaves the autocast region when dropped, also when `f` panics.
struct AutocastRegion {
    cuda: i32,
    previous: i32,
}

impl Drop for AutocastRegion {
    fn drop(&mut self) {
        // SAFETY: plain integers; the C++ side catches every exception.
        let failed = unsafe { ffi::pz_autocast_exit(self.cuda, self.previous) };
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
    with_bf16_autocast_on(Device::Cuda(0), f)
}

/// [`with_bf16_autocast`] for the tensors of `device`'s type: CUDA, or the CPU
/// (`torch.autocast("cpu", dtype=torch.bfloat16)`, with the CPU's own operator lists; tests use
/// it to check a path against autocast without a GPU).
///
/// # Panics
/// If libtorch refuses to enter autocast.
pub fn with_bf16_autocast_on<T>(device: Device, f: impl FnOnce() -> T) -> T {
    let cuda = i32::from(device.is_cuda());
    // SAFETY: a plain integer; the C++ side catches every exception.
    let previous = unsafe { ffi::pz_autocast_enter_bf16(cuda) };
    assert!(previous >= 0, "libtorch refused bfloat16 autocast");
    let _region = AutocastRegion { cuda, previous };
    f()
}

/// Whether CUDA autocast is on for this thread, and in bfloat16.
#[must_use]
pub fn cuda_autocast_is_bf16() -> bool {
    autocast_is_bf16(Device::Cuda(0))
}

/// Whether autocast for `device`'s type is on for this thread, and in bfloat16.
#[must_use]
pub fn autocast_is_bf16(device: Device) -> bool {
    let cuda = i32::from(device.is_cuda());
    // SAFETY: plain integers; the C++ side catches every exception.
    unsafe { ffi::pz_autocast_enabled(cuda) == 1 && ffi::pz_autocast_dtype(cuda) == BFLOAT16 }
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
        // SAFETY: a plain integer.
        assert_eq!(unsafe { ffi::pz_autocast_dtype(1) }, 5);
    }

    #[test]
    fn a_cpu_region_casts_cpu_matmuls_to_bf16_and_leaves_cuda_autocast_off() {
        let (a, b) = (
            tch::Tensor::ones([2, 3], tch::kind::FLOAT_CPU),
            tch::Tensor::ones([3, 4], tch::kind::FLOAT_CPU),
        );
        with_bf16_autocast_on(Device::Cpu, || {
            assert!(autocast_is_bf16(Device::Cpu) && !cuda_autocast_is_bf16());
            assert_eq!(a.matmul(&b).kind(), tch::Kind::BFloat16);
        });
        assert!(!autocast_is_bf16(Device::Cpu));
        assert_eq!(a.matmul(&b).kind(), tch::Kind::Float);
    }
}
