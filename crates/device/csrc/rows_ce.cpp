// Cross-entropy of bf16 logit rows as a libtorch autograd Function whose forward and backward
// are one run-time compiled kernel each (kernels/rows_cross_entropy.cu, compiled by Rust's
// KernelSource, handed in as driver function handles). rows_ce.rs says why.
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

extern "C" int pz_kernel_launch(void* function, int device, const unsigned* grid, const unsigned* block,
                                void** args, char* error, size_t error_len);

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Threads per row: 50,304 columns are ~49 bf16 pairs a thread, read coalesced.
constexpr unsigned kBlock = 512;

void launch(int64_t function, int64_t device, int64_t rows, void** args) {
  unsigned grid[3] = {static_cast<unsigned>(rows), 1, 1};
  unsigned block[3] = {kBlock, 1, 1};
  char error[512] = {0};
  if (pz_kernel_launch(reinterpret_cast<void*>(function), static_cast<int>(device), grid, block, args,
                       error, sizeof error) != 0) {
    throw std::runtime_error(std::string("rows cross-entropy kernel: ") + error);
  }
}

struct RowsCrossEntropy : public torch::autograd::Function<RowsCrossEntropy> {
  // logits [N, S] bf16 contiguous (S even), targets [N] int64: per-row losses [N] float32.
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& logits, const at::Tensor& targets,
                            int64_t cols, int64_t ignore, int64_t forward_fn, int64_t backward_fn,
                            int64_t device) {
    const int64_t rows = logits.size(0);
    auto loss = at::empty({rows}, logits.options().dtype(at::kFloat));
    auto lse = at::empty({rows}, logits.options().dtype(at::kFloat));
    const void* x = logits.data_ptr();
    const void* t = targets.data_ptr();
    void* l = loss.data_ptr();
    void* e = lse.data_ptr();
    int half_stride = static_cast<int>(logits.size(1) / 2);
    int c = static_cast<int>(cols);
    long long ig = ignore;
    void* args[] = {&x, &t, &l, &e, &half_stride, &c, &ig};
    if (rows > 0) launch(forward_fn, device, rows, args);
    ctx->save_for_backward({logits, targets, lse});
    ctx->saved_data["cols"] = cols;
    ctx->saved_data["ignore"] = ignore;
    ctx->saved_data["backward_fn"] = backward_fn;
    ctx->saved_data["device"] = device;
    return loss;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    // A second derivative would silently be zero here: refuse it (the Hessians run in float32,
    // where the model does not take this path).
    if (c10::GradMode::is_enabled()) {
      throw std::runtime_error(
          "the fused bf16 cross-entropy has no double backward: take second derivatives in "
          "float32");
    }
    auto saved = ctx->get_saved_variables();
    const at::Tensor& logits = saved[0];
    const at::Tensor& targets = saved[1];
    const at::Tensor& lse = saved[2];
    auto grad_rows = grad_outputs[0].to(at::kFloat).contiguous();
    auto grad = at::empty_like(logits, at::MemoryFormat::Contiguous);
    const void* x = logits.data_ptr();
    const void* t = targets.data_ptr();
    const void* e = lse.data_ptr();
    const void* g = grad_rows.data_ptr();
    void* out = grad.data_ptr();
    int half_stride = static_cast<int>(logits.size(1) / 2);
    int c = static_cast<int>(ctx->saved_data["cols"].toInt());
    long long ig = ctx->saved_data["ignore"].toInt();
    void* args[] = {&x, &t, &e, &g, &out, &half_stride, &c, &ig};
    if (logits.size(0) > 0) {
      launch(ctx->saved_data["backward_fn"].toInt(), ctx->saved_data["device"].toInt(), logits.size(0),
             args);
    }
    // One gradient per forward argument: the logits', none for the rest.
    return {grad, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

void write_text(char* error, size_t len, const std::string& message) {
  if (len == 0) return;
  size_t n = message.size() < len - 1 ? message.size() : len - 1;
  std::memcpy(error, message.data(), n);
  error[n] = '\0';
}

}  // namespace

extern "C" {

// Per-row cross-entropy losses [N] (float32, with a grad_fn when `logits` requires grad) of
// `logits` [N, S] (bf16, contiguous, CUDA, S even) against `targets` [N] (int64, same device):
// columns >= `cols` are padding, targets equal to `ignore` give 0. `forward_fn` and
// `backward_fn` are the driver handles of pz_rows_ce_forward and pz_rows_ce_backward for
// `device`. Returns a new owned tensor handle, or null with the reason in `error`.
at::Tensor* pz_rows_cross_entropy(const at::Tensor* logits, const at::Tensor* targets, long long cols,
                                  long long ignore, void* forward_fn, void* backward_fn, int device,
                                  char* error, size_t error_len) {
  try {
    auto out = RowsCrossEntropy::apply(*logits, *targets, static_cast<int64_t>(cols),
                                       static_cast<int64_t>(ignore), reinterpret_cast<int64_t>(forward_fn),
                                       reinterpret_cast<int64_t>(backward_fn), static_cast<int64_t>(device));
    return new at::Tensor(out);
  } catch (const std::exception& e) {
    write_text(error, error_len, e.what());
  } catch (...) {
    write_text(error, error_len, "unknown C++ exception");
  }
  return nullptr;
}

}  // extern "C"
