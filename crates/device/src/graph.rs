//! CUDA graphs: capture a step's kernels once, replay them with one launch; and the rule that a
//! capture runs alone in the process.

#[cfg(pz_cuda_shim)]
use crate::current_cuda_stream_id;
#[cfg(pz_cuda_shim)]
use crate::ffi;

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

/// Gives the CUDA caching allocator's free blocks back to the devices, never during a capture (a
/// capture's pool cannot lose blocks while it records). Call it between trainings: on the GPU
/// Shakespeare zoo of 2026-12-07 the next models' first cuBLAS call failed
/// (`CUBLAS_STATUS_ALLOC_FAILED`) right after four large ones had finished, their memory still
/// cached by this process. Nothing on a CPU build.
pub fn release_cached_gpu_memory() {
    #[cfg(pz_cuda_shim)]
    outside_captures(|| {
        // SAFETY: no arguments; the C++ side catches every exception.
        if unsafe { ffi::pz_cuda_release_cache() } != 0 {
            tracing::warn!("releasing the CUDA allocator's cache failed");
        }
    });
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
            // A panic inside the capture (a libtorch error: out of memory, an operation a
            // capture refuses) must still end it: a stream left capturing fails every later
            // operation of the thread, which trains the next unit after the panic is caught.
            let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            // SAFETY: as above.
            let ended = unsafe { ffi::pz_graph_capture_end(graph.raw.as_ptr()) } == 0;
            if let Err(panic) = ran {
                std::panic::resume_unwind(panic);
            }
            if !ended {
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
    use crate::use_own_cuda_stream;

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
