// CUDA graphs: capture a sequence of kernels once, replay it with one launch. Compiled only
// where CUDA headers exist (build.rs). Plain C values across the boundary, no exceptions escape.
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDACachingAllocator.h>

extern "C" {

// A new, empty graph owned by the caller (free with pz_graph_free); null on failure.
at::cuda::CUDAGraph* pz_graph_new() {
  try {
    return new at::cuda::CUDAGraph();
  } catch (...) {
    return nullptr;
  }
}

// Start capturing the calling thread's current stream (which must not be the default stream).
// First the allocator's cached free blocks go back to the device, as torch.cuda.graph does: the
// graph allocates from a private pool that cannot reuse blocks cached for other streams, and no
// cache can be released while a capture runs (the Rust side captures one graph at a time).
// Thread-local mode: other threads training their own models may keep allocating and
// synchronizing meanwhile (global mode would make those calls fail during the capture).
int pz_graph_capture_begin(at::cuda::CUDAGraph* g) {
  try {
    c10::cuda::CUDACachingAllocator::emptyCache();
    g->capture_begin({0, 0}, cudaStreamCaptureModeThreadLocal);
    return 0;
  } catch (...) {
    return 1;
  }
}

// End the capture and instantiate the graph.
int pz_graph_capture_end(at::cuda::CUDAGraph* g) {
  try {
    g->capture_end();
    return 0;
  } catch (...) {
    return 1;
  }
}

// Launch the captured kernels again on the current stream.
int pz_graph_replay(at::cuda::CUDAGraph* g) {
  try {
    g->replay();
    return 0;
  } catch (...) {
    return 1;
  }
}

// Give the allocator's cached free blocks back to the device. Between trainings: the blocks a
// finished model's graph pool and activations held stay in this process's cache otherwise,
// where what allocates outside it (cuBLAS creating a handle for the next model) cannot get them.
int pz_cuda_release_cache() {
  try {
    c10::cuda::CUDACachingAllocator::emptyCache();
    return 0;
  } catch (...) {
    return 1;
  }
}

void pz_graph_free(at::cuda::CUDAGraph* g) {
  try {
    delete g;
  } catch (...) {
  }
}

}  // extern "C"
