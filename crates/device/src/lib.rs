//! libtorch features that tch 0.24 does not expose, through a small C++ shim (csrc/*.cpp)
//! compiled against the same libtorch: bf16 autocast, CUDA streams and pinned memory, CUDA graphs,
//! multi-tensor and fused SGD steps and fused Adam and AdamW steps (learning rate in a device
//! tensor), multi-tensor gradient clipping and clearing, element-wise and hand-written CUDA
//! kernels compiled at run time, TF32 and determinism. Each is wrapped in a safe function; the
//! foreign declarations are here, each call says why it is sound.

#![allow(unsafe_code)] // the FFI calls below; each says why it is sound

mod adamw;
mod autocast;
mod grads;
mod graph;
mod jit;
mod kernel;
#[cfg_attr(not(pz_cuda_shim), allow(dead_code))] // used where kernels can be compiled
mod kernel_cache;
mod optim;
mod profiler;
mod rows_ce;
mod streams;
mod switches;
mod thread_state;

pub use adamw::{fused_adamw_step, AdamWHyper};
pub use autocast::{autocast_is_bf16, cuda_autocast_is_bf16, with_bf16_autocast, with_bf16_autocast_on};
pub use grads::{clear_grads, clip_grad_norm, foreach_copy};
pub use graph::{cuda_graphs_available, outside_captures, release_cached_gpu_memory, CudaGraph, GraphError};
pub use jit::ElementwiseKernel;
pub use kernel::{KernelArg, KernelSource, Kernels};
pub use optim::{fused_adam_step, fused_sgd_step, sgd_step, AdamHyper, AdamState, StepError};
pub use profiler::{Profiler, ProfilerError};
pub use rows_ce::rows_cross_entropy;
pub use streams::{current_cuda_stream_id, pin_memory, use_own_cuda_stream};
pub use switches::{set_deterministic, set_tf32};
pub use thread_state::restore_grad_mode;

/// The NUL-terminated message a shim function wrote into `buffer`.
#[cfg(pz_cuda_shim)]
fn shim_message(buffer: &[u8]) -> String {
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    String::from_utf8_lossy(&buffer[..end]).into_owned()
}

