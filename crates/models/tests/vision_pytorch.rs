//! A vision model's state dict loads with `load_state_dict(strict=True)` into the PyTorch
//! modules of python/phasezoo_vision.py, in the same key order, and gives the same eval-mode
//! logits. The state dict goes through the store's safetensors encoder, as checkpoints do.
//!
//! Needs a Python with torch: `PZ_PYTHON` (exported by scripts/libtorch-env.sh, as `./pz test`
//! does). Without it each test says so and passes, for users who build against a libtorch zip.

use std::collections::HashMap;
use std::path::Path;

use pz_models::tensor_to_named;
use pz_models::vision::{logits_disagree, pytorch_logits, VisionModel, VisionModelConfig};
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
    let weights = tmp.path().join("model.safetensors");
    let state = model.state_dict();
    write_safetensors(&weights, &state);
    let theirs = pytorch_logits(&python, cfg, &weights, &images, &tmp.path().join("input.safetensors"))
        .unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = state.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(theirs.keys, names, "{cfg}: PyTorch's state_dict order");
    assert_eq!(theirs.logits.size(), [5, cfg.classes], "{cfg}");
    if let Some(e) = logits_disagree(&ours, &theirs.logits) {
        panic!("{cfg}: {e}");
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
