//! Image curves against references that need no trust: the evaluation along a curve (BatchNorm
//! recomputed from scratch, then the scores) against PyTorch on the same weights and batches
//! (python/phasezoo_curve_reference.py, through `PZ_PYTHON`); a row's numbers do not depend on
//! the rows beside it; the training loss reaches the bend through autograd; a ViT curve, which
//! has no BatchNorm pass, evaluates.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use pz_models::tensor_to_named;
use pz_models::vision::{VisionModel, VisionModelConfig};
use pz_spec::ImageConfig;
use tch::{Device, Kind, Tensor};

use super::curves::{recompute_batch_norm, CurveData, ImageCurves, BATCH};
use super::tests::random_data;
use super::ImageTask;
use crate::measured::CurveProblem;

/// 300 training images (batches of 128, 128 and 44: unequal, so the BatchNorm average must
/// weigh them by size) and 70 test images, 1×12×12, augmented as in training.
fn task() -> ImageTask {
    let config =
        ImageConfig { dataset: "fashion-mnist".into(), train_subset: 0, test_subset: 0, augment: true };
    ImageTask::new(&random_data(777, 300, 70), &config, Device::Cpu)
}

/// A model with every parameter moved off its init (BN at γ = 1, β = 0 would hide mistakes).
fn model(cfg: &VisionModelConfig, seed: u64) -> VisionModel {
    let mut m = VisionModel::new(cfg, Device::Cpu, seed);
    let names = m.trainable_names();
    let moved: Vec<(String, Tensor)> = m
        .state_dict()
        .into_iter()
        .map(|(k, t)| if names.contains(&k) { (k, &t + t.randn_like() * 0.1) } else { (k, t) })
        .collect();
    m.load_state_dict(&moved).expect("same shapes");
    m
}

/// The model's trainable tensors as one row each: `[1, …]`.
fn row_of(m: &VisionModel) -> Vec<Tensor> {
    m.trainable().iter().map(|p| p.detach().unsqueeze(0)).collect()
}

/// φ(t) = (1−t)²θ₀ + 2t(1−t)θ₁ + t²θ₂, stacked as the ends are.
fn point(a: &[Tensor], b: &[Tensor], c: &[Tensor], t: f64) -> Vec<Tensor> {
    let (c0, c1, c2) = ((1.0 - t) * (1.0 - t), 2.0 * t * (1.0 - t), t * t);
    a.iter().zip(b).zip(c).map(|((a, b), c)| a * c0 + b * c1 + c * c2).collect()
}

fn write_safetensors(path: &Path, named: &[(String, Tensor)]) {
    let tensors: Vec<_> = named.iter().map(|(k, t)| tensor_to_named(k, t)).collect();
    std::fs::write(path, pz_store::encode_tensors(path, &tensors, &HashMap::new()).expect("encode"))
        .expect("write");
}

/// `m`'s state dict with its trainable entries replaced by `row` (a `[1, …]` stack).
fn state_with(m: &VisionModel, row: &[Tensor]) -> Vec<(String, Tensor)> {
    let names = m.trainable_names();
    m.state_dict()
        .into_iter()
        .map(|(k, t)| match names.iter().position(|n| *n == k) {
            Some(i) => (k, row[i].get(0).contiguous()),
            None => (k, t),
        })
        .collect()
}

fn near(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-5 * (1.0 + b.abs())
}

