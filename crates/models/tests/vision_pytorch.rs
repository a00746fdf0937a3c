//! A vision model's state dict loads with `load_state_dict(strict=True)` into the PyTorch
//! modules of python/phasezoo_vision.py, in the same key order, and gives the same eval-mode
//! logits. The state dict goes through the store's safetensors encoder, as checkpoints do.
//!
//! Needs a Python with torch: `PZ_PYTHON` (exported by scripts/libtorch-env.sh, as `./pz test`
//! does). Without it each test says so and passes, for users who build against a libtorch zip.

use std::collections::HashMap;
use std::path::Path;

use pz_models::tensor_to_named;
use pz_models::vision::{VisionModel, VisionModelConfig};
use tch::{Device, Kind, Tensor};

fn write_safetensors(path: &Path, named: &[(String, Tensor)]) {
    let tensors: Vec<_> = named.iter().map(|(k, t)| tensor_to_named(k, t)).collect();
    let bytes = pz_store::encode_tensors(path, &tensors, &HashMap::new()).expect("encode");
    std::fs::write(path, bytes).expect("write safetensors");
}

/// Build `cfg`, move every parameter off its init (the ViT head starts at zero, BN at γ = 1,
/// β = 0), run two training forwards so running stats and counters move, then compare eval
/// logits with PyTorch's.
#[allow(clippy::print_stderr)] // the skip must be visible in the test output
fn matches_pytorch(cfg: &VisionModelConfig) {
    let Some(python) = std::env::var_os("PZ_PYTHON") else {
        eprintln!("skipped: PZ_PYTHON is not set (run the tests through ./pz test)");
        return;
    };
    let mut model = VisionModel::new(cfg, Device::Cpu, 3);
    let perturbed: Vec<(String, Tensor)> = model
        .state_dict()
        .into_iter()
        .map(
            |(k, t)| {
                if model.trainable_names().contains(&k) {
                    (k, &t + t.randn_like() * 0.05)
                } else {
                    (k, t)
                }
            },
        )
        .collect();
    model.load_state_dict(&perturbed).expect("same shapes");
    let side = cfg.image_size;
    for _ in 0..2 {
        let _ = model
            .forward_t(&Tensor::randn([8, cfg.in_channels, side, side], (Kind::Float, Device::Cpu)), true);
    }
    let images = Tensor::randn([5, cfg.in_channels, side, side], (Kind::Float, Device::Cpu));
    let ours = model.forward_t(&images, false);

    let tmp = tempfile::tempdir().expect("temp dir");
    let (weights, input) = (tmp.path().join("model.safetensors"), tmp.path().join("input.safetensors"));
    let state = model.state_dict();
    write_safetensors(&weights, &state);
    write_safetensors(&input, &[("images".to_string(), images)]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../python/phasezoo_vision.py");
    let arg = |v: i64| v.to_string();
    let out = std::process::Command::new(&python)
        .arg(script)
        .args(["--arch", cfg.arch.name(), "--width", &arg(cfg.width), "--in-channels", &arg(cfg.in_channels)])
        .args(["--classes", &arg(cfg.classes), "--image-size", &arg(cfg.image_size)])
        .args(["--patch-size", &arg(cfg.patch_size), "--depth", &arg(cfg.depth)])
        .args(["--head-dim", &arg(cfg.head_dim), "--mlp-ratio", &arg(cfg.mlp_ratio)])
        .arg("--weights")
        .arg(&weights)
        .arg("--input")
        .arg(&input)
        .output()
        .expect("run python");
    assert!(out.status.success(), "{cfg}: {}", String::from_utf8_lossy(&out.stderr));
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON line");

    let keys: Vec<&str> =
        got["keys"].as_array().expect("keys").iter().map(|k| k.as_str().expect("str")).collect();
    let names: Vec<&str> = state.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, names, "{cfg}: PyTorch's state_dict order");

    let rows = got["logits"].as_array().expect("logits");
    assert_eq!(rows.len(), 5);
    for (i, row) in rows.iter().enumerate() {
        let row = row.as_array().expect("row");
        assert_eq!(row.len(), usize::try_from(cfg.classes).unwrap());
        for (j, v) in row.iter().enumerate() {
            let theirs = v.as_f64().expect("number");
            #[allow(clippy::cast_possible_wrap)]
            let mine = ours.double_value(&[i as i64, j as i64]);
            // float32, same libtorch kernels on both sides; 1e-5 absolute + relative leaves room
            // for summation order (tch's conv/linear vs PyTorch's module calls, attention paths).
            assert!(
                (mine - theirs).abs() <= 1e-5 * (1.0 + theirs.abs()),
                "{cfg}: logit [{i}, {j}]: phasezoo {mine} vs PyTorch {theirs}"
            );
        }
    }
}

#[test]
fn resnet18_rgb_matches_pytorch() {
    matches_pytorch(&VisionModelConfig::resnet18(4, 3, 10));
}

#[test]
fn resnet18_grayscale_28px_matches_pytorch() {
    matches_pytorch(&VisionModelConfig { image_size: 28, ..VisionModelConfig::resnet18(4, 1, 10) });
}

#[test]
fn resnet50_matches_pytorch() {
    matches_pytorch(&VisionModelConfig::resnet50(2, 3, 100));
}

#[test]
fn vit_rgb_matches_pytorch() {
    matches_pytorch(&VisionModelConfig::vit(16, 3, 10, 32));
}

#[test]
fn vit_grayscale_28px_matches_pytorch() {
    matches_pytorch(&VisionModelConfig::vit(16, 1, 10, 28));
}
