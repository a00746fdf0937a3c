// Cross-entropy of bfloat16 logit rows, one block per row (rows_ce.rs says why and where).
// bf16 values travel as their 16-bit patterns (two to a 32-bit word, element 2j in the low half,
// little-endian): NVRTC needs no cuda_bf16.h. Arithmetic in float32, as PyTorch's autocast runs
// cross_entropy; the gradient is rounded to bf16 to nearest, ties to even, as its cast does.
//
// Layout: row r's logits are words [r * half_stride, (r + 1) * half_stride); columns >= cols
// (the tied head's padding) take no part in the softmax and get a zero gradient.

// NVRTC has no math.h: infinity and a quiet NaN by their bits.
#define PZ_INFINITY __int_as_float(0x7f800000)
#define PZ_NAN __int_as_float(0x7fc00000)

__device__ __forceinline__ float bf16_value(unsigned int bits) { return __uint_as_float(bits << 16); }

__device__ __forceinline__ unsigned int bf16_bits(float f) {
  unsigned int u = __float_as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return ((u >> 16) | 0x40u) & 0xffffu;  // NaN stays NaN
  return ((u + 0x7fffu + ((u >> 16) & 1u)) >> 16) & 0xffffu;
}

// Running (max, sum of exp(x - max)) of a stream of values.
__device__ __forceinline__ void take(float& m, float& s, float x) {
  if (x > m) {
    s = s * expf(m - x) + 1.0f;
    m = x;
  } else {
    s += expf(x - m);
  }
}

__device__ __forceinline__ void merge(float& m, float& s, float m2, float s2) {
  float top = fmaxf(m, m2);
  if (top == -PZ_INFINITY) return;  // both empty
  s = s * expf(m - top) + s2 * expf(m2 - top);
  m = top;
}

// loss[r] = logsumexp(row r) - row r[targets[r]] (0 where targets[r] == ignore, NaN for a target
// outside [0, cols)); lse[r] = logsumexp(row r), for the backward. Block: a multiple of 32
// threads, at most 1024.
extern "C" __global__ void pz_rows_ce_forward(const unsigned int* logits, const long long* targets,
                                              float* loss, float* lse, int half_stride, int cols,
                                              long long ignore) {
  const unsigned int* row = logits + (size_t)blockIdx.x * half_stride;
  float m = -PZ_INFINITY, s = 0.0f;
  for (int j = threadIdx.x; j < half_stride; j += blockDim.x) {
    unsigned int pair = row[j];
    if (2 * j < cols) take(m, s, bf16_value(pair & 0xffffu));
    if (2 * j + 1 < cols) take(m, s, bf16_value(pair >> 16));
  }
  for (int offset = 16; offset > 0; offset /= 2) {
    merge(m, s, __shfl_down_sync(0xffffffffu, m, offset), __shfl_down_sync(0xffffffffu, s, offset));
  }
  __shared__ float warp_m[32], warp_s[32];
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
  if (lane == 0) {
    warp_m[warp] = m;
    warp_s[warp] = s;
  }
  __syncthreads();
  if (warp != 0) return;
  m = lane < warps ? warp_m[lane] : -PZ_INFINITY;
  s = lane < warps ? warp_s[lane] : 0.0f;
  for (int offset = 16; offset > 0; offset /= 2) {
    merge(m, s, __shfl_down_sync(0xffffffffu, m, offset), __shfl_down_sync(0xffffffffu, s, offset));
  }
  if (lane != 0) return;
  float l = m + logf(s);
  lse[blockIdx.x] = l;
  long long t = targets[blockIdx.x];
  if (t == ignore) {
    loss[blockIdx.x] = 0.0f;
  } else if (t < 0 || t >= cols) {
    loss[blockIdx.x] = PZ_NAN;
  } else {
    unsigned int pair = row[t / 2];
    loss[blockIdx.x] = l - bf16_value(t % 2 == 0 ? pair & 0xffffu : pair >> 16);
  }
}

// grad row r = grad_rows[r] * (softmax(row r) - onehot(targets[r])), zero where targets[r] ==
// ignore and in the padding columns; same layout as the logits.
extern "C" __global__ void pz_rows_ce_backward(const unsigned int* logits, const long long* targets,
                                               const float* lse, const float* grad_rows,
                                               unsigned int* grad, int half_stride, int cols,
                                               long long ignore) {
  size_t base = (size_t)blockIdx.x * half_stride;
  long long t = targets[blockIdx.x];
  float g = t == ignore ? 0.0f : grad_rows[blockIdx.x];
  float l = lse[blockIdx.x];
  for (int j = threadIdx.x; j < half_stride; j += blockDim.x) {
    unsigned int pair = logits[base + j];
    int c = 2 * j;
    float lo = c < cols ? g * (expf(bf16_value(pair & 0xffffu) - l) - (c == t ? 1.0f : 0.0f)) : 0.0f;
    float hi = c + 1 < cols ? g * (expf(bf16_value(pair >> 16) - l) - (c + 1 == t ? 1.0f : 0.0f)) : 0.0f;
    grad[base + j] = bf16_bits(lo) | (bf16_bits(hi) << 16);
  }
}
