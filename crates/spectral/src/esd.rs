//! A layer's empirical spectral density: the eigenvalues of `X = W^T W` for each of its weight
//! matrices, pooled, as WeightWatcher 0.7.7's `analyze()` computes them by default.
//!
//! - **Dense** (a 2-D tensor: `nn.Linear` `[out, in]`, HF GPT-2 `Conv1D` `[in, out]`,
//!   `nn.Embedding` `[num, dim]`): one matrix, oriented `N x M` with `N >= M` (the transpose
//!   has the same singular values, so storage order does not matter); `M` eigenvalues.
//! - **Conv2d** (a 4-D PyTorch tensor `[out, in, kh, kw]`): each of the `kh * kw` slices
//!   `W[:, :, i, j]` is its own `out x in` matrix (`conv2d_fft=False`, `pool=True`: the slices'
//!   eigenvalues pooled into one spectrum of `min(out, in) * kh * kw` values). Each slice is
//!   scaled by `sqrt(1/2)` first (`conv2d_norm=True`: `W * sqrt(conv2d_count / 2)` with
//!   `conv2d_count = 1` when pooling), so conv eigenvalues are half those of the raw slices;
//!   alpha does not change under a scale, `xmin` and `lambda_max` do.
//! - No other normalisation (`normalize` was removed in 0.6.5; `glorot_fix=False`).
//! - Eigenvalues are squared singular values, computed in float64 (WeightWatcher's CPU path:
//!   `W.astype(float)` then SciPy's SVD).
//!
//! Which layers are analysed ([`SpectralConfig`]): `M * kh * kw` eigenvalues between
//! `min_evals` (10) and `max_evals` (15000), and `N <= max_N` (50000), WeightWatcher's
//! `layer_supported` with its defaults.

use nalgebra::DMatrix;

/// How a weight tensor becomes matrices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerKind {
    /// A 2-D weight: one matrix.
    Dense,
    /// A 4-D `[out, in, kh, kw]` weight: `kh * kw` matrices `W[:, :, i, j]`.
    Conv2d,
}

/// Which layers are analysed; the defaults are WeightWatcher 0.7.7 `analyze()`'s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpectralConfig {
    /// Skip a layer with fewer eigenvalues than this (`min_evals`, default 10).
    pub min_evals: usize,
    /// Skip a layer with more eigenvalues than this (`max_evals`, default 15000).
    pub max_evals: usize,
    /// Skip a layer whose matrices have a longer side than this (`max_N`, default 50000; it
    /// drops GPT-2's 50257-row token embedding).
    pub max_n: usize,
}

impl Default for SpectralConfig {
    fn default() -> Self {
        Self { min_evals: 10, max_evals: 15_000, max_n: 50_000 }
    }
}

/// A layer's shape as WeightWatcher sees it, before any arithmetic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerShape {
    /// Dense or conv.
    pub kind: LayerKind,
    /// Each matrix's longer side.
    pub n: usize,
    /// Each matrix's shorter side: eigenvalues per matrix.
    pub m: usize,
    /// How many matrices (`kh * kw`; 1 for dense).
    pub num_matrices: usize,
}

impl LayerShape {
    /// The shape of a tensor with PyTorch dims `dims`; `None` unless 2-D or 4-D.
    #[must_use]
    pub fn of(dims: &[usize]) -> Option<Self> {
        match *dims {
            [a, b] => Some(Self { kind: LayerKind::Dense, n: a.max(b), m: a.min(b), num_matrices: 1 }),
            [out, inp, kh, kw] => Some(Self {
                kind: LayerKind::Conv2d,
                n: out.max(inp),
                m: out.min(inp),
                num_matrices: kh * kw,
            }),
            _ => None,
        }
    }

    /// How many eigenvalues the layer's spectrum has.
    #[must_use]
    pub fn num_evals(&self) -> usize {
        self.m * self.num_matrices
    }

    /// Whether WeightWatcher would analyse this layer under `config`.
    #[must_use]
    pub fn is_supported(&self, config: &SpectralConfig) -> bool {
        let evals = self.num_evals();
        evals >= config.min_evals && evals <= config.max_evals && self.n <= config.max_n
    }
}

/// The `N x M` matrices (`N >= M`) of a 2-D or 4-D tensor given row-major in `data`;
/// `None` for other ranks. Panics if `data.len()` is not the product of `dims`.
///
/// # Shapes
/// `[a, b]` gives one matrix; `[out, in, kh, kw]` gives `kh * kw` matrices, slice `(i, j)` first
/// in row-major order of `(i, j)`, each `W[:, :, i, j]` (transposed if `out < in`).
#[must_use]
pub fn layer_matrices(dims: &[usize], data: &[f64]) -> Option<Vec<DMatrix<f64>>> {
    assert_eq!(dims.iter().product::<usize>(), data.len(), "tensor data does not match its shape");
    match *dims {
        [a, b] => Some(vec![oriented(a, b, |r, c| data[r * b + c])]),
        [out, inp, kh, kw] => {
            let rf = kh * kw;
            // Element (o, i, h, w) sits at (o * in + i) * rf + h * kw + w.
            Some((0..rf).map(|hw| oriented(out, inp, |o, i| data[(o * inp + i) * rf + hw])).collect())
        }
        _ => None,
    }
}

