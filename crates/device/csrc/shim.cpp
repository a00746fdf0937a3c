// C entry points into libtorch for what tch 0.24 does not wrap. Each function is tiny, takes
// and returns plain C values, and never throws across the boundary.
//
// Autocast goes through the per-device API (at::autocast::*_autocast_enabled(kCUDA, …)):
// tch's own `autocast` calls the deprecated device-less functions, which print a deprecation
// warning on every call in libtorch 2.11.
#include <ATen/autocast_mode.h>
#include <ATen/core/Tensor.h>
#include <ATen/Context.h>

extern "C" {

// Autocast on CUDA (`cuda` != 0) or on the CPU (tests check there that a path under autocast
// equals one without it).
static at::DeviceType autocast_device(int cuda) { return cuda != 0 ? at::kCUDA : at::kCPU; }

// Enter an autocast region computing in bfloat16 on this thread. Returns the previous state for
// pz_autocast_exit — enabled (bit 0) and dtype (the bits above) — or -1 if libtorch refused.
int pz_autocast_enter_bf16(int cuda) {
  try {
    auto device = autocast_device(cuda);
    int enabled = at::autocast::is_autocast_enabled(device) ? 1 : 0;
    int dtype = static_cast<int>(at::autocast::get_autocast_dtype(device));
    at::autocast::set_autocast_dtype(device, at::kBFloat16);
    at::autocast::set_autocast_enabled(device, true);
    at::autocast::increment_nesting();
    return enabled | (dtype << 1);
  } catch (...) {
    return -1;
  }
}

// Leave the region entered by pz_autocast_enter_bf16; `previous` is what it returned.
// Restores the enabled state and dtype, and drops the cast cache when the outermost region
// ends, as torch.autocast does.
int pz_autocast_exit(int cuda, int previous) {
  try {
    auto device = autocast_device(cuda);
    if (at::autocast::decrement_nesting() == 0) {
      at::autocast::clear_cache();
    }
    at::autocast::set_autocast_dtype(device, static_cast<at::ScalarType>(previous >> 1));
    at::autocast::set_autocast_enabled(device, (previous & 1) == 1);
    return 0;
  } catch (...) {
    return 1;
  }
}

// The current autocast dtype as c10::ScalarType's number (BFloat16 = 15, Half = 5).
int pz_autocast_dtype(int cuda) {
  try {
    return static_cast<int>(at::autocast::get_autocast_dtype(autocast_device(cuda)));
  } catch (...) {
    return -1;
  }
}

// Whether autocast is on for this thread (1), off (0).
int pz_autocast_enabled(int cuda) {
  try {
    return at::autocast::is_autocast_enabled(autocast_device(cuda)) ? 1 : 0;
  } catch (...) {
    return -1;
  }
}

// TF32 for cuBLAS matmuls and cuDNN convolutions (libtorch's defaults: off and on).
int pz_set_tf32(int matmul, int cudnn) {
  try {
    at::globalContext().setAllowTF32CuBLAS(matmul != 0);
    at::globalContext().setAllowTF32CuDNN(cudnn != 0);
    return 0;
  } catch (...) {
    return 1;
  }
}

// Deterministic algorithms everywhere (torch.use_deterministic_algorithms), deterministic and
// non-benchmarking cuDNN; cuBLAS also needs CUBLAS_WORKSPACE_CONFIG=:4096:8 in the environment.
int pz_set_deterministic(int on) {
  try {
    at::globalContext().setDeterministicAlgorithms(on != 0, /*warn_only=*/false);
    at::globalContext().setDeterministicCuDNN(on != 0);
    at::globalContext().setBenchmarkCuDNN(false);
    return 0;
  } catch (...) {
    return 1;
  }
}

// A pinned (page-locked) copy of a CPU tensor, as a new heap-allocated at::Tensor that the
// caller owns (tch's tensor handle is exactly such a pointer); null if libtorch refused. tch's
// `pin_memory` passes a device argument that libtorch 2.11 deprecates with a warning per call.
at::Tensor* pz_pin_memory(const at::Tensor* t) {
  try {
    return new at::Tensor(t->pin_memory());
  } catch (...) {
    return nullptr;
  }
}

}  // extern "C"
