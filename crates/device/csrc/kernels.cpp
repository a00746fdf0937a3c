// CUDA C++ kernels compiled at run time (NVRTC) and launched on libtorch's current stream.
// Compiled only where CUDA headers exist (build.rs). Plain C values across the boundary, no
// exceptions escape.
//
// Why not link NVRTC and the driver: the build machine needs no CUDA toolkit, and the binary
// must start on machines without a GPU. libtorch already loads both on first use of its own
// run-time compiled kernels (libcaffe2_nvrtc needs libnvrtc and libcuda); this file asks
// libtorch to load them, then finds the few functions it needs with dlsym.
#include <ATen/Context.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda.h>
#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

namespace {

// NVRTC's C API, declared here because the wheel's CUDA headers that the build uses lack nvrtc.h.
typedef struct _nvrtcProgram* nvrtcProgram;
typedef int (*nvrtcCreateProgram_t)(nvrtcProgram*, const char*, const char*, int, const char* const*,
                                    const char* const*);
typedef int (*nvrtcCompileProgram_t)(nvrtcProgram, int, const char* const*);
typedef int (*nvrtcGetSize_t)(nvrtcProgram, size_t*);
typedef int (*nvrtcGetBytes_t)(nvrtcProgram, char*);
typedef int (*nvrtcDestroyProgram_t)(nvrtcProgram*);
typedef const char* (*nvrtcGetErrorString_t)(int);
typedef int (*nvrtcVersion_t)(int*, int*);

struct Api {
  nvrtcCreateProgram_t create = nullptr;
  nvrtcCompileProgram_t compile = nullptr;
  nvrtcGetSize_t log_size = nullptr;
  nvrtcGetBytes_t log = nullptr;
  nvrtcGetSize_t cubin_size = nullptr;
  nvrtcGetBytes_t cubin = nullptr;
  nvrtcDestroyProgram_t destroy = nullptr;
  nvrtcGetErrorString_t nvrtc_error = nullptr;
  nvrtcVersion_t version = nullptr;
  CUresult (*module_load)(CUmodule*, const void*) = nullptr;
  CUresult (*get_function)(CUfunction*, CUmodule, const char*) = nullptr;
  CUresult (*launch)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                     unsigned, CUstream, void**, void**) = nullptr;
  CUresult (*ctx_get_current)(CUcontext*) = nullptr;
  CUresult (*ctx_set_current)(CUcontext) = nullptr;
  CUresult (*primary_ctx_retain)(CUcontext*, CUdevice) = nullptr;
  CUresult (*error_string)(CUresult, const char**) = nullptr;
  CUresult (*device_attribute)(int*, CUdevice_attribute, CUdevice) = nullptr;
  CUresult (*device_get)(CUdevice*, int) = nullptr;
  std::string missing;  // why the API is unusable, empty when it is
};

void* open_loaded(const char* const* names) {
  for (const char* const* n = names; *n; ++n) {
    if (void* h = dlopen(*n, RTLD_LAZY | RTLD_NOLOAD)) return h;
  }
  for (const char* const* n = names; *n; ++n) {
    if (void* h = dlopen(*n, RTLD_LAZY)) return h;
  }
  return nullptr;
}

template <typename F>
void find(void* lib, const char* name, F& f, std::string& missing) {
  f = reinterpret_cast<F>(lib ? dlsym(lib, name) : nullptr);
  if (!f && missing.empty()) missing = std::string("no ") + name + " in the loaded CUDA libraries";
}

const Api& api() {
  static Api a;
  static std::once_flag once;
  std::call_once(once, [] {
    try {
      (void)at::globalContext().getNVRTC();  // loads libcaffe2_nvrtc → libnvrtc, libcuda
    } catch (const std::exception& e) {
      a.missing = e.what();
      return;
    }
    const char* nvrtc_names[] = {"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so", nullptr};
    const char* cuda_names[] = {"libcuda.so.1", "libcuda.so", nullptr};
    void* nvrtc = open_loaded(nvrtc_names);
    void* cuda = open_loaded(cuda_names);
    if (!nvrtc) a.missing = "libnvrtc is not loaded";
    if (!cuda) a.missing = "libcuda is not loaded";
    find(nvrtc, "nvrtcCreateProgram", a.create, a.missing);
    find(nvrtc, "nvrtcCompileProgram", a.compile, a.missing);
    find(nvrtc, "nvrtcGetProgramLogSize", a.log_size, a.missing);
    find(nvrtc, "nvrtcGetProgramLog", a.log, a.missing);
    find(nvrtc, "nvrtcGetCUBINSize", a.cubin_size, a.missing);
    find(nvrtc, "nvrtcGetCUBIN", a.cubin, a.missing);
    find(nvrtc, "nvrtcDestroyProgram", a.destroy, a.missing);
    find(nvrtc, "nvrtcGetErrorString", a.nvrtc_error, a.missing);
    find(nvrtc, "nvrtcVersion", a.version, a.missing);
    find(cuda, "cuModuleLoadData", a.module_load, a.missing);
    find(cuda, "cuModuleGetFunction", a.get_function, a.missing);
    find(cuda, "cuLaunchKernel", a.launch, a.missing);
    find(cuda, "cuCtxGetCurrent", a.ctx_get_current, a.missing);
    find(cuda, "cuCtxSetCurrent", a.ctx_set_current, a.missing);
    find(cuda, "cuDevicePrimaryCtxRetain", a.primary_ctx_retain, a.missing);
    find(cuda, "cuGetErrorString", a.error_string, a.missing);
    find(cuda, "cuDeviceGetAttribute", a.device_attribute, a.missing);
    find(cuda, "cuDeviceGet", a.device_get, a.missing);
  });
  return a;
}

