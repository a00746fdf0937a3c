//! pz-align's integration tests: one binary, a module per topic.

mod mlp;
mod nets;
mod python;
mod resnet;
mod transformer;

use pz_align::{permute, weight_matching, MatchConfig, Permutation, PermutationSpec, StateDict};

/// Shuffle `state` by a random permutation drawn from `seed`, align the copy back to `state`
/// and check that matching finds exactly the inverse permutation and gives the weights back
/// bit for bit.
pub fn assert_alignment_undoes_a_random_permutation(spec: &PermutationSpec, state: &StateDict, seed: u64) {
    let shuffled = Permutation::random(spec, seed);
    for g in &spec.groups {
        let p = shuffled.get(&g.name).unwrap();
        assert!(g.size < 3 || p.iter().enumerate().any(|(i, &j)| i != j), "{} drew the identity", g.name);
    }
    let other = permute(spec, &shuffled, state).unwrap();
    assert_ne!(&other, state, "the permutation must move some weight");
    let report =
        weight_matching(spec, state, &other, &MatchConfig { seed, ..MatchConfig::default() }).unwrap();
    assert!(report.converged, "stopped after {} sweeps without converging", report.iterations);
    for g in &spec.groups {
        assert_eq!(report.permutation.get(&g.name), shuffled.inverse().get(&g.name), "group {}", g.name);
    }
    assert!(permute(spec, &report.permutation, &other).unwrap() == *state, "weights differ after alignment");
}