/// The `rows x cols` matrix `at(r, c)`, transposed if needed so it is at least as tall as wide.
fn oriented(rows: usize, cols: usize, at: impl Fn(usize, usize) -> f64) -> DMatrix<f64> {
    if rows >= cols {
        DMatrix::from_fn(rows, cols, at)
    } else {
        DMatrix::from_fn(cols, rows, |r, c| at(c, r))
    }
}

/// The pooled eigenvalues of `W^T W` over a layer's matrices, ascending, with WeightWatcher's
/// conv scaling (a half) applied for [`LayerKind::Conv2d`].
#[must_use]
pub fn layer_eigenvalues(kind: LayerKind, matrices: &[DMatrix<f64>]) -> Vec<f64> {
    let scale = match kind {
        LayerKind::Dense => 1.0,
        // (sqrt(conv2d_count / 2))^2 with conv2d_count = 1.
        LayerKind::Conv2d => 0.5,
    };
    let mut evals: Vec<f64> = matrices
        .iter()
        .flat_map(|w| w.singular_values().iter().map(|s| scale * s * s).collect::<Vec<_>>())
        .collect();
    evals.sort_by(f64::total_cmp);
    evals
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(mut v: Vec<f64>) -> Vec<f64> {
        v.sort_by(f64::total_cmp);
        v
    }

    fn assert_close(got: &[f64], want: &[f64]) {
        assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-10 * w.abs().max(1.0), "{got:?} vs {want:?}");
        }
    }

    #[test]
    fn dense_eigenvalues_do_not_depend_on_storage_order() {
        // [[3, 0, 0], [0, 4, 0]]: singular values 3 and 4, stored [2, 3] or transposed [3, 2].
        let w = [3.0, 0.0, 0.0, 0.0, 4.0, 0.0];
        let wt = [3.0, 0.0, 0.0, 4.0, 0.0, 0.0];
        for (dims, data) in [([2, 3], &w), ([3, 2], &wt)] {
            let mats = layer_matrices(&dims, data).unwrap();
            assert_eq!(mats[0].shape(), (3, 2));
            assert_close(&layer_eigenvalues(LayerKind::Dense, &mats), &[9.0, 16.0]);
        }
    }

    #[test]
    fn conv_weights_split_into_one_matrix_per_kernel_position() {
        // [out = 3, in = 2, kh = 2, kw = 2], slice (h, w) = diag(a, b) padded to 3 x 2, with
        // (a, b) distinct per slice; any other slicing (e.g. W[o, i, :, :]) mixes them.
        let (out, inp, kh, kw) = (3, 2, 2, 2);
        let diag = [(1.0, 2.0), (3.0, 5.0), (7.0, 11.0), (13.0, 17.0)];
        let mut data = vec![0.0; out * inp * kh * kw];
        for (hw, &(a, b)) in diag.iter().enumerate() {
            data[hw] = a; // (o = 0, i = 0)
            data[(inp + 1) * kh * kw + hw] = b; // (o = 1, i = 1)
        }
        let mats = layer_matrices(&[out, inp, kh, kw], &data).unwrap();
        assert_eq!(mats.len(), 4);
        for (m, &(a, b)) in mats.iter().zip(&diag) {
            assert_eq!(m.shape(), (3, 2));
            assert_close(&sorted(m.singular_values().iter().copied().collect()), &sorted(vec![a, b]));
        }
        // Pooled, squared and halved (WeightWatcher's conv2d_norm).
        let want = sorted(diag.iter().flat_map(|&(a, b)| [0.5 * a * a, 0.5 * b * b]).collect());
        assert_close(&layer_eigenvalues(LayerKind::Conv2d, &mats), &want);
    }

    #[test]
    fn conv_slices_are_transposed_when_there_are_more_inputs_than_outputs() {
        // [out = 1, in = 3, 1, 1]: one 1 x 3 slice becomes 3 x 1; its one eigenvalue is |w|^2/2.
        let mats = layer_matrices(&[1, 3, 1, 1], &[1.0, 2.0, 2.0]).unwrap();
        assert_eq!(mats[0].shape(), (3, 1));
        assert_close(&layer_eigenvalues(LayerKind::Conv2d, &mats), &[4.5]);
    }

    #[test]
    fn layer_support_follows_weightwatchers_defaults() {
        let config = SpectralConfig::default();
        let supported = |dims: &[usize]| LayerShape::of(dims).is_some_and(|s| s.is_supported(&config));
        assert!(supported(&[64, 10])); // 10 eigenvalues: the minimum
        assert!(!supported(&[64, 9]));
        assert!(supported(&[64, 3, 7, 7])); // ResNet stem: 3 * 49 = 147
        assert!(!supported(&[4, 2, 2, 2])); // 2 * 4 = 8
        assert!(!supported(&[50_257, 768])); // GPT-2 wte: N > max_N
        assert!(supported(&[1024, 768])); // GPT-2 wpe
        assert!(!supported(&[20_000, 16_000])); // M > max_evals
        assert!(!supported(&[768])); // norms, biases
        assert!(!supported(&[16, 8, 3])); // Conv1d: WeightWatcher's state-dict reader skips it
    }
}
