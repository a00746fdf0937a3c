// CUDA streams for worker threads. Compiled only where CUDA headers exist (build.rs); the CPU
// build has none of it. Plain C values across the boundary, no exceptions escape.
#include <c10/cuda/CUDAStream.h>

extern "C" {

// Make a stream from libtorch's pool the current CUDA stream of the calling thread for
// `device`: kernels this thread launches there from now on run on it, concurrently with other
// threads' streams. Returns 0 on success, 1 if libtorch refused (no such device).
int pz_use_pool_stream(int device) {
  try {
    auto stream = c10::cuda::getStreamFromPool(/*isHighPriority=*/false, static_cast<c10::DeviceIndex>(device));
    c10::cuda::setCurrentCUDAStream(stream);
    return 0;
  } catch (...) {
    return 1;
  }
}

// The id of the calling thread's current stream on `device` (0 = the default stream), or -1.
long long pz_current_stream_id(int device) {
  try {
    return static_cast<long long>(c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device)).id());
  } catch (...) {
    return -1;
  }
}

}  // extern "C"
