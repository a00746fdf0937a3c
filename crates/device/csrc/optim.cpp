// Optimizer steps as multi-tensor (foreach) and fused kernels whose learning rate and momentum
// are device tensors, so a captured CUDA graph replays them with the values of each step instead
// of the ones frozen at capture; and the gradient handling around a step (clipping, clearing).
// tch 0.24 wraps no foreach op (it skips tensor-list arguments).
// Compiled everywhere: on CPU the same ops run as per-tensor loops (tests compare them there).
#include <ATen/core/Tensor.h>
#include <ATen/ops/_foreach_add.h>
#include <ATen/ops/_foreach_copy.h>
#include <ATen/ops/_foreach_mul.h>
#include <ATen/ops/_foreach_norm.h>
#include <ATen/ops/_foreach_sub.h>
#include <ATen/ops/_fused_adam.h>
#include <ATen/ops/_fused_adamw.h>
#include <ATen/ops/_fused_sgd.h>
#include <ATen/ops/linalg_vector_norm.h>
#include <ATen/ops/stack.h>

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

// PyTorch's fused AdamW kernel (`torch.optim.AdamW(fused=True)`: decoupled weight decay
// p *= 1 - lr·wd, then Adam's update; no AMSGrad) over two parameter groups in one call: those
// with decays[i] != 0 take `weight_decay`, the others none (nanoGPT's groups). The learning rate
// is a 0-dim device tensor; `step` is ONE 0-dim float tensor on the device counting the steps
// taken, incremented here once before the update and read by the kernel for every parameter
// (its bias corrections), so a captured graph replays correct steps and nothing synchronizes
// with the host. Returns 0, or 1 if libtorch refused.
int pz_fused_adamw_step(const at::Tensor* const* params, const at::Tensor* const* grads,
                        const at::Tensor* const* exp_avgs, const at::Tensor* const* exp_avg_sqs,
                        const unsigned char* decays, long long n, const at::Tensor* step,
                        const at::Tensor* lr, double beta1, double beta2, double weight_decay,
                        double eps) {
  try {
    std::vector<at::Tensor> p[2], g[2], m[2], v[2];
    for (long long i = 0; i < n; ++i) {
      int k = decays[i] != 0 ? 1 : 0;
      p[k].push_back(*params[i]);
      g[k].push_back(*grads[i]);
      m[k].push_back(*exp_avgs[i]);
      v[k].push_back(*exp_avg_sqs[i]);
    }
    step->add_(1.0);
    for (int k = 0; k < 2; ++k) {
      if (p[k].empty()) continue;
      std::vector<at::Tensor> steps(p[k].size(), *step);  // the kernel only reads them
      at::_fused_adamw_(p[k], g[k], m[k], v[k], /*max_exp_avg_sqs=*/{}, steps, *lr, beta1, beta2,
                        k == 1 ? weight_decay : 0.0, eps, /*amsgrad=*/false, /*maximize=*/false);
    }
    return 0;
  } catch (...) {
    return 1;
  }
}

// torch.nn.utils.clip_grad_norm_ with its multi-tensor kernels (foreach=True, the default on
// CUDA): total = ‖(‖g_i‖)_i‖; every gradient *= min(1, max_norm / (total + 1e-6)), in place,
// with no host synchronization. Returns the total norm as a new owned tensor handle, or null if
// libtorch refused.
at::Tensor* pz_clip_grad_norm(const at::Tensor* const* grads, long long n, double max_norm) {
  try {
    auto g = to_list(grads, n);
    auto norms = at::_foreach_norm(g, 2.0);
    auto total = at::linalg_vector_norm(at::stack(norms), 2.0);
    // max_norm / (total + 1e-6) as PyTorch evaluates a number over a tensor: reciprocal, times.
    auto coef = total.add(1e-6).reciprocal().mul(max_norm).clamp_max(1.0);
    at::_foreach_mul_(g, coef);
    return new at::Tensor(total);
  } catch (...) {
    return nullptr;
  }
}

// dst[i].copy_(src[i]) for every i with the multi-tensor kernel (`torch._foreach_copy_`),
// converting dtypes (float32 <-> bfloat16, rounding to nearest even as `Tensor.to` does): a few
// launches for a whole parameter list instead of one per tensor. Returns 0, or 1 if libtorch
// refused (lists of different lengths or shapes, or on different devices).
int pz_foreach_copy(const at::Tensor* const* dst, const at::Tensor* const* src, long long n) {
  try {
    auto d = to_list(dst, n);
    auto s = to_list(src, n);
    at::_foreach_copy_(d, s, /*non_blocking=*/false);
    return 0;
  } catch (...) {
    return 1;
  }
}

// Drop the gradients of `n` tensors (PyTorch's zero_grad(set_to_none=True)): the next backward
// writes fresh gradients instead of adding to zeroed ones, which saves a zeroing kernel and a
// read-modify-write of every gradient. Returns 0, or 1 if libtorch refused.
int pz_clear_grads(const at::Tensor* const* tensors, long long n) {
  try {
    for (long long i = 0; i < n; ++i) tensors[i]->mutable_grad().reset();
    return 0;
  } catch (...) {
    return 1;
  }
}

}  // extern "C"
