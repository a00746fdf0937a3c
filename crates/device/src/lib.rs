//! libtorch features that tch 0.24 does not expose, through a small C++ shim (csrc/shim.cpp)
//! compiled against the same libtorch. Each is wrapped in a safe function here; the unsafe
//! foreign calls stay in this file.

#![allow(unsafe_code)] // the FFI calls below; each says why it is sound

mod optim;

pub use optim::{sgd_step, StepError};

mod ffi {
    extern "C" {
        pub fn pz_cuda_autocast_enter_bf16() -> i32;
        pub fn pz_cuda_autocast_exit(previous: i32) -> i32;
        pub fn pz_cuda_autocast_dtype() -> i32;
        pub fn pz_cuda_autocast_enabled() -> i32;
        pub fn pz_pin_memory(t: *const torch_sys::C_tensor) -> *mut torch_sys::C_tensor;
        pub fn pz_set_tf32(matmul: i32, cudnn: i32) -> i32;
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
    }
    #[cfg(pz_cuda_shim)]
    extern "C" {
        pub fn pz_use_pool_stream(device: i32) -> i32;
        pub fn pz_current_stream_id(device: i32) -> i64;
        pub fn pz_graph_new() -> *mut std::ffi::c_void;
        pub fn pz_graph_capture_begin(g: *mut std::ffi::c_void) -> i32;
        pub fn pz_graph_capture_end(g: *mut std::ffi::c_void) -> i32;
        pub fn pz_graph_replay(g: *mut std::ffi::c_void) -> i32;
        pub fn pz_graph_free(g: *mut std::ffi::c_void);
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

/// Whether this build can capture CUDA graphs (it was compiled with CUDA headers); a GPU must
/// also be present.
#[must_use]
pub fn cuda_graphs_available() -> bool {
    cfg!(pz_cuda_shim)
}

/// Held shared by GPU work ([`outside_captures`]) and exclusively by a CUDA graph capture.
static GPU_WORK: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Runs `f`, GPU work of the calling thread, never at the same time as a CUDA graph capture in
/// another thread (threads doing ordinary work run concurrently with each other).
///
/// Why: other threads' work during a capture was measured to invalidate it now and then
/// (`cudaErrorStreamCaptureInvalidated`, BENCHMARKS.md), even in thread-local capture mode —
/// e.g. through libtorch's shared autograd thread for the device, which runs every thread's
/// backward — and a capture takes one step's time per model, so pausing the others is cheap.
///
/// Do not nest it, and do not capture inside it (the capture waits for every `f` to end).
pub fn outside_captures<T>(f: impl FnOnce() -> T) -> T {
    let _shared = GPU_WORK.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    f()
}

/// Why a CUDA graph could not be made or run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphError {
    /// This build has no CUDA shim (no CUDA headers at build time) or no GPU.
    Unavailable,
    /// Capture must run on a stream of one's own ([`use_own_cuda_stream`]), not the default one.
    DefaultStream,
    /// libtorch refused (e.g. an operation that cannot be captured, such as a host sync).
    Failed(&'static str),
}

impl std::fmt::Display for GraphError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unavailable => {
                f.write_str("CUDA graphs are unavailable (no GPU, or built without CUDA headers)")
            }
            Self::DefaultStream => {
                f.write_str("CUDA graph capture needs a stream of its own (use_own_cuda_stream)")
            }
            Self::Failed(what) => write!(f, "CUDA graph {what} failed"),
        }
    }
}

impl std::error::Error for GraphError {}

/// A captured CUDA graph: the kernels one closure launched, replayable with one launch.
///
/// Invariants for the caller: every tensor the captured kernels read or write must stay alive
/// and keep its storage while the graph exists (inputs are refreshed by copying into them, never
/// by replacing them); values the closure turned into kernel arguments (plain numbers) are
/// frozen, so a learning rate that changes must live in a device tensor; nothing in the closure
/// may synchronize with the host (no `.item()`, no pageable copies). Replays run on the calling
/// thread's current stream; the type is neither `Send` nor `Sync`.
pub struct CudaGraph {
    raw: std::ptr::NonNull<std::ffi::c_void>,
}

impl std::fmt::Debug for CudaGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CudaGraph")
    }
}