mod ffi {
    extern "C" {
        pub fn pz_autocast_enter_bf16(cuda: i32) -> i32;
        pub fn pz_autocast_exit(cuda: i32, previous: i32) -> i32;
        pub fn pz_autocast_dtype(cuda: i32) -> i32;
        pub fn pz_autocast_enabled(cuda: i32) -> i32;
        pub fn pz_pin_memory(t: *const torch_sys::C_tensor) -> *mut torch_sys::C_tensor;
        pub fn pz_set_tf32(matmul: i32, cudnn: i32) -> i32;
        pub fn pz_profiler_start(cuda: i32, message: *mut std::ffi::c_char, size: i64) -> i32;
        pub fn pz_profiler_stop(
            path: *const std::ffi::c_char,
            message: *mut std::ffi::c_char,
            size: i64,
        ) -> i32;
        pub fn pz_set_deterministic(on: i32) -> i32;
        pub fn pz_sgd_step(
            params: *const *const torch_sys::C_tensor,
            grads: *const *const torch_sys::C_tensor,
            buffers: *const *const torch_sys::C_tensor,
            n: i64,
            weight_decay: f64,
            momentum: *const torch_sys::C_tensor,
            lr: *const torch_sys::C_tensor,
        ) -> i32;
        pub fn pz_fused_sgd_step(
            params: *const *const torch_sys::C_tensor,
            grads: *const *const torch_sys::C_tensor,
            buffers: *const *const torch_sys::C_tensor,
            n: i64,
            weight_decay: f64,
            momentum: f64,
            lr: *const torch_sys::C_tensor,
        ) -> i32;
        pub fn pz_fused_adam_step(
            params: *const *const torch_sys::C_tensor,
            grads: *const *const torch_sys::C_tensor,
            exp_avgs: *const *const torch_sys::C_tensor,
            exp_avg_sqs: *const *const torch_sys::C_tensor,
            steps: *const *const torch_sys::C_tensor,
            n: i64,
            lr: *const torch_sys::C_tensor,
            beta1: f64,
            beta2: f64,
            weight_decay: f64,
            eps: f64,
        ) -> i32;
        pub fn pz_fused_adamw_step(
            params: *const *const torch_sys::C_tensor,
            grads: *const *const torch_sys::C_tensor,
            exp_avgs: *const *const torch_sys::C_tensor,
            exp_avg_sqs: *const *const torch_sys::C_tensor,
            decays: *const u8,
            n: i64,
            step: *const torch_sys::C_tensor,
            lr: *const torch_sys::C_tensor,
            beta1: f64,
            beta2: f64,
            weight_decay: f64,
            eps: f64,
        ) -> i32;
        pub fn pz_clip_grad_norm(
            grads: *const *const torch_sys::C_tensor,
            n: i64,
            max_norm: f64,
        ) -> *mut torch_sys::C_tensor;
        pub fn pz_clear_grads(tensors: *const *const torch_sys::C_tensor, n: i64) -> i32;
        pub fn pz_foreach_copy(
            dst: *const *const torch_sys::C_tensor,
            src: *const *const torch_sys::C_tensor,
            n: i64,
        ) -> i32;
    }
    #[cfg(pz_cuda_shim)]
    extern "C" {
        pub fn pz_use_pool_stream(device: i32) -> i32;
        pub fn pz_current_stream_id(device: i32) -> i64;
        pub fn pz_graph_new() -> *mut std::ffi::c_void;
        pub fn pz_graph_capture_begin(g: *mut std::ffi::c_void) -> i32;
        pub fn pz_cuda_release_cache() -> i32;
        pub fn pz_graph_capture_end(g: *mut std::ffi::c_void) -> i32;
        pub fn pz_graph_replay(g: *mut std::ffi::c_void) -> i32;
        pub fn pz_graph_free(g: *mut std::ffi::c_void);
        pub fn pz_jit_elementwise(
            code: *const std::ffi::c_char,
            name: *const std::ffi::c_char,
            inputs: *const *const torch_sys::C_tensor,
            n_inputs: i32,
            n_outputs: i32,
            outputs: *mut *mut torch_sys::C_tensor,
            error: *mut std::ffi::c_char,
            error_len: usize,
        ) -> i32;
        pub fn pz_kernel_target(device: i32, out: *mut std::ffi::c_char, out_len: usize) -> i32;
        pub fn pz_kernel_build(
            source: *const std::ffi::c_char,
            file: *const std::ffi::c_char,
            options: *const *const std::ffi::c_char,
            n_options: i32,
            device: i32,
            cubin: *mut *mut std::ffi::c_char,
            cubin_len: *mut usize,
            error: *mut std::ffi::c_char,
            error_len: usize,
        ) -> i32;
        pub fn pz_kernel_free(cubin: *mut std::ffi::c_char);
        pub fn pz_kernel_load(
            cubin: *const std::ffi::c_char,
            file: *const std::ffi::c_char,
            names: *const *const std::ffi::c_char,
            n_names: i32,
            device: i32,
            functions: *mut *mut std::ffi::c_void,
            error: *mut std::ffi::c_char,
            error_len: usize,
        ) -> i32;
        pub fn pz_rows_cross_entropy(
            logits: *const torch_sys::C_tensor,
            targets: *const torch_sys::C_tensor,
            cols: i64,
            ignore: i64,
            forward: *mut std::ffi::c_void,
            backward: *mut std::ffi::c_void,
            device: i32,
            error: *mut std::ffi::c_char,
            error_len: usize,
        ) -> *mut torch_sys::C_tensor;
        pub fn pz_kernel_launch(
            function: *mut std::ffi::c_void,
            device: i32,
            grid: *const u32,
            block: *const u32,
            args: *mut *mut std::ffi::c_void,
            error: *mut std::ffi::c_char,
            error_len: usize,
        ) -> i32;
    }
}
