// libtorch's Kineto profiler (what torch.profiler drives from Python), for finding where a
// training step's time goes in a phasezoo binary: CPU operators and, on CUDA builds, the GPU
// kernels, written as a Chrome trace. tch has no binding for it.
#include <torch/csrc/autograd/profiler_kineto.h>

#include <cstring>
#include <set>
#include <string>

namespace {
using torch::profiler::impl::ActivityType;
using torch::profiler::impl::ProfilerConfig;
using torch::profiler::impl::ProfilerState;

void write_message(char* buffer, int64_t size, const char* message) {
  if (buffer == nullptr || size <= 0) return;
  std::strncpy(buffer, message, static_cast<size_t>(size - 1));
  buffer[size - 1] = '\0';
}

// Runs `body` (returning 0 on success), turning any exception into 1 and its message.
template <typename Body>
int guarded(char* message, int64_t message_size, Body&& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    write_message(message, message_size, e.what());
    return 1;
  } catch (...) {
    write_message(message, message_size, "unknown exception");
    return 1;
  }
}

std::set<ActivityType> activities(int cuda) {
  std::set<ActivityType> set{ActivityType::CPU};
  if (cuda != 0) set.insert(ActivityType::CUDA);
  return set;
}
}  // namespace

extern "C" {

// Start profiling this thread's operators (and CUDA kernels when `cuda` is 1). Returns 0, or 1
// with the reason in `message`.
int pz_profiler_start(int cuda, char* message, int64_t message_size) {
  return guarded(message, message_size, [&] {
    ProfilerConfig config(ProfilerState::KINETO, /*report_input_shapes=*/true);
    torch::autograd::profiler::prepareProfiler(config, activities(cuda));
    torch::autograd::profiler::enableProfiler(config, activities(cuda));
    return 0;
  });
}

// Stop the profiler started by pz_profiler_start and write its Chrome trace to `path`.
int pz_profiler_stop(const char* path, char* message, int64_t message_size) {
  return guarded(message, message_size, [&] {
    auto result = torch::autograd::profiler::disableProfiler();
    if (!result) {
      write_message(message, message_size, "no profiler was running");
      return 1;
    }
    result->save(std::string(path));
    return 0;
  });
}

}  // extern "C"
