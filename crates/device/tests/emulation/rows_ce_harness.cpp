// The kernels of kernels/rows_cross_entropy.cu run on the CPU: one std::thread per CUDA thread
// of a block, a barrier for __syncthreads and one per warp for its shuffles, the CUDA intrinsics
// they use as plain C++. Checks the per-row loss, log-sum-exp and bf16 gradient against double
// references on padded rows with an ignored and an out-of-range target, with blocks of one and
// two warps. Built and run by tests/rows_ce_emulated.rs (a GPU is not needed to catch an index
// or reduction mistake; the GPU test compares with PyTorch on the device).
#include <barrier>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <thread>
#include <vector>
#include <functional>

struct Dim { unsigned x; };
thread_local Dim threadIdx, blockIdx;
Dim blockDim;
static std::barrier<>* block_barrier;
static std::vector<std::barrier<>*> warp_barriers;
static float shuffle_slots[1024];

#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
static inline float __uint_as_float(unsigned u) { float f; std::memcpy(&f, &u, 4); return f; }
static inline unsigned __float_as_uint(float f) { unsigned u; std::memcpy(&u, &f, 4); return u; }
static inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
static inline void __syncthreads() { block_barrier->arrive_and_wait(); }
static inline float __shfl_down_sync(unsigned, float v, int off) {
  unsigned t = threadIdx.x, lane = t % 32, warp = t / 32;
  shuffle_slots[t] = v;
  warp_barriers[warp]->arrive_and_wait();
  float r = lane + off < 32 ? shuffle_slots[t + off] : v;
  warp_barriers[warp]->arrive_and_wait();
  return r;
}
#include <math.h>

#include KERNEL_SOURCE

void run(unsigned blocks, unsigned threads, std::function<void()> body) {
  blockDim.x = threads;
  for (unsigned b = 0; b < blocks; ++b) {
    std::barrier<> bb(threads);
    block_barrier = &bb;
    std::vector<std::barrier<>*> wb;
    for (unsigned w = 0; w < threads / 32; ++w) wb.push_back(new std::barrier<>(32));
    warp_barriers = wb;
    std::vector<std::thread> ts;
    for (unsigned t = 0; t < threads; ++t) ts.emplace_back([&, t, b] { threadIdx.x = t; blockIdx.x = b; body(); });
    for (auto& t : ts) t.join();
    for (auto* w : wb) delete w;
  }
}

static unsigned short to_bf16_trunc(float f) { return __float_as_uint(f) >> 16; }  // exact inputs
static float from_bf16(unsigned short h) { return __uint_as_float(unsigned(h) << 16); }

int main() {
  const int N = 7, cols = 101, stride = 128;  // padding 27 columns
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.f, 4.f);
  std::vector<unsigned short> x(N * stride);
  for (auto& v : x) v = to_bf16_trunc(nd(rng));
  std::vector<long long> tg = {0, 100, -100, 57, 3, 101, 64};  // ignored row 2, out of range row 5
  std::vector<float> loss(N), lse(N), grow(N);
  for (int r = 0; r < N; ++r) grow[r] = 0.5f + r;
  std::vector<unsigned short> grad(N * stride, 0xBEEF);
  int fails = 0;
  for (unsigned threads : {32u, 64u}) {
    run(N, threads, [&] { pz_rows_ce_forward((const unsigned*)x.data(), tg.data(), loss.data(), lse.data(), stride / 2, cols, -100); });
    run(N, threads, [&] { pz_rows_ce_backward((const unsigned*)x.data(), tg.data(), lse.data(), grow.data(), (unsigned*)grad.data(), stride / 2, cols, -100); });
    for (int r = 0; r < N; ++r) {
      double m = -1e300, s = 0;
      for (int c = 0; c < cols; ++c) m = std::max(m, (double)from_bf16(x[r * stride + c]));
      for (int c = 0; c < cols; ++c) s += std::exp(from_bf16(x[r * stride + c]) - m);
      double l = m + std::log(s);
      long long t = tg[r];
      double want = t == -100 ? 0 : (t < 0 || t >= cols) ? NAN : l - from_bf16(x[r * stride + t]);
      bool ok = std::isnan(want) ? std::isnan(loss[r]) : std::fabs(loss[r] - want) < 1e-4;
      if (std::fabs(lse[r] - l) > 1e-4 || !ok) { ++fails; printf("row %d: loss %g want %g lse %g want %g\n", r, loss[r], want, lse[r], l); }
      for (int c = 0; c < stride; ++c) {
        double g = 0;
        if (c < cols && t != -100 && !(t < 0 || t >= cols)) g = grow[r] * (std::exp(from_bf16(x[r * stride + c]) - l) - (c == t));
        float got = from_bf16(grad[r * stride + c]);
        double tol = std::fabs(g) * 1.0 / 128 + 1e-30;
        if (t >= cols) continue;  // out-of-range target: gradient unspecified
        if (std::fabs(got - g) > tol) { ++fails; if (fails < 10) printf("grad r%d c%d got %g want %g\n", r, c, got, g); }
      }
    }
    printf("threads %u: %d failures\n", threads, fails);
  }
  return fails != 0;
}
