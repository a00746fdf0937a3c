//! Member-wise vector algebra on stacked parameter lists.
//!
//! A *population vector* is a list of tensors shaped like the parameters, `[K, ...]` each, with
//! the population axis first. Member k's vector is slice k of every tensor, flattened and
//! concatenated in list order (n entries per member). Every reduction here sums over all
//! non-leading dimensions of all tensors and returns one value per member: a `[K]` tensor.
//! This is PyHessian's `group_product` / `normalization` / `group_add` (Yao et al. 2020,
//! `pyhessian/utils.py`) applied to K independent models at once.

use tch::{Kind, Tensor};

/// Number of members K: the leading dimension of the first tensor.
///
/// # Panics
/// If `v` is empty or its first tensor is a scalar.
#[must_use]
pub fn members_of(v: &[Tensor]) -> usize {
    let size = v.first().expect("a population vector has at least one tensor").size();
    usize::try_from(*size.first().expect("tensors carry the population axis first")).expect("K >= 0")
}

/// Entries per member: n = Σ_i numel(v_i) / K.
#[must_use]
pub fn member_numel(v: &[Tensor]) -> usize {
    let k = members_of(v);
    v.iter().map(|t| t.numel() / k).sum()
}

/// `s` (`[K]`) reshaped to `[K, 1, …, 1]` with the rank and kind of `like`, for broadcasting.
fn per_member(s: &Tensor, like: &Tensor) -> Tensor {
    let mut shape = vec![1i64; like.dim()];
    shape[0] = -1;
    s.reshape(shape.as_slice()).to_kind(like.kind())
}

/// Per-member inner product ⟨a, b⟩_k = Σ_i Σ_{non-leading} `a_i[k] · b_i[k]`; shape `[K]`,
/// kind of `a`.
pub fn member_dot(a: &[Tensor], b: &[Tensor]) -> Tensor {
    assert_eq!(a.len(), b.len(), "population vectors of different lengths");
    let k = i64::try_from(members_of(a)).expect("small");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x * y).reshape([k, -1]).sum_dim_intlist(1, false, x.kind()))
        .reduce(|acc, d| acc + d)
        .expect("non-empty")
}

/// Per-member Euclidean norm ‖a‖_k = √⟨a, a⟩_k; shape `[K]`.
pub fn member_norm(a: &[Tensor]) -> Tensor {
    member_dot(a, a).sqrt()
}

/// a_k · s_k for every member: `s` is `[K]`.
#[must_use]
pub fn scale_members(a: &[Tensor], s: &Tensor) -> Vec<Tensor> {
    a.iter().map(|x| x * per_member(s, x)).collect()
}

/// y_k + α_k · x_k for every member (PyHessian's `group_add` with one α per member).
#[must_use]
pub fn axpy_members(y: &[Tensor], alpha: &Tensor, x: &[Tensor]) -> Vec<Tensor> {
    y.iter().zip(x).map(|(yi, xi)| yi + per_member(alpha, xi) * xi).collect()
}

/// a_k / (‖a‖_k + eps) for every member. PyHessian's `normalization` uses eps = 1e-6; eps = 0
/// gives exactly unit vectors (a zero member vector then yields NaN).
#[must_use]
pub fn normalize_members(a: &[Tensor], eps: f64) -> Vec<Tensor> {
    let norm = member_norm(a) + eps;
    scale_members(a, &norm.reciprocal())
}

/// Orthogonalise every member of `w` against the member-wise orthonormal `basis`, one basis
/// vector after the other (modified Gram–Schmidt: w ← w − ⟨w, b⟩ b with the updated w), which
/// is the loop in PyHessian's `orthnormal` before its final normalisation.
#[must_use]
pub fn orthogonalize_members(w: &[Tensor], basis: &[Vec<Tensor>]) -> Vec<Tensor> {
    let mut w = shallow(w);
    for b in basis {
        let c = member_dot(&w, b);
        w = axpy_members(&w, &(-c), b);
    }
    w
}

