// Optimizer steps as multi-tensor (foreach) kernels whose learning rate and momentum are device
// tensors, so a captured CUDA graph replays them with the values of each step instead of the
// ones frozen at capture. tch 0.24 wraps no foreach op (it skips tensor-list arguments).
// Compiled everywhere: on CPU the same ops run as per-tensor loops (tests compare them there).
#include <ATen/core/Tensor.h>
#include <ATen/ops/_foreach_add.h>
#include <ATen/ops/_foreach_mul.h>
#include <ATen/ops/_foreach_sub.h>

#include <vector>

namespace {
std::vector<at::Tensor> to_list(const at::Tensor* const* handles, long long n) {
  std::vector<at::Tensor> list;
  list.reserve(static_cast<size_t>(n));
  for (long long i = 0; i < n; ++i) list.push_back(*handles[i]);
  return list;
}
}  // namespace

extern "C" {

// SGD with momentum and L2 weight decay (torch.optim.SGD, dampening 0, no Nesterov) on `n`
// parameters, in place: d = g + wd·p; buf = μ·buf + d; p −= lr·buf. `momentum` and `lr` are
// 0-dim tensors on the parameters' device. Buffers start at zero, which makes the first step
// buf = d, as PyTorch's first step. No host synchronization. Returns 0, or 1 if libtorch refused
// (mismatched lists, devices or dtypes).
int pz_sgd_step(const at::Tensor* const* params, const at::Tensor* const* grads,
                const at::Tensor* const* buffers, long long n, double weight_decay,
                const at::Tensor* momentum, const at::Tensor* lr) {
  try {
    auto p = to_list(params, n);
    auto g = to_list(grads, n);
    auto buf = to_list(buffers, n);
    auto d = weight_decay != 0.0 ? at::_foreach_add(g, p, weight_decay) : g;
    at::_foreach_mul_(buf, *momentum);
    at::_foreach_add_(buf, d);
    at::_foreach_sub_(p, at::_foreach_mul(buf, *lr));
    return 0;
  } catch (...) {
    return 1;
  }
}

}  // extern "C"
