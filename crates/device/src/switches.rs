//! Process-wide libtorch switches: TF32 and deterministic algorithms.

use crate::ffi;

/// TF32 for cuBLAS matmuls and cuDNN convolutions (libtorch's defaults: matmul off, cuDNN on,
/// as PyTorch's).
///
/// # Panics
/// If libtorch refuses (it does not).
pub fn set_tf32(matmul: bool, cudnn: bool) {
    // SAFETY: integer arguments; the C++ side catches every exception.
    assert_eq!(unsafe { ffi::pz_set_tf32(i32::from(matmul), i32::from(cudnn)) }, 0);
}

/// Deterministic algorithms (an error for an operation that has none), deterministic
/// non-benchmarking cuDNN. cuBLAS also needs `CUBLAS_WORKSPACE_CONFIG=:4096:8` set before the
/// first CUDA call.
///
/// # Panics
/// If libtorch refuses (it does not).
pub fn set_deterministic(on: bool) {
    // SAFETY: an integer argument; the C++ side catches every exception.
    assert_eq!(unsafe { ffi::pz_set_deterministic(i32::from(on)) }, 0);
}