// Makes `device` current for the guard's life (c10's CUDAGuard would pull in CUDA runtime symbols
// that this library does not link).
struct DeviceGuard {
  c10::DeviceIndex previous;
  explicit DeviceGuard(int device) : previous(c10::cuda::current_device()) {
    if (previous != device) c10::cuda::set_device(static_cast<c10::DeviceIndex>(device));
  }
  ~DeviceGuard() {
    try {
      if (c10::cuda::current_device() != previous) c10::cuda::set_device(previous);
    } catch (...) {
    }
  }
};

// Copies `message` into the caller's buffer `error` of `len` bytes, NUL-terminated, cut to fit.
void write_text(char* error, size_t len, const std::string& message) {
  if (len == 0) return;
  std::strncpy(error, message.c_str(), len - 1);
  error[len - 1] = '\0';
}

std::string cu_error(const Api& a, CUresult r) {
  const char* s = nullptr;
  if (a.error_string) a.error_string(r, &s);
  return s ? std::string(s) : "CUDA driver error " + std::to_string(static_cast<int>(r));
}

// The current device's primary context, which libtorch's runtime calls use, made current on
// this thread (a thread that has made no runtime call yet may have none).
bool make_context_current(const Api& a, int device, std::string& why) {
  CUcontext ctx = nullptr;
  CUresult r = a.ctx_get_current(&ctx);
  if (r == CUDA_SUCCESS && ctx) return true;
  CUdevice dev = 0;
  r = a.device_get(&dev, device);
  if (r == CUDA_SUCCESS) r = a.primary_ctx_retain(&ctx, dev);
  if (r == CUDA_SUCCESS) r = a.ctx_set_current(ctx);
  if (r != CUDA_SUCCESS) {
    why = "no CUDA context: " + cu_error(a, r);
    return false;
  }
  return true;
}

// Runs `body` (0, or 1 having set `error`) and turns any C++ exception into 1 with its message:
// none may cross into Rust.
template <typename F>
int catching(char* error, size_t error_len, F&& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    write_text(error, error_len, e.what());
  } catch (...) {
    write_text(error, error_len, "unknown C++ exception");
  }
  return 1;
}

// The API usable and `device`'s primary context current on this thread, or 1 with the reason.
int ready(const Api& a, int device, char* error, size_t error_len) {
  if (!a.missing.empty()) {
    write_text(error, error_len, "run-time compilation is unavailable: " + a.missing);
    return 1;
  }
  std::string why;
  if (!make_context_current(a, device, why)) {
    write_text(error, error_len, why);
    return 1;
  }
  return 0;
}

// `--gpu-architecture=sm_XY` for `device`.
std::string arch_option(const Api& a, int device) {
  CUdevice dev = 0;
  int major = 0, minor = 0;
  a.device_get(&dev, device);
  a.device_attribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev);
  a.device_attribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev);
  return "--gpu-architecture=sm_" + std::to_string(major) + std::to_string(minor);
}

}  // namespace

