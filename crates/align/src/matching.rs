//! Weight matching by permutation coordinate descent (Ainsworth et al. 2023, "Git Re-Basin:
//! Merging Models modulo Permutation Symmetries", §3.2, Algorithm 1).
//!
//! Find the permutation π of `other`'s hidden units maximising Σ_ℓ ⟨W_ℓ^ref, π(W_ℓ^other)⟩:
//! every weight of the reference matched with the weight of the permuted model at the same
//! place. The objective couples a group with its neighbours (a conv's input channels are the
//! previous group), so it is maximised one group at a time with the others held: with them
//! fixed the objective is linear in the group's permutation matrix, and the best one is a
//! linear assignment problem on the cost matrix `C = Σ_axes R_ref · R_otherᵀ`, where `R` has a
//! row per unit holding every element of that unit across the group's tensors (with the other
//! groups' permutations applied to `other`). Sweeps visit the groups in a random order until
//! a sweep improves none.
//!
//! What the original's tool (the `rebasin` package, SPEC 5.2) does alike: the cost as above,
//! `linear_sum_assignment(maximize=True)` per group, a random order per sweep, at most 100
//! sweeps, progress only above 1e-12. One difference, on purpose: a group keeps its
//! permutation unless the new one is better by more than the tolerance (git re-basin assigns
//! the solver's answer unconditionally), so ties between equally good assignments cannot make
//! the result depend on float noise, and the permutation returned is the one last evaluated.

use std::collections::BTreeMap;

use ndarray::{Array2, ArrayView2};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::permute::{permuted_values, Permutation};
use crate::spec::{PermutationSpec, TensorAxes};
use crate::tensor::{rows_into, StateDict};
use crate::Error;

/// How coordinate descent runs. Defaults are the `rebasin` package's, which the original used
/// (SPEC 5.2: `calculate_permutations(max_iterations=100)`, improvement > 1e-12).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatchConfig {
    /// Most sweeps over all groups.
    pub max_iterations: usize,
    /// A group's new assignment counts only if it raises the objective by more than this.
    pub tolerance: f64,
    /// Seed of the groups' visiting order (ChaCha8).
    pub seed: u64,
}

impl Default for MatchConfig {
    fn default() -> Self {
        Self { max_iterations: 100, tolerance: 1e-12, seed: 0 }
    }
}

/// What matching found.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchReport {
    /// Apply it to `other` (with [`crate::permute`]) to align it to the reference.
    pub permutation: Permutation,
    /// Sweeps run.
    pub iterations: usize,
    /// Whether the last sweep improved no group (false: stopped at `max_iterations`).
    pub converged: bool,
    /// Σ ⟨W^ref, π(W^other)⟩ over the spec's tensors at the end, in f64.
    pub objective: f64,
}

/// Align `other` to `reference`: the permutation of `other`'s groups that maximises the
/// inner product of their weights, by permutation coordinate descent from the identity.
///
/// # Errors
/// The spec does not fit either state dict, the two differ in a spec tensor's shape, or the
/// assignment solver refuses a cost matrix (non-finite weights).
pub fn weight_matching(
    spec: &PermutationSpec,
    reference: &StateDict,
    other: &StateDict,
    config: &MatchConfig,
) -> Result<MatchReport, Error> {
    let axes = spec.tensor_axes(other)?;
    let axes_ref = spec.tensor_axes(reference)?;
    for name in axes.keys() {
        let (r, o) = (&reference[name].shape, &other[name].shape);
        if r != o {
            return Err(Error::Incompatible {
                index: 1,
                name: name.clone(),
                detail: format!("shape {o:?}, reference {r:?}"),
            });
        }
    }
    debug_assert_eq!(axes.len(), axes_ref.len());
    let mut perm = Permutation::identity(spec);
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut order: Vec<usize> = (0..spec.groups.len()).collect();
    let (mut iterations, mut converged) = (0, false);
    while iterations < config.max_iterations && !converged {
        iterations += 1;
        order.shuffle(&mut rng);
        converged = true;
        for &g in &order {
            let name = &spec.groups[g].name;
            let cost = cost_matrix(spec, &axes, &perm, reference, other, g);
            let current = perm.get(name).expect("identity has every group");
            let old = assigned(cost.view(), current);
            let n = spec.groups[g].size;
            let flat: Vec<f64> = cost.iter().copied().collect();
            let (_, cols) = lsap::solve(n, n, &flat, true)
                .map_err(|source| Error::Assignment { group: name.clone(), source })?;
            let new = assigned(cost.view(), &cols);
            if new > old + config.tolerance {
                tracing::trace!(group = %name, gain = new - old, "weight matching step");
                perm.0.insert(name.clone(), cols);
                converged = false;
            }
        }
        tracing::debug!(iterations, converged, "weight matching sweep");
    }
    let objective = objective(spec, &axes, &perm, reference, other);
    Ok(MatchReport { permutation: perm, iterations, converged, objective })
}

/// [`weight_matching`], then `other` permuted by what it found: the copy of `other` to
/// average with `reference`.
///
/// # Errors
/// As [`weight_matching`].
pub fn align(
    spec: &PermutationSpec,
    reference: &StateDict,
    other: &StateDict,
    config: &MatchConfig,
) -> Result<(StateDict, MatchReport), Error> {
    let report = weight_matching(spec, reference, other, config)?;
    Ok((crate::permute(spec, &report.permutation, other)?, report))
}