impl CudaGraph {
    /// Captures the kernels `f` launches on the calling thread's CUDA stream of `device`.
    /// The capture runs alone in the process: it waits for other threads' [`outside_captures`]
    /// work to end and holds new work back until it is done. Never call it inside
    /// [`outside_captures`] (that would wait on itself).
    ///
    /// # Errors
    /// See [`GraphError`].
    #[allow(unused_variables, clippy::needless_pass_by_value)]
    pub fn capture(device: usize, f: impl FnOnce()) -> Result<Self, GraphError> {
        #[cfg(pz_cuda_shim)]
        {
            match current_cuda_stream_id(device) {
                None => return Err(GraphError::Unavailable),
                Some(0) => return Err(GraphError::DefaultStream),
                Some(_) => {}
            }
            // The capture runs alone: no other capture (the allocator releases its cache before
            // each, csrc/graphs.cpp, which it cannot do while another runs) and no other thread's
            // GPU work (see `outside_captures`).
            let _alone = GPU_WORK.write().unwrap_or_else(std::sync::PoisonError::into_inner);
            // SAFETY: no arguments; returns an owned pointer or null.
            let raw = std::ptr::NonNull::new(unsafe { ffi::pz_graph_new() })
                .ok_or(GraphError::Failed("creation"))?;
            let graph = Self { raw };
            // SAFETY: `graph.raw` is a live CUDAGraph owned by `graph` for these calls.
            if unsafe { ffi::pz_graph_capture_begin(graph.raw.as_ptr()) } != 0 {
                return Err(GraphError::Failed("capture start"));
            }
            f();
            if unsafe { ffi::pz_graph_capture_end(graph.raw.as_ptr()) } != 0 {
                return Err(GraphError::Failed("capture"));
            }
            Ok(graph)
        }
        #[cfg(not(pz_cuda_shim))]
        {
            Err(GraphError::Unavailable)
        }
    }

    /// Launches the captured kernels again.
    ///
    /// # Errors
    /// If libtorch refuses the replay.
    pub fn replay(&self) -> Result<(), GraphError> {
        #[cfg(pz_cuda_shim)]
        {
            // SAFETY: `self.raw` is a live, captured CUDAGraph.
            if unsafe { ffi::pz_graph_replay(self.raw.as_ptr()) } != 0 {
                return Err(GraphError::Failed("replay"));
            }
            Ok(())
        }
        #[cfg(not(pz_cuda_shim))]
        {
            let _ = self.raw;
            Err(GraphError::Unavailable)
        }
    }
}

impl Drop for CudaGraph {
    fn drop(&mut self) {
        #[cfg(pz_cuda_shim)]
        // SAFETY: `self.raw` came from pz_graph_new and is freed exactly once, here.
        unsafe {
            ffi::pz_graph_free(self.raw.as_ptr());
        }
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

    /// One gradient step of least squares, `w -= lr * xᵀ(xw − t)`, with the learning rate in a
    /// device tensor: replaying the captured step equals running it eagerly, with the learning
    /// rate changed between replays (as OneCycle does).
    #[test]
    fn a_replayed_graph_step_equals_the_eager_step() {
        use tch::{Device, Kind, Tensor};
        // PZ_TEST_CUDA=1 (the GPU machine) makes a missing GPU a failure instead of a skip.
        assert!(std::env::var_os("PZ_TEST_CUDA").is_none() || tch::Cuda::is_available(), "no GPU");
        if !tch::Cuda::is_available() {
            assert!(CudaGraph::capture(0, || {}).is_err(), "no GPU, no graph");
            return;
        }
        std::thread::spawn(|| {
            assert_eq!(CudaGraph::capture(0, || {}).err(), Some(GraphError::DefaultStream));
            assert!(use_own_cuda_stream(0));
            let dev = Device::Cuda(0);
            tch::manual_seed(0);
            let x = Tensor::randn([64, 32], (Kind::Float, dev));
            let t = Tensor::randn([64, 1], (Kind::Float, dev));
            let w0 = Tensor::randn([32, 1], (Kind::Float, dev));
            let step = |w: &Tensor, lr: &Tensor| {
                let g = x.tr().mm(&(x.mm(w) - &t));
                let mut w = w.shallow_clone();
                w -= g * lr;
            };
            let (w_eager, w_graph) = (w0.copy(), w0.copy());
            let lr = Tensor::full([] as [i64; 0], 1e-3, (Kind::Float, dev));
            step(&w_eager.copy(), &lr); // warm-up: cuBLAS handles exist before capture
            let graph = CudaGraph::capture(0, || step(&w_graph, &lr)).expect("capture");
            // Capture records kernels without running them: w_graph is still w0.
            assert_eq!(f64::try_from((&w_graph - &w0).abs().max()).unwrap(), 0.0);
            for value in [1e-3, 5e-4, 2e-3] {
                let _ = lr.shallow_clone().fill_(value);
                step(&w_eager, &lr);
                graph.replay().expect("replay");
            }
            let diff = f64::try_from((&w_graph - &w_eager).abs().max()).unwrap();
            let scale = f64::try_from(w_eager.abs().max()).unwrap();
            assert!(diff <= 1e-6 * scale, "graph {diff} away from eager (scale {scale})");
            assert!(f64::try_from((&w_graph - &w0).abs().max()).unwrap() > 0.0, "the replays changed w");
        })
        .join()
        .unwrap();
    }
}
