//! Per-layer results against WeightWatcher 0.7.7's on the same weights, recorded by
//! `weightwatcher_compare.py` beside this file into `fixtures/ww_small.json`.
//!
//! The weights are not stored (no checkpoints in git): [`fixture_weights`] makes them from a
//! seeded ChaCha8 stream with arithmetic only (no libm), so every machine makes the same bits;
//! `PZ_SPECTRAL_WEIGHTS=FILE cargo test -p pz-spectral --test weightwatcher -- --ignored`
//! writes them for the script. They have the shapes of a small CNN (three Conv2d, three Linear,
//! an Embedding, a BatchNorm and biases, so every layer kind and WeightWatcher's small-N fit
//! occur) and heavy-tailed entries (a ratio of uniforms, a 1/x² tail), as trained weights have.
//!
//! Tolerance: both sides take the same f32 weights to float64 and compute singular values in
//! float64 (SciPy there, nalgebra here), so eigenvalues agree to ~1e-13 relative and the xmin
//! search picks the same eigenvalue; alpha, xmin, D and lambda_max must agree to 1e-9 relative,
//! the tail counts exactly.

use rand::{Rng, SeedableRng};
use safetensors::tensor::TensorView;
use std::path::Path;

#[derive(serde::Deserialize)]
struct Reference {
    mean_alpha: f64,
    mean_alpha_weighted: f64,
    layers: Vec<ReferenceLayer>,
}

#[derive(serde::Deserialize)]
struct ReferenceLayer {
    name: String,
    num_evals: usize,
    lambda_max: f64,
    alpha: f64,
    xmin: f64,
    #[serde(rename = "D")]
    d: f64,
    num_pl_spikes: usize,
    alpha_weighted: f64,
    /// The `powerlaw` package's alpha on the same eigenvalues (alpha range widened to
    /// [1, 1000]); equal to WeightWatcher's except under its small-N rule (< 20 eigenvalues).
    powerlaw_alpha: f64,
}

fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= 1e-9 * want.abs().max(1.0)
}

/// The small CNN's state dict: (name, shape) in PyTorch's order.
const SHAPES: [(&str, &[usize]); 17] = [
    ("conv1.weight", &[16, 3, 3, 3]),
    ("conv1.bias", &[16]),
    ("conv2.weight", &[32, 16, 3, 3]),
    ("conv2.bias", &[32]),
    ("conv3.weight", &[32, 32, 1, 1]),
    ("conv3.bias", &[32]),
    ("norm.weight", &[32]),
    ("norm.bias", &[32]),
    ("norm.running_mean", &[32]),
    ("norm.running_var", &[32]),
    ("fc1.weight", &[64, 128]),
    ("fc1.bias", &[64]),
    ("fc2.weight", &[64, 64]),
    ("fc2.bias", &[64]),
    ("fc3.weight", &[10, 64]),
    ("fc3.bias", &[10]),
    ("embed.weight", &[40, 16]),
];

/// The fixture's weights written to `path` as f32 safetensors: entries 0.05·(u₁ − ½)/(u₂ + 0.02)
/// with u uniform from ChaCha8 seed 2026 (heavy-tailed; arithmetic only, so the same bits on
/// every machine).
fn fixture_weights(path: &Path) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2026);
    let tensors: Vec<(&str, Vec<usize>, Vec<u8>)> = SHAPES
        .iter()
        .map(|(name, shape)| {
            let n: usize = shape.iter().product();
            #[allow(clippy::cast_possible_truncation)]
            let bytes = (0..n)
                .flat_map(|_| {
                    let (u1, u2): (f64, f64) = (rng.gen(), rng.gen());
                    ((0.05 * (u1 - 0.5) / (u2 + 0.02)) as f32).to_le_bytes()
                })
                .collect();
            (*name, shape.to_vec(), bytes)
        })
        .collect();
    let views: Vec<(&str, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, s, b)| (*n, TensorView::new(safetensors::Dtype::F32, s.clone(), b).unwrap()))
        .collect();
    safetensors::serialize_to_file(views, &None, path).unwrap();
}

/// Writes the fixture's weights to `$PZ_SPECTRAL_WEIGHTS` for `weightwatcher_compare.py`.
#[test]
#[ignore = "writes the fixture weights for weightwatcher_compare.py"]
fn write_fixture_weights() {
    let path = std::env::var("PZ_SPECTRAL_WEIGHTS").expect("PZ_SPECTRAL_WEIGHTS=FILE");
    fixture_weights(Path::new(&path));
}

#[test]
fn alpha_per_layer_matches_weightwatcher_on_the_same_weights() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let reference: Reference =
        serde_json::from_str(&fs_err::read_to_string(fixtures.join("ww_small.json")).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("weights.safetensors");
    fixture_weights(&weights);
    let layers = pz_spectral::layer_alphas(&weights).unwrap();

    let names: Vec<&str> = layers.iter().map(|l| l.name.as_str()).collect();
    let want: Vec<&str> = reference.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, want, "layer selection (the BatchNorm and biases are no layers)");
    for (got, want) in layers.iter().zip(&reference.layers) {
        let fit = got.fit.unwrap();
        let ctx = format!("{}: got {got:?}", want.name);
        assert_eq!(got.num_evals, want.num_evals, "{ctx}");
        assert!(close(got.lambda_max, want.lambda_max), "{ctx}");
        assert!(close(fit.alpha, want.alpha), "{ctx}, want alpha {}", want.alpha);
        assert!(close(fit.xmin, want.xmin), "{ctx}, want xmin {}", want.xmin);
        assert!(close(fit.d, want.d), "{ctx}, want D {}", want.d);
        assert_eq!(fit.num_pl_spikes, want.num_pl_spikes, "{ctx}");
        assert!(close(got.alpha_weighted().unwrap(), want.alpha_weighted), "{ctx}");
        if got.num_evals >= pz_spectral::fit::SMALL_N_CUTOFF {
            assert!(close(fit.alpha, want.powerlaw_alpha), "{ctx}, powerlaw {}", want.powerlaw_alpha);
        }
    }
    let model = pz_spectral::model_alpha(&layers).unwrap();
    assert_eq!(model.num_layers, reference.layers.len());
    assert!(close(model.alpha, reference.mean_alpha), "{model:?}");
    assert!(close(model.alpha_weighted, reference.mean_alpha_weighted), "{model:?}");
}