/// Σ_i C[i, p[i]].
fn assigned(cost: ArrayView2<'_, f64>, p: &[usize]) -> f64 {
    p.iter().enumerate().map(|(i, &j)| cost[[i, j]]).sum()
}

/// `[n, n]`: entry (i, j) is the inner product of the reference's unit i with `other`'s unit
/// j over every tensor axis of group `g`, the other groups' permutations applied to `other`.
fn cost_matrix(
    spec: &PermutationSpec,
    axes: &BTreeMap<String, TensorAxes>,
    perm: &Permutation,
    reference: &StateDict,
    other: &StateDict,
    g: usize,
) -> Array2<f64> {
    let group = &spec.groups[g];
    let n = group.size;
    let views: Vec<_> = group
        .axes
        .iter()
        .map(|r| {
            let tensor_axes = &axes[&r.tensor];
            let view = tensor_axes.iter().find(|(axis, _, _)| *axis == r.axis).expect("checked").2;
            (r, tensor_axes, view)
        })
        .collect();
    let width: usize = views.iter().map(|(_, _, v)| v.row_len()).sum();
    let (mut ra, mut rb) = (vec![0.0; n * width], vec![0.0; n * width]);
    let mut offset = 0;
    for (r, tensor_axes, view) in views {
        rows_into(reference[&r.tensor].as_f32().expect("checked"), view, &mut ra, width, offset);
        let b = permuted_values(spec, perm, &other[&r.tensor], tensor_axes, Some(r.axis));
        rows_into(&b, view, &mut rb, width, offset);
        offset += view.row_len();
    }
    let ra = Array2::from_shape_vec((n, width), ra).expect("n · width elements");
    let rb = Array2::from_shape_vec((n, width), rb).expect("n · width elements");
    ra.dot(&rb.t())
}

/// Σ over permuted tensors of ⟨W^ref, π(W^other)⟩.
fn objective(
    spec: &PermutationSpec,
    axes: &BTreeMap<String, TensorAxes>,
    perm: &Permutation,
    reference: &StateDict,
    other: &StateDict,
) -> f64 {
    axes.iter()
        .map(|(name, tensor_axes)| {
            let b = permuted_values(spec, perm, &other[name], tensor_axes, None);
            let a = reference[name].as_f32().expect("checked");
            a.iter().zip(&b).map(|(&x, &y)| f64::from(x) * f64::from(y)).sum::<f64>()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{permute, Tensor};

    /// One hidden layer of 5 units between 2 inputs and 3 outputs.
    fn tiny(seed: u64) -> (PermutationSpec, StateDict) {
        let mut spec = PermutationSpec::default();
        spec.group("h", 5).axis("l0.weight", 0).axis("l0.bias", 0).axis("l1.weight", 1);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut draw =
            |n: usize| -> Vec<f32> { (0..n).map(|_| rand::Rng::gen_range(&mut rng, -1.0..1.0)).collect() };
        let mut s = StateDict::new();
        s.insert("l0.weight".into(), Tensor::f32(&[5, 2], draw(10)));
        s.insert("l0.bias".into(), Tensor::f32(&[5], draw(5)));
        s.insert("l1.weight".into(), Tensor::f32(&[3, 5], draw(15)));
        (spec, s)
    }

    #[test]
    fn matching_a_model_to_itself_keeps_the_identity_and_stops_after_one_sweep() {
        let (spec, s) = tiny(1);
        let report = weight_matching(&spec, &s, &s, &MatchConfig::default()).unwrap();
        assert_eq!(report.permutation, Permutation::identity(&spec));
        assert_eq!((report.iterations, report.converged), (1, true));
    }

    #[test]
    fn matching_undoes_a_permutation_of_one_layer() {
        let (spec, s) = tiny(2);
        let shuffled = Permutation::random(&spec, 3);
        let other = permute(&spec, &shuffled, &s).unwrap();
        let (aligned, report) = align(&spec, &s, &other, &MatchConfig::default()).unwrap();
        assert_eq!(report.permutation, shuffled.inverse());
        assert!(report.converged);
        assert_eq!(aligned, s);
    }

    #[test]
    fn the_objective_never_decreases_below_the_identitys() {
        let (spec, a) = tiny(4);
        let (_, b) = tiny(5);
        let axes = spec.tensor_axes(&a).unwrap();
        let start = objective(&spec, &axes, &Permutation::identity(&spec), &a, &b);
        let report = weight_matching(&spec, &a, &b, &MatchConfig::default()).unwrap();
        assert!(report.objective >= start - 1e-9, "{} < {start}", report.objective);
    }

    #[test]
    fn non_finite_weights_name_the_group() {
        let (spec, mut s) = tiny(6);
        s.insert("l0.bias".into(), Tensor::f32(&[5], vec![f32::NAN; 5]));
        let (_, good) = tiny(6);
        let err = weight_matching(&spec, &good, &s, &MatchConfig::default()).unwrap_err();
        assert!(matches!(err, Error::Assignment { group, .. } if group == "h"));
    }
}
