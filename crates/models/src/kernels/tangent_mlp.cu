// The forward and backward sweeps of a population of tanh MLPs with one directional derivative
// (crates/models/src/tangent.rs has the equations), one thread per row (point) of one member.
//
// Why: at the PINN zoo's size (700 members × 1,456 points × width 50) the tensor version is ~35
// batched matrix products and element-wise passes per step, each reading and writing
// [K, rows, 50] activations through GPU memory, with 50-wide operands that fill cuBLAS's tiles
// badly. Here a row's 50 activations stay in registers, a member's hidden weights in shared
// memory, and each layer's outputs are written once, to the tape the backward sweep and the
// weight-gradient products read. What stays in cuBLAS: the weight and bias gradients, reductions
// over rows (tape × adjointsᵀ, crates/models/src/fused_tangent.rs).
//
// Compiled at run time by NVRTC with -DIN=<inputs> -DWIDTH=<hidden width> -DDEPTH=<hidden
// layers, ≥ 1> and, for float64, -DPZ_DOUBLE. One output unit.
//
// Layouts (K members, P rows of which the first N carry the tangent, C = P + N):
//   points [K, P, IN], direction [K, IN]
//   weights (as MlpPopulation stores them): w[0] [K, IN, WIDTH]; w[l] [K, WIDTH, WIDTH] (in, out)
//   for 1 ≤ l < DEPTH; w[DEPTH] [K, WIDTH]; biases b[l] [K, out]
//   tape [DEPTH, K, WIDTH + 1, C]: a_l (column p < P), ȧ_l (column P + p, p < N); feature-major,
//     so that a warp's rows are contiguous and the weight gradient is one product per layer; the
//     extra feature is 1 at rows p < P and 0 at the tangent columns, so that the same product
//     also sums the bias gradient (Σ_rows z̄)
//   zdot [DEPTH - 1, K, WIDTH, N]: ż_l for l ≥ 1 (ż_0 = d·W0 is the same on every row: recomputed)
//   u [K, P], r [K, N]; u_bar [K, P], r_bar [K, N]
//   adjoint [DEPTH, K, WIDTH, C]: z̄_l (column p < P), ż̄_l (column P + p)

#define PZ_RESTRICT __restrict__

#ifdef PZ_DOUBLE
typedef double real;
typedef double2 vec;
#define VW 2
#else
typedef float real;
typedef float4 vec;
#define VW 4
#endif

// A shared-memory row of weights, padded so that every row starts 16-byte aligned.
#define STRIDE (((WIDTH) + VW - 1) / VW * VW)
#define HIDDEN_MATRICES ((DEPTH) > 1 ? (DEPTH) - 1 : 1)
#define TAPE_ROWS ((WIDTH) + 1)

struct Params {
  const real* w[DEPTH + 1];
  const real* b[DEPTH + 1];
};

// Σ_i x[i]·w[i] and, with TANGENT, Σ_i xd[i]·w[i], for a shared-memory row w; two partial sums
// each so that consecutive multiply-adds do not wait for each other.
template <bool TANGENT>
__device__ __forceinline__ void dot(const real* w, const real (&x)[WIDTH], const real (&xd)[WIDTH],
                                    real& s, real& sd) {
  real s0 = 0, s1 = 0, t0 = 0, t1 = 0;
  const vec* wv = reinterpret_cast<const vec*>(w);
#pragma unroll
  for (int c = 0; c < STRIDE / VW; ++c) {
    const vec v = wv[c];
    const real* e = reinterpret_cast<const real*>(&v);
#pragma unroll
    for (int t = 0; t < VW; ++t) {
      const int i = c * VW + t;
      if (i < WIDTH) {
        if (c % 2 == 0) {
          s0 += x[i] * e[t];
          if (TANGENT) t0 += xd[i] * e[t];
        } else {
          s1 += x[i] * e[t];
          if (TANGENT) t1 += xd[i] * e[t];
        }
      }
    }
  }
  s = s0 + s1;
  sd = t0 + t1;
}

__device__ __forceinline__ real tanh_of(real z) { return tanh(z); }

// Copies member k's hidden weight matrices into shared memory, transposed (out-major: a row is
// what one output unit reads) for the forward sweep, as stored (in-major: a row is what one
// input unit's adjoint reads) for the backward sweep.
__device__ __forceinline__ void load_hidden_weights(const Params& prm, int k, bool transpose,
                                                    real (*ws)[WIDTH][STRIDE]) {
  for (int l = 1; l < DEPTH; ++l) {
    const real* w = prm.w[l] + (size_t)k * WIDTH * WIDTH;
    for (int e = threadIdx.x; e < WIDTH * STRIDE; e += blockDim.x) {
      const int row = e / STRIDE, col = e % STRIDE;
      real v = 0;  // the padding stays zero
      if (col < WIDTH) v = transpose ? w[col * WIDTH + row] : w[row * WIDTH + col];
      ws[l - 1][row][col] = v;
    }
  }
  __syncthreads();
}

