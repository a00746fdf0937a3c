//! ResNet-18/50: the residual-tied spec, and alignment of a permuted copy.

use pz_align::{resnet_spec, weight_matching, Data, MatchConfig, Permutation};

use crate::assert_alignment_undoes_a_random_permutation;
use crate::nets::resnet;

/// (tensor, axis) pairs of a group.
fn axes(spec: &pz_align::PermutationSpec, group: &str) -> Vec<(String, usize)> {
    spec.get(group).unwrap().axes.iter().map(|a| (a.tensor.clone(), a.axis)).collect()
}

#[test]
fn resnet18_groups_tie_each_stages_residual_stream_and_permute_batch_norm_statistics() {
    let state = resnet(false, 4, 3, 10, 0);
    assert_eq!(state.len(), 122, "torchvision's resnet18 state dict has 122 entries");
    let spec = resnet_spec(&state).unwrap();
    let names: Vec<&str> = spec.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "conv1",
            "layer1.0.conv1",
            "layer1.1.conv1",
            "layer2",
            "layer2.0.conv1",
            "layer2.1.conv1",
            "layer3",
            "layer3.0.conv1",
            "layer3.1.conv1",
            "layer4",
            "layer4.0.conv1",
            "layer4.1.conv1"
        ]
    );
    // Stage 1 has no projection: the stem's channels run through both of its blocks.
    let stem = axes(&spec, "conv1");
    for (t, a) in [
        ("conv1.weight", 0),
        ("bn1.running_var", 0),
        ("layer1.0.conv1.weight", 1),
        ("layer1.0.conv2.weight", 0),
        ("layer1.0.bn2.running_mean", 0),
        ("layer1.1.conv1.weight", 1),
        ("layer1.1.bn2.weight", 0),
        ("layer2.0.conv1.weight", 1),
        ("layer2.0.downsample.0.weight", 1),
    ] {
        assert!(stem.contains(&(t.to_string(), a)), "conv1 group lacks {t} axis {a}");
    }
    assert!(axes(&spec, "layer4").contains(&("fc.weight".to_string(), 1)));
    assert!(axes(&spec, "layer2").contains(&("layer2.0.downsample.1.bias".to_string(), 0)));
    // Every float tensor but the logits' bias is permuted; the counters never are.
    let permuted: Vec<&str> =
        spec.groups.iter().flat_map(|g| g.axes.iter().map(|a| a.tensor.as_str())).collect();
    for (name, t) in &state {
        let expected = matches!(t.data, Data::F32(_)) && name != "fc.bias";
        assert_eq!(permuted.contains(&name.as_str()), expected, "{name}");
    }
}

#[test]
fn resnet50_has_a_residual_group_per_stage_and_two_inner_groups_per_bottleneck() {
    let state = resnet(true, 2, 3, 10, 0);
    assert_eq!(state.len(), 320, "torchvision's resnet50 state dict has 320 entries");
    let spec = resnet_spec(&state).unwrap();
    for g in ["conv1", "layer1", "layer2", "layer3", "layer4", "layer3.5.conv1", "layer3.5.conv2"] {
        assert!(spec.get(g).is_some(), "no group {g}");
    }
    assert_eq!(spec.groups.len(), 5 + 2 * 16);
    // The stem's channels feed layer1.0 only (its projection starts a new stream).
    assert_eq!(
        axes(&spec, "conv1"),
        [
            ("conv1.weight".to_string(), 0),
            ("bn1.weight".into(), 0),
            ("bn1.bias".into(), 0),
            ("bn1.running_mean".into(), 0),
            ("bn1.running_var".into(), 0),
            ("layer1.0.conv1.weight".into(), 1),
            ("layer1.0.downsample.0.weight".into(), 1)
        ]
    );
    assert_eq!(spec.get("layer4").unwrap().size, 2 * 8 * 4);
}

#[test]
fn aligning_a_permuted_resnet18_recovers_the_permutation_and_the_weights_bit_for_bit() {
    let state = resnet(false, 16, 3, 10, 1);
    assert_alignment_undoes_a_random_permutation(&resnet_spec(&state).unwrap(), &state, 11);
}

#[test]
fn aligning_a_permuted_resnet50_recovers_the_permutation_and_the_weights_bit_for_bit() {
    let state = resnet(true, 4, 3, 10, 2);
    assert_alignment_undoes_a_random_permutation(&resnet_spec(&state).unwrap(), &state, 12);
}

#[test]
fn matching_two_different_resnets_converges_and_does_not_lower_the_objective() {
    let (a, b) = (resnet(false, 4, 3, 10, 3), resnet(false, 4, 3, 10, 4));
    let spec = resnet_spec(&a).unwrap();
    let identity = Permutation::identity(&spec);
    let start =
        weight_matching(&spec, &a, &b, &MatchConfig { max_iterations: 0, ..MatchConfig::default() }).unwrap();
    assert_eq!(start.permutation, identity);
    let report = weight_matching(&spec, &a, &b, &MatchConfig::default()).unwrap();
    assert!(report.converged);
    assert!(report.objective > start.objective, "{} <= {}", report.objective, start.objective);
}
