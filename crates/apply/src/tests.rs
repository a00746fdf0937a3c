//! The applications' building blocks on a real image family (random 28×28 images, a width-2
//! ResNet-18, a small ViT): averaging copies of one checkpoint and the interpolation's
//! endpoints score as the checkpoints themselves, and a seed aligned by weight matching scores
//! as the seed.

use pz_align::{align, average, weighted_average, AveragingRule, MatchConfig, StateDict};
use pz_models::tensor_to_named;
use pz_models::vision::VisionModel;
use pz_spec::{Plan, PlannedModel, ZooSpec};
use pz_store::NamedTensor;
use pz_train::classify::{model_config, random_fashion, ImageFamily};
use pz_train::ZooFamily;
use pz_train::{BnConditioning, Scores, WeightsRequest};
use tch::Device;

use crate::cells::permutation_spec;
use crate::{alphas, to_named, to_state_dict};

const FASHION: &str = include_str!("../../../examples/fashion-resnet18-small.toml");

/// A width-2 ResNet-18, batch 32, on 160 augmented training and 100 test images.
fn planned() -> PlannedModel {
    planned_with(&["grid.load.values=[2]"])
}

/// A ViT of width 32 (two heads of 16), depth 2, 7×7 patches, otherwise as [`planned`].
fn planned_vit() -> PlannedModel {
    planned_with(&[
        "model.architecture=\"vit\"",
        "model.depth=2",
        "model.patch_size=7",
        "model.width=32",
        "grid.load.values=[32]",
    ])
}

fn planned_with(extra: &[&str]) -> PlannedModel {
    let mut sets: Vec<String> = [
        "grid.temperature.values=[32]",
        "problem.augment=true",
        "problem.train_subset=160",
        "problem.test_subset=100",
    ]
    .map(String::from)
    .to_vec();
    sets.extend(extra.iter().map(|s| (*s).to_string()));
    let spec = ZooSpec::parse(FASHION, "t", &sets).unwrap();
    Plan::new(&spec).unwrap().models.remove(0)
}

/// A model of `plan`'s shape from init `seed`, every float tensor moved off its init (BN at
/// γ = 1, β = 0 and fresh statistics would hide mistakes).
fn weights(plan: &PlannedModel, seed: u64) -> StateDict {
    tch::manual_seed(i64::try_from(seed).unwrap());
    let m = VisionModel::new(&model_config(&plan.config, 1, 10, 28), Device::Cpu, seed);
    let named: Vec<NamedTensor> = m
        .state_dict()
        .into_iter()
        .map(|(k, t)| {
            let t = if k.ends_with("running_var") {
                t.rand_like() + 0.5
            } else if t.is_floating_point() {
                &t + t.randn_like() * 0.1
            } else {
                t
            };
            tensor_to_named(&k, &t)
        })
        .collect();
    to_state_dict(&named).unwrap()
}

fn evaluate(plan: &PlannedModel, dicts: &[StateDict], how: BnConditioning) -> Vec<Scores> {
    let data = random_fashion(160);
    let family = ImageFamily::new(&data);
    let weights: Vec<_> = dicts.iter().map(to_named).collect();
    let request = WeightsRequest { weights: &weights, conditioning: how, ensemble: false };
    family.evaluate_weights(plan, &request, Device::Cpu).unwrap().members
}

#[test]
fn averaging_copies_of_one_checkpoint_scores_as_the_checkpoint() {
    let plan = planned();
    let w = weights(&plan, 1);
    let copies = vec![w.clone(); 5];
    let dicts = [
        w,
        average(&copies, AveragingRule::Uniform).unwrap(),
        average(&copies, AveragingRule::PtmzCompat).unwrap(),
    ];
    for how in [BnConditioning::Recompute, BnConditioning::PtmzCompat, BnConditioning::Keep] {
        let s = evaluate(&plan, &dicts, how);
        assert!(s.iter().all(|x| *x == s[0]), "{how:?}: {s:?}");
    }
}

#[test]
fn interpolation_at_zero_and_one_scores_as_the_endpoints() {
    let plan = planned();
    let (a, b) = (weights(&plan, 1), weights(&plan, 2));
    let at =
        |alpha: f64| weighted_average(&[a.clone(), b.clone()], &[1.0 - alpha, alpha], AveragingRule::Uniform);
    let ends = alphas(7);
    let dicts = [a.clone(), b.clone(), at(ends[0]).unwrap(), at(ends[6]).unwrap(), at(0.5).unwrap()];
    for how in [BnConditioning::Recompute, BnConditioning::PtmzCompat, BnConditioning::Keep] {
        let s = evaluate(&plan, &dicts, how);
        assert_eq!(s[2], s[0], "{how:?}: α = 0");
        assert_eq!(s[3], s[1], "{how:?}: α = 1");
        assert_ne!(s[4], s[0], "{how:?}: the midpoint is another model");
    }
}

/// Weight matching permutes hidden units with their BatchNorm parameters and statistics: the
/// aligned copy is the same function (up to the float rounding of reordered sums).
#[test]
fn a_seed_aligned_by_weight_matching_scores_as_the_seed() {
    for plan in [planned(), planned_vit()] {
        let (a, b) = (weights(&plan, 1), weights(&plan, 2));
        let spec = permutation_spec(&plan, &a).unwrap();
        let (aligned, report) = align(&spec, &a, &b, &MatchConfig::default()).unwrap();
        let arch = plan.config.model.architecture();
        assert_ne!(aligned, b, "{arch}: matching moved some units");
        assert!(report.converged, "{arch}");
        let s = evaluate(&plan, &[b, aligned], BnConditioning::Keep);
        let near = |x: f64, y: f64| (x - y).abs() <= 1e-4 * x.abs().max(1.0);
        assert!((s[0].test_acc - s[1].test_acc).abs() <= 0.01, "{arch}: {s:?}");
        assert!(near(s[0].test_loss, s[1].test_loss), "{arch}: {s:?}");
        assert!(near(s[0].train_loss, s[1].train_loss), "{arch}: {s:?}");
    }
}

/// A ViT has no BatchNorm: every conditioning leaves it as it is.
#[test]
fn a_vit_scores_the_same_under_every_conditioning() {
    let plan = planned_vit();
    let w = [weights(&plan, 3)];
    let kept = evaluate(&plan, &w, BnConditioning::Keep);
    assert_eq!(evaluate(&plan, &w, BnConditioning::Recompute), kept);
    assert_eq!(evaluate(&plan, &w, BnConditioning::PtmzCompat), kept);
}
