use pz_models::tensor_to_named;
use pz_spec::{FinetuneConfig, Plan, ZooSpec};
use pz_store::NamedTensor;

use super::super::tests::random_data;
use super::*;

const FASHION: &str = include_str!("../../../../examples/fashion-resnet18-small.toml");

/// A width-2 ResNet-18 of the Fashion-MNIST example (1 × 28² images).
fn planned() -> PlannedModel {
    let sets = ["grid.load.values=[2]".to_string(), "grid.temperature.values=[16]".into()];
    Plan::new(&ZooSpec::parse(FASHION, "t", &sets).unwrap()).unwrap().models.remove(0)
}

/// Source weights of `plan`'s network: init seed 9, every float moved off its init (running
/// statistics too, so that a probe that updated them would show).
fn source(plan: &PlannedModel) -> Vec<NamedTensor> {
    tch::manual_seed(9);
    let m = VisionModel::new(&model_config(&plan.config, 1, 10, 28), Device::Cpu, 9);
    m.state_dict()
        .into_iter()
        .map(|(k, t)| {
            let t = if t.is_floating_point() { (&t + t.randn_like() * 0.05).abs() } else { t };
            tensor_to_named(&k, &t)
        })
        .collect()
}

fn config() -> FinetuneConfig {
    FinetuneConfig { dataset: "mnist".into(), epochs: 1, batch_size: 16, ..FinetuneConfig::default() }
}

fn bits(t: &Tensor) -> Vec<u32> {
    let t = t.to_kind(Kind::Float).reshape([-1]);
    Vec::<f32>::try_from(&t).unwrap().into_iter().map(f32::to_bits).collect()
}

#[test]
fn a_probe_trains_only_the_new_head_and_full_fine_tuning_the_whole_network() {
    let plan = planned();
    let weights = source(&plan);
    let target = ZooData::Images(random_data(3, 48, 20));
    let cfg = config();
    let request = |probe| FinetuneRequest { weights: &weights, target: &target, config: &cfg, probe };
    let fresh = VisionModel::new(&model_config(&plan.config, 1, 10, 28), Device::Cpu, plan.config.seed);
    let fresh: std::collections::HashMap<String, Tensor> = fresh.state_dict().into_iter().collect();
    let given: std::collections::HashMap<&str, &NamedTensor> =
        weights.iter().map(|t| (t.name.as_str(), t)).collect();

    let (probe, task) = transfer(&plan, &request(true), Device::Cpu).unwrap();
    assert_eq!(
        (task.image_size, task.train_images.size()),
        (28, vec![48, 1, 28, 28]),
        "12² resized to the zoo's 28²"
    );
    for (name, t) in probe.state_dict() {
        let was = tensor_from_named(given[name.as_str()]).unwrap();
        if ["fc.weight", "fc.bias"].contains(&name.as_str()) {
            assert_ne!(bits(&t), bits(&was), "{name}: the source's head is not used");
            assert_ne!(bits(&t), bits(&fresh[&name]), "{name}: the new head is trained");
        } else {
            assert_eq!(bits(&t), bits(&was), "{name}: frozen, statistics included");
        }
    }
    let (full, _) = transfer(&plan, &request(false), Device::Cpu).unwrap();
    let conv = |m: &VisionModel| m.state_dict().into_iter().find(|(k, _)| k == "conv1.weight").unwrap().1;
    assert_ne!(bits(&conv(&full)), bits(&conv(&probe)), "full fine-tuning moves the network");
    // Deterministic: the same request gives the same model.
    let (again, _) = transfer(&plan, &request(false), Device::Cpu).unwrap();
    assert_eq!(bits(&conv(&again)), bits(&conv(&full)));
    let scores = finetune(&plan, &request(true), Device::Cpu).unwrap();
    assert!((0.0..=1.0).contains(&scores.test_acc) && scores.test_loss.is_finite(), "{scores:?}");
}

#[test]
fn a_target_of_other_channels_is_refused_with_the_fix() {
    let plan = planned();
    let weights = source(&plan);
    let mut data = random_data(4, 8, 8);
    data.train.channels = 3;
    data.train.images =
        [data.train.images.clone(), data.train.images.clone(), data.train.images.clone()].concat();
    data.test.channels = 3;
    data.test.images =
        [data.test.images.clone(), data.test.images.clone(), data.test.images.clone()].concat();
    let target = ZooData::Images(data);
    let cfg = FinetuneConfig { dataset: "stl10".into(), ..config() };
    let request = FinetuneRequest { weights: &weights, target: &target, config: &cfg, probe: true };
    let err = finetune(&plan, &request, Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("stl10 has 3 channel(s); the zoo's fashion-mnist models take 1"), "{err}");
    assert!(err.contains("hint: fine-tune on a dataset with 1 channel(s)"), "{err}");
}

#[test]
fn resizing_by_a_whole_factor_averages_blocks() {
    // 6 × 6 → 2 × 2: each output pixel the rounded mean of its 3 × 3 block.
    let values: Vec<u8> = (0..36).map(|i| (i * 7 % 256) as u8).collect();
    let images = Tensor::from_slice(&values).reshape([1, 1, 6, 6]);
    let out = Vec::<u8>::try_from(resize(&images, 2).reshape([-1])).unwrap();
    let block = |r: usize, c: usize| {
        let mut sum = 0u32;
        for i in 0..3 {
            for j in 0..3 {
                sum += u32::from(values[(3 * r + i) * 6 + 3 * c + j]);
            }
        }
        (f64::from(sum) / 9.0).round() as u8
    };
    assert_eq!(out, [block(0, 0), block(0, 1), block(1, 0), block(1, 1)]);
    assert_eq!(resize(&images, 4).size(), [1, 1, 4, 4], "another factor: bilinear");
}

#[test]
fn sgd_is_pytorchs_momentum_with_l2_decay() {
    let p = Tensor::from_slice(&[1.0f64, -2.0]);
    let mut v = vec![p.zeros_like()];
    let params = [p.shallow_clone()];
    // Step 1: d = g + λp, v = d, p -= lr v; step 2: v = μ v + d.
    let (lr, mu, wd) = (0.1, 0.9, 0.01);
    let g1 = Tensor::from_slice(&[0.5f64, 0.25]);
    sgd_step(&params, &[g1.shallow_clone()], &mut v, lr, mu, wd);
    let (p1, v1): (Vec<f64>, Vec<f64>) = {
        let d: Vec<f64> = [0.5 + wd * 1.0, 0.25 + wd * -2.0].to_vec();
        ([1.0 - lr * d[0], -2.0 - lr * d[1]].to_vec(), d)
    };
    assert_eq!(Vec::<f64>::try_from(&p).unwrap(), p1);
    sgd_step(&params, &[g1], &mut v, lr, mu, wd);
    let d2 = [0.5 + wd * p1[0], 0.25 + wd * p1[1]];
    let v2 = [mu * v1[0] + d2[0], mu * v1[1] + d2[1]];
    let want = [p1[0] - lr * v2[0], p1[1] - lr * v2[1]];
    let got = Vec::<f64>::try_from(&p).unwrap();
    assert!(got.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-15), "{got:?} vs {want:?}");
}