/// Member k taken from `a` where `mask[k]`, else from `b`.
#[must_use]
pub fn select_members(mask: &[bool], a: &[Tensor], b: &[Tensor]) -> Vec<Tensor> {
    let device = a[0].device();
    let mask = Tensor::from_slice(mask).to_device(device);
    a.iter().zip(b).map(|(x, y)| x.where_self(&per_member(&mask, x).to_kind(Kind::Bool), y)).collect()
}

/// Shallow copies (same storage, same autograd identity): tch's `Tensor` is not `Clone`.
#[must_use]
pub fn shallow(v: &[Tensor]) -> Vec<Tensor> {
    v.iter().map(Tensor::shallow_clone).collect()
}

/// Zeros shaped, typed and placed like `like` (no gradient).
#[must_use]
pub fn zeros_like_members(like: &[Tensor]) -> Vec<Tensor> {
    like.iter().map(|t| t.zeros_like().detach()).collect()
}

/// Detached copies that share no autograd history.
#[must_use]
pub fn detach_members(v: &[Tensor]) -> Vec<Tensor> {
    v.iter().map(Tensor::detach).collect()
}

/// `[K, n]`: every member's entries flattened and concatenated in list order.
pub fn flatten_members(v: &[Tensor]) -> Tensor {
    let k = i64::try_from(members_of(v)).expect("small");
    Tensor::cat(&v.iter().map(|t| t.reshape([k, -1])).collect::<Vec<_>>(), 1)
}

/// Inverse of [`flatten_members`]: split `[K, n]` back into tensors shaped like `like`.
#[must_use]
pub fn unflatten_members(flat: &Tensor, like: &[Tensor]) -> Vec<Tensor> {
    let k = members_of(like);
    let mut start = 0i64;
    like.iter()
        .map(|t| {
            let len = i64::try_from(t.numel() / k).expect("small");
            let part = flat.narrow(1, start, len).reshape(t.size().as_slice());
            start += len;
            part
        })
        .collect()
}

/// A `[K]` tensor as f64 values on the host.
#[must_use]
pub fn to_f64s(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double).to_device(tch::Device::Cpu).reshape([-1]))
        .expect("a float tensor")
}

/// f64 values as a `[K]` tensor of the kind and device of `like`.
pub fn from_f64s(values: &[f64], like: &Tensor) -> Tensor {
    Tensor::from_slice(values).to_kind(like.kind()).to_device(like.device())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn v(k: i64) -> Vec<Tensor> {
        let o = (Kind::Double, Device::Cpu);
        vec![Tensor::arange(k * 6, o).reshape([k, 2, 3]), Tensor::arange(k, o).reshape([k]) + 1.0]
    }

    #[test]
    fn member_dot_sums_over_all_non_leading_dims_of_all_tensors() {
        let a = v(2);
        let d = to_f64s(&member_dot(&a, &a));
        let m0: f64 = (0..6).map(|i| f64::from(i * i)).sum::<f64>() + 1.0;
        let m1: f64 = (6..12).map(|i| f64::from(i * i)).sum::<f64>() + 4.0;
        assert_eq!(d, vec![m0, m1]);
    }

    #[test]
    fn flatten_and_unflatten_round_trip() {
        let a = v(3);
        let flat = flatten_members(&a);
        assert_eq!(flat.size(), [3, 7]);
        let back = unflatten_members(&flat, &a);
        for (x, y) in a.iter().zip(&back) {
            assert_eq!(x.size(), y.size());
            assert_eq!(f64::try_from((x - y).abs().max()).unwrap(), 0.0);
        }
    }

    #[test]
    fn select_members_picks_per_member() {
        let a = v(2);
        let b = zeros_like_members(&a);
        let s = select_members(&[false, true], &a, &b);
        let n = to_f64s(&member_norm(&s));
        assert_eq!(n[0], 0.0);
        assert!(n[1] > 0.0);
    }

    #[test]
    fn orthogonalized_vectors_are_orthogonal_to_the_basis() {
        let a = normalize_members(&v(2), 0.0);
        let w = orthogonalize_members(&v(2).iter().map(|t| t.sin()).collect::<Vec<_>>(), &[shallow(&a)]);
        for d in to_f64s(&member_dot(&w, &a)) {
            assert!(d.abs() < 1e-12, "{d}");
        }
    }
}
