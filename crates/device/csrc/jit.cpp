// Element-wise CUDA kernels compiled at run time: libtorch's jiterator (NVRTC, the machinery
// behind torch.cuda.jiterator) fuses several element-wise passes into one kernel without a CUDA
// compiler at build time. Compiled only where CUDA headers exist (build.rs). Plain C values
// across the boundary, no exceptions escape.
#include <ATen/cuda/jiterator.h>

#include <cstring>
#include <string>

extern "C" {

// Runs `code`, a C++ function template in torch.cuda.jiterator's multi-output form
// (`template <typename T> void name(T in0, …, T& out0, …)`), element by element over
// `n_inputs` tensors broadcast together, and stores `n_outputs` new tensors (owned by the
// caller) into `outputs`. The first call of a kernel compiles it (cached for the process).
// Returns 0, or 1 with libtorch's message (truncated) in `error`.
int pz_jit_elementwise(const char* code, const char* name, const at::Tensor* const* inputs,
                       int n_inputs, int n_outputs, at::Tensor** outputs, char* error,
                       size_t error_len) {
  try {
    c10::SmallVector<at::Tensor> tensors;
    for (int i = 0; i < n_inputs; ++i) tensors.push_back(*inputs[i]);
    auto results = at::cuda::CompileAndLaunchKernel(code, name, n_outputs, tensors, {},
                                                    /*return_by_ref=*/true);
    for (int i = 0; i < n_outputs; ++i) outputs[i] = new at::Tensor(std::move(results[i]));
    return 0;
  } catch (const std::exception& e) {
    if (error_len > 0) {
      std::strncpy(error, e.what(), error_len - 1);
      error[error_len - 1] = '\0';
    }
    return 1;
  } catch (...) {
    return 1;
  }
}

}  // extern "C"
