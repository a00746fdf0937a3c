//! State dicts as plain data: PyTorch state-dict name → shape and values, with no libtorch.
//!
//! Alignment and averaging only permute, gather and add numbers, so they work on host vectors:
//! the caller converts a checkpoint's tensors (safetensors bytes, a tch `Tensor`) to f32 first.
//! Integer tensors (BatchNorm's `num_batches_tracked`) are kept as such, so averaging can copy
//! them instead of averaging a counter.

use std::collections::BTreeMap;

use crate::Error;

/// A tensor's values, row-major.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// Floating-point parameters and buffers (converted to f32 by the caller).
    F32(Vec<f32>),
    /// Integer buffers such as `num_batches_tracked`: never permuted, never averaged.
    I64(Vec<i64>),
}

/// One state-dict entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Shape, outermost first (PyTorch's order: a conv weight is `[out, in, kh, kw]`).
    pub shape: Vec<usize>,
    /// Values, row-major; as many as the shape's product.
    pub data: Data,
}

impl Tensor {
    /// A float tensor.
    ///
    /// # Panics
    /// If `values` does not hold `shape`'s product of elements (a bug in the caller).
    #[must_use]
    pub fn f32(shape: &[usize], values: Vec<f32>) -> Self {
        assert_eq!(
            shape.iter().product::<usize>(),
            values.len(),
            "shape {shape:?} vs {} values",
            values.len()
        );
        Self { shape: shape.to_vec(), data: Data::F32(values) }
    }

    /// An integer tensor.
    ///
    /// # Panics
    /// If `values` does not hold `shape`'s product of elements (a bug in the caller).
    #[must_use]
    pub fn i64(shape: &[usize], values: Vec<i64>) -> Self {
        assert_eq!(
            shape.iter().product::<usize>(),
            values.len(),
            "shape {shape:?} vs {} values",
            values.len()
        );
        Self { shape: shape.to_vec(), data: Data::I64(values) }
    }

    /// The float values, or `None` for an integer tensor.
    #[must_use]
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.data {
            Data::F32(v) => Some(v),
            Data::I64(_) => None,
        }
    }
}

/// A model's state dict: PyTorch name → tensor (sorted by name, as safetensors stores them).
pub type StateDict = BTreeMap<String, Tensor>;

/// The float values of `name` in `state`.
pub(crate) fn floats<'a>(state: &'a StateDict, name: &str) -> Result<&'a Tensor, Error> {
    let t = state.get(name).ok_or_else(|| Error::MissingTensor { name: name.to_string() })?;
    match t.data {
        Data::F32(_) => Ok(t),
        Data::I64(_) => Err(Error::NotFloat { name: name.to_string() }),
    }
}

/// How one permutation group indexes one axis of a tensor: the axis, of length
/// `blocks · n · block_len`, is read as `[blocks, n, block_len]` and the group permutes the
/// middle index. A plain channel axis has `blocks = block_len = 1`; attention heads in a fused
/// q/k/v projection have `blocks = 3` (q, k, v) and `block_len = head_dim`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AxisView {
    /// Product of the dimensions before the axis.
    pub pre: usize,
    pub blocks: usize,
    pub n: usize,
    pub block_len: usize,
    /// Product of the dimensions after the axis.
    pub post: usize,
}

impl AxisView {
    pub fn new(shape: &[usize], axis: usize, blocks: usize, block_len: usize) -> Self {
        let n = shape[axis] / (blocks * block_len);
        let pre = shape[..axis].iter().product();
        let post = shape[axis + 1..].iter().product();
        Self { pre, blocks, n, block_len, post }
    }

    /// Contiguous elements that move together: one index of the group, all of `block_len` and
    /// the trailing dimensions.
    fn chunk(&self) -> usize {
        self.block_len * self.post
    }

    /// Elements per index of the group: the row length of [`AxisView::rows_into`].
    pub fn row_len(&self) -> usize {
        self.pre * self.blocks * self.chunk()
    }

    /// Start of chunk `(p, o, i)` in the flat tensor.
    fn start(&self, p: usize, o: usize, i: usize) -> usize {
        ((p * self.blocks + o) * self.n + i) * self.chunk()
    }
}

/// `values` with the axis seen through `view` permuted: out index `i` takes in index `perm[i]`
/// (`numpy.take(w, perm, axis)`, git re-basin's convention).
pub(crate) fn permute_axis(values: &[f32], view: AxisView, perm: &[usize]) -> Vec<f32> {
    let chunk = view.chunk();
    let mut out = vec![0.0; values.len()];
    for p in 0..view.pre {
        for o in 0..view.blocks {
            for (i, &from) in perm.iter().enumerate() {
                let (dst, src) = (view.start(p, o, i), view.start(p, o, from));
                out[dst..dst + chunk].copy_from_slice(&values[src..src + chunk]);
            }
        }
    }
    out
}

/// Write row `i` of the `[n, row_len]` matrix whose row `i` is every element at index `i` of
/// the viewed axis into `out[i * stride + offset ..]`, as f64 (the cost matrix's precision).
/// Columns are in a fixed order, so two tensors of one shape give matching columns.
pub(crate) fn rows_into(values: &[f32], view: AxisView, out: &mut [f64], stride: usize, offset: usize) {
    let chunk = view.chunk();
    for i in 0..view.n {
        let row = &mut out[i * stride + offset..i * stride + offset + view.row_len()];
        let mut col = 0;
        for p in 0..view.pre {
            for o in 0..view.blocks {
                let src = view.start(p, o, i);
                for (dst, &v) in row[col..col + chunk].iter_mut().zip(&values[src..src + chunk]) {
                    *dst = f64::from(v);
                }
                col += chunk;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permuting_an_axis_takes_rows_like_numpy_take() {
        // [2, 3]: permute axis 1 by [2, 0, 1].
        let v = [0.0, 1.0, 2.0, 10.0, 11.0, 12.0];
        let out = permute_axis(&v, AxisView::new(&[2, 3], 1, 1, 1), &[2, 0, 1]);
        assert_eq!(out, [2.0, 0.0, 1.0, 12.0, 10.0, 11.0]);
    }

    #[test]
    fn permuting_blocked_heads_moves_each_heads_slice_in_every_block() {
        // axis of length 3 blocks · 2 heads · 2 dims = 12; swap the heads.
        let v: Vec<f32> = (0..12u8).map(f32::from).collect();
        let out = permute_axis(&v, AxisView::new(&[12], 0, 3, 2), &[1, 0]);
        assert_eq!(out, [2.0, 3.0, 0.0, 1.0, 6.0, 7.0, 4.0, 5.0, 10.0, 11.0, 8.0, 9.0]);
    }

    #[test]
    fn rows_gather_every_element_of_an_index() {
        // [2, 3] read along axis 1: row j = column j.
        let v = [0.0, 1.0, 2.0, 10.0, 11.0, 12.0];
        let view = AxisView::new(&[2, 3], 1, 1, 1);
        let mut m = vec![0.0; 3 * 2];
        rows_into(&v, view, &mut m, 2, 0);
        assert_eq!(m, [0.0, 10.0, 1.0, 11.0, 2.0, 12.0]);
    }
}