// Outputs u at every row and r = ∇u·d at the first N, with the tape for the backward sweep.
// Grid (ceil(P / blockDim.x), K).
template <bool TANGENT>
__device__ __forceinline__ void forward_row(const Params& prm, const real (*wt)[WIDTH][STRIDE],
                                            const real* PZ_RESTRICT points,
                                            const real* PZ_RESTRICT direction, real* PZ_RESTRICT tape,
                                            real* PZ_RESTRICT zdot, real* PZ_RESTRICT u,
                                            real* PZ_RESTRICT r, int K, int P, int N, int k, int p) {
  const size_t C = (size_t)P + N;
  real x[IN], d[IN];
#pragma unroll
  for (int i = 0; i < IN; ++i) {
    x[i] = points[((size_t)k * P + p) * IN + i];
    d[i] = direction[(size_t)k * IN + i];
  }
  const real* w_out = prm.w[DEPTH] + (size_t)k * WIDTH;
  real out = prm.b[DEPTH][k], out_dot = 0;
  // Layer 0: z_0 = x·W0 + b0, ż_0 = d·W0.
  {
    const real* w0 = prm.w[0] + (size_t)k * IN * WIDTH;
    const real* b0 = prm.b[0] + (size_t)k * WIDTH;
    real* a_col = tape + (size_t)k * TAPE_ROWS * C;
    a_col[WIDTH * C + p] = 1;
    if (TANGENT) a_col[WIDTH * C + P + p] = 0;
    for (int j = 0; j < WIDTH; ++j) {
      real z = b0[j], zd = 0;
#pragma unroll
      for (int i = 0; i < IN; ++i) {
        z += x[i] * w0[i * WIDTH + j];
        zd += d[i] * w0[i * WIDTH + j];
      }
      const real a = tanh_of(z);
      a_col[j * C + p] = a;
      const real ad = zd * (1 - a * a);
      if (TANGENT) a_col[j * C + P + p] = ad;
      if (DEPTH == 1) {
        out += a * w_out[j];
        out_dot += ad * w_out[j];
      }
    }
  }
  // Hidden layers 1 … DEPTH-1: the previous layer's row comes back from the tape (this thread
  // wrote it) into registers; each output unit is one dot product with a shared-memory row.
  for (int l = 1; l < DEPTH; ++l) {
    real a[WIDTH], ad[WIDTH];
    const real* prev = tape + ((size_t)(l - 1) * K + k) * TAPE_ROWS * C;
#pragma unroll
    for (int i = 0; i < WIDTH; ++i) {
      a[i] = prev[i * C + p];
      ad[i] = TANGENT ? prev[i * C + P + p] : 0;
    }
    real* cur = tape + ((size_t)l * K + k) * TAPE_ROWS * C;
    cur[WIDTH * C + p] = 1;
    if (TANGENT) cur[WIDTH * C + P + p] = 0;
    real* zd_col = zdot + ((size_t)(l - 1) * K + k) * WIDTH * N;
    const real* b = prm.b[l] + (size_t)k * WIDTH;
    for (int j = 0; j < WIDTH; ++j) {
      real z, zd;
      dot<TANGENT>(wt[l - 1][j], a, ad, z, zd);
      const real an = tanh_of(z + b[j]);
      const real adn = zd * (1 - an * an);
      cur[j * C + p] = an;
      if (TANGENT) {
        cur[j * C + P + p] = adn;
        zd_col[j * N + p] = zd;
      }
      if (l == DEPTH - 1) {
        out += an * w_out[j];
        out_dot += adn * w_out[j];
      }
    }
  }
  u[(size_t)k * P + p] = out;
  if (TANGENT) r[(size_t)k * N + p] = out_dot;
}

extern "C" __global__ void pz_tangent_forward(Params prm, const real* PZ_RESTRICT points,
                                              const real* PZ_RESTRICT direction,
                                              real* PZ_RESTRICT tape, real* PZ_RESTRICT zdot,
                                              real* PZ_RESTRICT u, real* PZ_RESTRICT r, int K,
                                              int P, int N) {
  __shared__ __align__(16) real wt[HIDDEN_MATRICES][WIDTH][STRIDE];
  const int k = blockIdx.y;
  const int p = blockIdx.x * blockDim.x + threadIdx.x;
  load_hidden_weights(prm, k, true, wt);
  if (p >= P) return;
  if (p < N) {
    forward_row<true>(prm, wt, points, direction, tape, zdot, u, r, K, P, N, k, p);
  } else {
    forward_row<false>(prm, wt, points, direction, tape, zdot, u, r, K, P, N, k, p);
  }
}

// z̄ and ż̄ of one unit at row p from its activation a, pre-activation tangent ż and the
// activation's adjoints (ā, ǡ): z̄ = (ā − 2 a ż ǡ)(1 − a²), ż̄ = ǡ (1 − a²), written to the
// adjoint tape's column p (and P + p).
template <bool TANGENT>
__device__ __forceinline__ void store_adjoint(real* PZ_RESTRICT adj_unit, int P, int p, real a,
                                              real zd, real a_bar, real a_dot_bar) {
  const real slope = 1 - a * a;
  if (TANGENT) {
    adj_unit[p] = (a_bar - 2 * a * zd * a_dot_bar) * slope;
    adj_unit[P + p] = a_dot_bar * slope;
  } else {
    adj_unit[p] = a_bar * slope;
  }
}