extern "C" {

// What a compiled kernel depends on besides its source and options: `device`'s architecture
// and NVRTC's version, e.g. "--gpu-architecture=sm_90 nvrtc 13.0", into `out` (a cache key).
// Returns 0, or 1 with the reason in `out`.
int pz_kernel_target(int device, char* out, size_t out_len) {
  return catching(out, out_len, [&] {
    const Api& a = api();
    DeviceGuard guard(device);
    if (ready(a, device, out, out_len) != 0) return 1;
    int major = 0, minor = 0;
    if (a.version) a.version(&major, &minor);
    write_text(out, out_len, arch_option(a, device) + " nvrtc " + std::to_string(major) + "." +
                                std::to_string(minor));
    return 0;
  });
}

// Compiles `source` (file name `file` in messages) with NVRTC for `device`'s architecture, with
// `n_options` extra options (defines), into a cubin that `*cubin` points to afterwards
// (malloc'd: the caller frees it with pz_kernel_free) of `*cubin_len` bytes. Returns 0, or 1
// with the reason (NVRTC's log for a compile error) in `error`.
int pz_kernel_build(const char* source, const char* file, const char* const* options,
                    int n_options, int device, char** cubin, size_t* cubin_len, char* error,
                    size_t error_len) {
  return catching(error, error_len, [&] {
    const Api& a = api();
    DeviceGuard guard(device);
    if (ready(a, device, error, error_len) != 0) return 1;
    std::string arch = arch_option(a, device);
    std::vector<const char*> opts = {arch.c_str(), "-std=c++17"};
    for (int i = 0; i < n_options; ++i) opts.push_back(options[i]);
    nvrtcProgram prog = nullptr;
    int r = a.create(&prog, source, file, 0, nullptr, nullptr);
    if (r != 0) {
      write_text(error, error_len, std::string("nvrtcCreateProgram: ") + a.nvrtc_error(r));
      return 1;
    }
    r = a.compile(prog, static_cast<int>(opts.size()), opts.data());
    if (r != 0) {
      size_t n = 0;
      a.log_size(prog, &n);
      std::string log(n, '\0');
      a.log(prog, log.data());
      a.destroy(&prog);
      write_text(error, error_len, std::string(file) + " does not compile (" + arch + "): " + log);
      return 1;
    }
    size_t n = 0;
    a.cubin_size(prog, &n);
    char* bytes = static_cast<char*>(std::malloc(n > 0 ? n : 1));
    if (!bytes) {
      a.destroy(&prog);
      write_text(error, error_len, "out of host memory for the cubin of " + std::string(file));
      return 1;
    }
    a.cubin(prog, bytes);
    a.destroy(&prog);
    *cubin = bytes;
    *cubin_len = n;
    return 0;
  });
}

// Frees a cubin from pz_kernel_build.
void pz_kernel_free(char* cubin) { std::free(cubin); }

// Loads `cubin` (from pz_kernel_build, now or in an earlier process for the same target) into
// `device`'s primary context and stores the handles of the `n_names` kernels named in `names`
// into `functions` (CUfunction values, valid for the process's life). Must not run during a
// CUDA graph capture. Returns 0, or 1 with the reason in `error` (`file` names the source).
int pz_kernel_load(const char* cubin, const char* file, const char* const* names, int n_names,
                   int device, void** functions, char* error, size_t error_len) {
  return catching(error, error_len, [&] {
    const Api& a = api();
    DeviceGuard guard(device);
    if (ready(a, device, error, error_len) != 0) return 1;
    CUmodule module = nullptr;  // kept for the process's life, as the kernels in it
    CUresult cr = a.module_load(&module, cubin);
    if (cr != CUDA_SUCCESS) {
      write_text(error, error_len, std::string("loading ") + file + ": " + cu_error(a, cr));
      return 1;
    }
    for (int i = 0; i < n_names; ++i) {
      CUfunction f = nullptr;
      cr = a.get_function(&f, module, names[i]);
      if (cr != CUDA_SUCCESS) {
        write_text(error, error_len, std::string("no kernel ") + names[i] + " in " + file + ": " + cu_error(a, cr));
        return 1;
      }
      functions[i] = reinterpret_cast<void*>(f);
    }
    return 0;
  });
}

// Launches `function` (from pz_kernel_compile) on `device`'s current stream with a grid and
// block of three dimensions each and the kernel's arguments (`args[i]` points at argument i's
// bytes). Captured like any other kernel while the stream captures a graph. Returns 0, or 1
// with the reason in `error`.
int pz_kernel_launch(void* function, int device, const unsigned* grid, const unsigned* block,
                     void** args, char* error, size_t error_len) {
  return catching(error, error_len, [&] {
    const Api& a = api();
    DeviceGuard guard(device);
    std::string why;
    if (!a.missing.empty() || !make_context_current(a, device, why)) {
      write_text(error, error_len, a.missing.empty() ? why : a.missing);
      return 1;
    }
    CUstream stream = c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device)).stream();
    CUresult r = a.launch(reinterpret_cast<CUfunction>(function), grid[0], grid[1], grid[2],
                          block[0], block[1], block[2], 0, stream, args, nullptr);
    if (r != CUDA_SUCCESS) {
      write_text(error, error_len, "cuLaunchKernel: " + cu_error(a, r));
      return 1;
    }
    return 0;
  });
}

}  // extern "C"
