// One Adam step of one stacked parameter tensor of a population (crates/train/src/adam.rs,
// BatchedAdam), one element per thread of a grid-stride loop.
//
// Why: libtorch's tensor operations take ~11 element-wise kernels per parameter tensor for this
// update, each reading and writing whole tensors through GPU memory (~0.5 ms of the PINN zoo's
// 5.8 ms step on an H200). Here each element of p, g, m, v is read once and p, m, v written once.
//
// The arithmetic is that of BatchedAdam's tensor update, operation by operation, in the same
// order and in `real` precision, with the double scalars rounded to `real` as libtorch rounds a
// scalar operand:
//   g' = weight_decay > 0 ? g + p·wd : g
//   m  = m·β1 + g'·(1 − β1)
//   v  = v·β2 + (g'·(1 − β2))·g'
//   p  = p + (m·(lr[k]·neg_inv_bias1)) / (√v / bias2_sqrt + ε)
// The bias corrections are read from device memory at run time, not passed by value: a CUDA
// graph replays this launch with the arguments of its capture, while BatchedAdam::advance
// writes each step's corrections to the same two scalars.
//
// Compiled at run time by NVRTC (crates/train/src/fused_adam.rs) with --fmad=false, so that no
// multiply and add are contracted where the tensor update rounds both, and, for float64,
// -DPZ_DOUBLE.
//
// Layouts (K members, N = K · per_member elements), all contiguous, of type `real`:
//   p, g, m (exp_avg), v (exp_avg_sq): [K, per_member] (a member's elements in a row)
//   lr: [K]; neg_inv_bias1 = −1/(1 − β1^t), bias2_sqrt = √(1 − β2^t): one value each

#ifdef PZ_DOUBLE
typedef double real;
#else
typedef float real;
#endif

extern "C" __global__ void pz_batched_adam(real* __restrict__ p, const real* __restrict__ g,
                                           real* __restrict__ m, real* __restrict__ v,
                                           const real* __restrict__ lr,
                                           const real* __restrict__ neg_inv_bias1,
                                           const real* __restrict__ bias2_sqrt, double beta1,
                                           double beta2, double eps, double weight_decay,
                                           int per_member, int n) {
  const real b1 = static_cast<real>(beta1);
  const real one_minus_b1 = static_cast<real>(1.0 - beta1);
  const real b2 = static_cast<real>(beta2);
  const real one_minus_b2 = static_cast<real>(1.0 - beta2);
  const real epsilon = static_cast<real>(eps);
  const real decay = static_cast<real>(weight_decay);
  const bool decays = weight_decay > 0.0;
  const real inv_bias1 = *neg_inv_bias1;
  const real bias2 = *bias2_sqrt;
  // A 64-bit loop index, since i + stride may pass INT_MAX when n is close to it; inside the
  // loop i < n fits an int, and the member's index is a 32-bit division (a 64-bit one is a long
  // software sequence on the GPU).
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    const real step_size = lr[static_cast<int>(i) / per_member] * inv_bias1;
    const real pi = p[i];
    const real gi = decays ? g[i] + pi * decay : g[i];
    const real mi = m[i] * b1 + gi * one_minus_b1;
    const real vi = v[i] * b2 + (gi * one_minus_b2) * gi;
    const real denom = sqrt(vi) / bias2 + epsilon;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi + (mi * step_size) / denom;
  }
}
