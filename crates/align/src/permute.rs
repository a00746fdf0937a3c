//! Permutations of a spec's groups, and applying them to a state dict.

use std::collections::BTreeMap;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::spec::{PermutationSpec, TensorAxes};
use crate::tensor::{permute_axis, Data, StateDict, Tensor};
use crate::Error;

/// One permutation per group, by group name. `perm[i] = j`: unit `i` of the permuted model is
/// unit `j` of the original (git re-basin's `jnp.take(w, perm, axis)` convention).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Permutation(pub BTreeMap<String, Vec<usize>>);

impl Permutation {
    /// The identity for every group of `spec`.
    #[must_use]
    pub fn identity(spec: &PermutationSpec) -> Self {
        Self(spec.groups.iter().map(|g| (g.name.clone(), (0..g.size).collect())).collect())
    }

    /// A uniformly random permutation per group, drawn from `seed` (ChaCha8, groups in spec
    /// order): the same seed gives the same permutation on every machine.
    #[must_use]
    pub fn random(spec: &PermutationSpec, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Self(
            spec.groups
                .iter()
                .map(|g| {
                    let mut p: Vec<usize> = (0..g.size).collect();
                    p.shuffle(&mut rng);
                    (g.name.clone(), p)
                })
                .collect(),
        )
    }

    /// The permutation that undoes this one.
    #[must_use]
    pub fn inverse(&self) -> Self {
        Self(
            self.0
                .iter()
                .map(|(name, p)| {
                    let mut inv = vec![0; p.len()];
                    for (i, &j) in p.iter().enumerate() {
                        inv[j] = i;
                    }
                    (name.clone(), inv)
                })
                .collect(),
        )
    }

    /// The permutation of group `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&[usize]> {
        self.0.get(name).map(Vec::as_slice)
    }

    /// Check that every group of `spec` has a permutation of `0..size`.
    pub(crate) fn check(&self, spec: &PermutationSpec) -> Result<(), Error> {
        for g in &spec.groups {
            let bad = |detail: String| Error::BadPermutation { group: g.name.clone(), detail };
            let p = self.get(&g.name).ok_or_else(|| bad("missing".into()))?;
            if p.len() != g.size {
                return Err(bad(format!("length {} for {} units", p.len(), g.size)));
            }
            let mut hit = vec![false; g.size];
            for &j in p {
                if j >= g.size || std::mem::replace(&mut hit[j], true) {
                    return Err(bad(format!("{j} is out of range or repeated")));
                }
            }
        }
        Ok(())
    }
}

/// `state` with every axis of `spec` permuted by its group's permutation in `perm`; tensors no
/// group touches (the input layer's inputs, the logits, `num_batches_tracked`) are copied.
///
/// # Errors
/// The spec does not fit the state dict, or `perm` does not fit the spec.
pub fn permute(spec: &PermutationSpec, perm: &Permutation, state: &StateDict) -> Result<StateDict, Error> {
    let axes = spec.tensor_axes(state)?;
    perm.check(spec)?;
    let mut out = state.clone();
    for (name, tensor_axes) in &axes {
        let t = out.get_mut(name).expect("checked by tensor_axes");
        t.data = Data::F32(permuted_values(spec, perm, t, tensor_axes, None));
    }
    Ok(out)
}

/// A float tensor's values with its axes permuted, except `skip` (the axis being matched).
pub(crate) fn permuted_values(
    spec: &PermutationSpec,
    perm: &Permutation,
    t: &Tensor,
    axes: &TensorAxes,
    skip: Option<usize>,
) -> Vec<f32> {
    let mut values = t.as_f32().expect("checked float").to_vec();
    for &(axis, g, view) in axes {
        if Some(axis) != skip {
            let p = perm.get(&spec.groups[g].name).expect("checked");
            values = permute_axis(&values, view, p);
        }
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> PermutationSpec {
        let mut spec = PermutationSpec::default();
        spec.group("h", 3).axis("l0.weight", 0).axis("l0.bias", 0).axis("l1.weight", 1);
        spec
    }

    fn dict() -> StateDict {
        let mut s = StateDict::new();
        s.insert("l0.weight".into(), Tensor::f32(&[3, 1], vec![1.0, 2.0, 3.0]));
        s.insert("l0.bias".into(), Tensor::f32(&[3], vec![4.0, 5.0, 6.0]));
        s.insert("l1.weight".into(), Tensor::f32(&[1, 3], vec![7.0, 8.0, 9.0]));
        s.insert("count".into(), Tensor::i64(&[], vec![11]));
        s
    }

    #[test]
    fn permuting_moves_every_tensor_of_a_group_alike() {
        let perm = Permutation([("h".to_string(), vec![2, 0, 1])].into());
        let out = permute(&spec(), &perm, &dict()).unwrap();
        assert_eq!(out["l0.weight"].as_f32().unwrap(), [3.0, 1.0, 2.0]);
        assert_eq!(out["l0.bias"].as_f32().unwrap(), [6.0, 4.0, 5.0]);
        assert_eq!(out["l1.weight"].as_f32().unwrap(), [9.0, 7.0, 8.0]);
        assert_eq!(out["count"], dict()["count"]);
    }

    #[test]
    fn a_permutation_then_its_inverse_is_the_identity() {
        let perm = Permutation::random(&spec(), 5);
        let there = permute(&spec(), &perm, &dict()).unwrap();
        assert_eq!(permute(&spec(), &perm.inverse(), &there).unwrap(), dict());
    }

    #[test]
    fn permutations_that_do_not_fit_are_refused() {
        for p in [vec![0, 1], vec![0, 0, 1], vec![0, 1, 3]] {
            let perm = Permutation([("h".to_string(), p)].into());
            assert!(matches!(permute(&spec(), &perm, &dict()), Err(Error::BadPermutation { .. })));
        }
        assert!(permute(&spec(), &Permutation::default(), &dict()).is_err());
    }
}