template <bool TANGENT>
__device__ __forceinline__ void backward_row(const Params& prm, const real (*ws)[WIDTH][STRIDE],
                                             const real* PZ_RESTRICT direction,
                                             const real* PZ_RESTRICT tape,
                                             const real* PZ_RESTRICT zdot,
                                             const real* PZ_RESTRICT u_bar,
                                             const real* PZ_RESTRICT r_bar, real* PZ_RESTRICT adj,
                                             int K, int P, int N, int k, int p) {
  const size_t C = (size_t)P + N;
  real d[IN];
#pragma unroll
  for (int i = 0; i < IN; ++i) d[i] = direction[(size_t)k * IN + i];
  const real* w0 = prm.w[0] + (size_t)k * IN * WIDTH;
  // ż_0 of unit i (the same on every row).
  auto z_dot0 = [&](int i) {
    real s = 0;
#pragma unroll
    for (int m = 0; m < IN; ++m) s += d[m] * w0[m * WIDTH + i];
    return s;
  };
  // What unit i of layer l needs from the forward sweep: a_l and (tangent rows) ż_l. Read one
  // unit ahead, so that the loads from memory overlap the previous unit's dot product.
  auto a_of = [&](int l, int i) { return tape[(((size_t)l * K + k) * TAPE_ROWS + i) * C + p]; };
  auto zd_of = [&](int l, int i) {
    if (!TANGENT) return (real)0;
    return l > 0 ? zdot[(((size_t)(l - 1) * K + k) * WIDTH + i) * N + p] : z_dot0(i);
  };
  // The output layer: ā_{DEPTH-1} = ū·w_out, ǡ = r̄·w_out.
  {
    const int l = DEPTH - 1;
    const real ub = u_bar[(size_t)k * P + p];
    const real rb = TANGENT ? r_bar[(size_t)k * N + p] : 0;
    const real* w_out = prm.w[DEPTH] + (size_t)k * WIDTH;
    real* adj_l = adj + ((size_t)l * K + k) * WIDTH * C;
    for (int i = 0; i < WIDTH; ++i) {
      store_adjoint<TANGENT>(adj_l + i * C, P, p, a_of(l, i), zd_of(l, i), ub * w_out[i],
                             rb * w_out[i]);
    }
  }
  // Hidden layers DEPTH-1 … 1: (z̄_l, ż̄_l) back to layer l-1's activations through W_l.
  for (int l = DEPTH - 1; l >= 1; --l) {
    real zb[WIDTH], zdb[WIDTH];
    const real* adj_l = adj + ((size_t)l * K + k) * WIDTH * C;
#pragma unroll
    for (int j = 0; j < WIDTH; ++j) {
      zb[j] = adj_l[j * C + p];
      zdb[j] = TANGENT ? adj_l[j * C + P + p] : 0;
    }
    real* adj_prev = adj + ((size_t)(l - 1) * K + k) * WIDTH * C;
    real a_next = a_of(l - 1, 0), zd_next = zd_of(l - 1, 0);
    for (int i = 0; i < WIDTH; ++i) {
      const real a = a_next, zd = zd_next;
      if (i + 1 < WIDTH) {
        a_next = a_of(l - 1, i + 1);
        zd_next = zd_of(l - 1, i + 1);
      }
      real a_bar, a_dot_bar;
      dot<TANGENT>(ws[l - 1][i], zb, zdb, a_bar, a_dot_bar);
      store_adjoint<TANGENT>(adj_prev + i * C, P, p, a, zd, a_bar, a_dot_bar);
    }
  }
}

// The adjoints z̄_l, ż̄_l of every hidden layer at every row, from the loss's adjoints ū, r̄.
// Grid (ceil(P / blockDim.x), K).
extern "C" __global__ void pz_tangent_backward(Params prm, const real* PZ_RESTRICT direction,
                                               const real* PZ_RESTRICT tape,
                                               const real* PZ_RESTRICT zdot,
                                               const real* PZ_RESTRICT u_bar,
                                               const real* PZ_RESTRICT r_bar,
                                               real* PZ_RESTRICT adj, int K, int P, int N) {
  __shared__ __align__(16) real ws[HIDDEN_MATRICES][WIDTH][STRIDE];
  const int k = blockIdx.y;
  const int p = blockIdx.x * blockDim.x + threadIdx.x;
  load_hidden_weights(prm, k, false, ws);
  if (p >= P) return;
  if (p < N) {
    backward_row<true>(prm, ws, direction, tape, zdot, u_bar, r_bar, adj, K, P, N, k, p);
  } else {
    backward_row<false>(prm, ws, direction, tape, zdot, u_bar, r_bar, adj, K, P, N, k, p);
  }
}
