// Optimizer steps as multi-tensor (foreach) kernels whose learning rate and momentum are device
// tensors, so a captured CUDA graph replays them with the values of each step instead of the
// ones frozen at capture. tch 0.24 wraps no foreach op (it skips tensor-list arguments).
// Compiled everywhere: on CPU the same ops run as per-tensor loops (tests compare them there).
#include <ATen/core/Tensor.h>
#include <ATen/ops/_foreach_add.h>
#include <ATen/ops/_fused_adam.h>
#include <ATen/ops/_fused_sgd.h>
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

// PyTorch's fused SGD kernel (`torch.optim.SGD(fused=True)`) with the learning rate in a 0-dim
// device tensor: one kernel per list instead of four multi-tensor passes. Its momentum is a plain
// number, frozen into a captured graph, so it suits schedules whose momentum stays fixed.
// Buffers start at zero (then `is_first_step` is unnecessary: buf = 0·μ + d = d). Returns 0, or
// 1 if libtorch refused.
int pz_fused_sgd_step(const at::Tensor* const* params, const at::Tensor* const* grads,
                      const at::Tensor* const* buffers, long long n, double weight_decay,
                      double momentum, const at::Tensor* lr) {
  try {
    auto p = to_list(params, n);
    auto g = to_list(grads, n);
    auto buf = to_list(buffers, n);
    at::_fused_sgd_(p, g, buf, weight_decay, momentum, *lr, /*dampening=*/0.0,
                    /*nesterov=*/false, /*maximize=*/false, /*is_first_step=*/false);
    return 0;
  } catch (...) {
    return 1;
  }
}

// PyTorch's fused Adam kernel (`torch.optim.Adam(fused=True)`, L2 weight decay, no AMSGrad) with
// the learning rate in a 0-dim device tensor. `steps` are 0-dim float tensors on the device, one
// per parameter, counting the steps taken: they are incremented here before the update (as
// torch.optim.Adam does), and the kernel reads its bias corrections from them, so a captured
// graph replays correct steps. Returns 0, or 1 if libtorch refused.
int pz_fused_adam_step(const at::Tensor* const* params, const at::Tensor* const* grads,
                       const at::Tensor* const* exp_avgs, const at::Tensor* const* exp_avg_sqs,
                       const at::Tensor* const* steps, long long n, const at::Tensor* lr,
                       double beta1, double beta2, double weight_decay, double eps) {
  try {
    auto p = to_list(params, n);
    auto g = to_list(grads, n);
    auto m = to_list(exp_avgs, n);
    auto v = to_list(exp_avg_sqs, n);
    auto t = to_list(steps, n);
    at::_foreach_add_(t, 1.0);
    at::_fused_adam_(p, g, m, v, /*max_exp_avg_sqs=*/{}, t, *lr, beta1, beta2, weight_decay, eps,
                     /*amsgrad=*/false, /*maximize=*/false);
    return 0;
  } catch (...) {
    return 1;
  }
}

}  // extern "C"