#[test]
#[allow(clippy::print_stderr)] // the skip must be visible in the test output
fn evaluation_along_a_resnet_curve_equals_pytorch_on_the_same_weights_and_batches() {
    let Some(python) = std::env::var_os("PZ_PYTHON") else {
        eprintln!("skipped: PZ_PYTHON is not set (run the tests through ./pz test)");
        return;
    };
    tch::manual_seed(5);
    let cfg = VisionModelConfig::resnet18(2, 1, 10);
    let task = task();
    let (a, c) = (model(&cfg, 0), model(&cfg, 1));
    let (theta0, theta2) = (row_of(&a), row_of(&c));
    let theta1: Vec<Tensor> =
        point(&theta0, &theta0, &theta2, 0.5).iter().map(|m| m + m.randn_like() * 0.1).collect();
    let data = CurveData { seed: 3, weight_decay: 5e-4 };
    let curves = ImageCurves::new(vec![(0, 1)], row_of(&a), row_of(&c), &a, &task, data);

    let tmp = tempfile::tempdir().expect("temp dir");
    let ends: Vec<_> = [&theta0, &theta1, &theta2]
        .iter()
        .enumerate()
        .map(|(i, theta)| {
            let path = tmp.path().join(format!("theta{i}.safetensors"));
            write_safetensors(&path, &state_with(&a, theta));
            path
        })
        .collect();
    let (xs, ys): (Vec<Tensor>, Vec<Tensor>) = curves.evaluation_train_batches().unzip();
    let test_x = task.eval_transform.eval_batch(&task.test_images);
    let data_path = tmp.path().join("data.safetensors");
    let named = |k: &str, t: Tensor| (k.to_string(), t);
    write_safetensors(
        &data_path,
        &[
            named("train_x", Tensor::cat(&xs, 0)),
            named("train_y", Tensor::cat(&ys, 0)),
            named("test_x", test_x),
            named("test_y", task.test_labels.shallow_clone()),
        ],
    );
    let ts = [0.0, 0.25, 0.5, 0.75, 1.0];
    let out = Command::new(&python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../../python/phasezoo_curve_reference.py"))
        .args(["--arch", "resnet18", "--width", "2", "--in-channels", "1", "--classes", "10", "--ends"])
        .args(&ends)
        .arg("--data")
        .arg(&data_path)
        .args(["--batch", &BATCH.to_string(), "--weight-decay", "5e-4", "--t"])
        .args(ts.map(|t| t.to_string()))
        .output()
        .expect("run python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let theirs: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("one JSON line");

    let bn_names: Vec<String> = a
        .state_dict()
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| k.ends_with(".running_mean"))
        .map(|k| k.trim_end_matches(".running_mean").to_string())
        .collect();
    for (t, want) in ts.iter().zip(&theirs) {
        let phi = tch::no_grad(|| point(&theta0, &theta1, &theta2, *t));
        let params: Vec<Tensor> = phi.iter().map(|p| p.get(0)).collect();
        let stats = recompute_batch_norm(&a, &params, curves.evaluation_train_batches());
        assert_eq!(stats.len(), bn_names.len());
        for (i, name) in bn_names.iter().enumerate() {
            let (mean, var) = stats.layer(i);
            for (suffix, ours) in [("running_mean", mean), ("running_var", var)] {
                let ours = Vec::<f64>::try_from(ours.to_kind(Kind::Double)).unwrap();
                let key = format!("{name}.{suffix}");
                let theirs: Vec<f64> =
                    want["running"][&key].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
                assert!(
                    ours.iter().zip(&theirs).all(|(o, w)| near(*o, *w)),
                    "t = {t}, {key}: {ours:?} vs {theirs:?}"
                );
            }
        }
        let values: Vec<f64> =
            tch::no_grad(|| curves.evaluate(&phi)).iter().map(|v| v.double_value(&[0])).collect();
        for (value, key) in values.iter().zip(["train_loss", "test_loss", "train_error", "test_error"]) {
            let w = want[key].as_f64().unwrap();
            assert!(near(*value, w), "t = {t}, {key}: phasezoo {value} vs PyTorch {w}");
        }
    }
}

#[test]
fn a_rows_numbers_do_not_depend_on_the_rows_beside_it() {
    tch::manual_seed(6);
    let cfg = VisionModelConfig::resnet18(2, 1, 10);
    let task = task();
    let models: Vec<VisionModel> = (0..3).map(|s| model(&cfg, s)).collect();
    let stack = |ms: &[&VisionModel]| -> Vec<Tensor> {
        (0..models[0].trainable().len())
            .map(|k| Tensor::stack(&ms.iter().map(|m| m.trainable()[k].detach()).collect::<Vec<_>>(), 0))
            .collect()
    };
    let data = CurveData { seed: 0, weight_decay: 5e-4 };
    let both = ImageCurves::new(
        vec![(0, 1), (0, 2)],
        stack(&[&models[0], &models[0]]),
        stack(&[&models[1], &models[2]]),
        &models[0],
        &task,
        data,
    );
    let alone =
        ImageCurves::new(vec![(0, 2)], stack(&[&models[0]]), stack(&[&models[2]]), &models[0], &task, data);
    assert_eq!(both.steps_per_epoch(), Some(3), "⌈300 / 128⌉ batches");
    let (e0, e2) = both.endpoints();
    let (a0, a2) = alone.endpoints();
    // Four steps: across the end of the first curve epoch into a new shuffle.
    for t in [0.3, 0.5, 0.9, 0.1] {
        let (pb, pa) = (point(e0, e0, e2, t), point(a0, a0, a2, t));
        let (lb, la) = (both.loss(&pb), alone.loss(&pa));
        assert_eq!(lb.double_value(&[1]), la.double_value(&[0]), "loss at t = {t}");
    }
    let at = |c: &ImageCurves, phi: &[Tensor], r: i64| -> Vec<f64> {
        tch::no_grad(|| c.evaluate(phi)).iter().map(|v| v.double_value(&[r])).collect()
    };
    let (pb, pa) = (point(e0, e0, e2, 0.5), point(a0, a0, a2, 0.5));
    let (vb, va) = (at(&both, &pb, 1), at(&alone, &pa, 0));
    assert_eq!(vb, va);
    assert!(
        vb.iter().all(|v| v.is_finite()) && (0.0..=100.0).contains(&vb[2]) && (0.0..=100.0).contains(&vb[3]),
        "{vb:?}"
    );
}

#[test]
fn the_training_loss_reaches_the_bend_and_a_vit_curve_evaluates() {
    tch::manual_seed(7);
    let config =
        ImageConfig { dataset: "fashion-mnist".into(), train_subset: 0, test_subset: 0, augment: false };
    let task = ImageTask::new(&random_data(9, 140, 30), &config, Device::Cpu);
    // 12×12 images cut into 3×3 patches: 16 tokens.
    let cfg = VisionModelConfig { patch_size: 3, depth: 2, ..VisionModelConfig::vit(16, 1, 10, 12) };
    let (a, c) = (model(&cfg, 0), model(&cfg, 1));
    let data = CurveData { seed: 1, weight_decay: 0.0 };
    let curves = ImageCurves::new(vec![(0, 1)], row_of(&a), row_of(&c), &a, &task, data);
    let (theta0, theta2) = curves.endpoints();
    let theta1: Vec<Tensor> =
        point(theta0, theta0, theta2, 0.5).iter().map(|m| m.detach().set_requires_grad(true)).collect();
    let t = 0.3;
    let loss = curves.loss(&point(theta0, &theta1, theta2, t));
    assert_eq!(loss.size(), [1]);
    let grads = Tensor::run_backward(&[loss.sum(Kind::Float)], &theta1, false, false);
    // dL/dθ₁ = 2t(1−t)·dL/dφ: every parameter the loss depends on gets a gradient.
    for (g, name) in grads.iter().zip(a.trainable_names()) {
        assert!(g.abs().max().double_value(&[]) > 0.0, "{name}: no gradient");
    }
    let stats = recompute_batch_norm(&a, &a.trainable(), curves.evaluation_train_batches());
    assert!(stats.is_empty(), "a ViT has no BatchNorm pass");
    let values: Vec<f64> = tch::no_grad(|| curves.evaluate(&point(theta0, theta0, theta2, 0.5)))
        .iter()
        .map(|v| v.double_value(&[0]))
        .collect();
    assert_eq!(values.len(), curves.metrics().len());
    assert!(values.iter().all(|v| v.is_finite()), "{values:?}");
}
