//! Against PyTorch: each architecture's state dict loads into the reference module
//! (`load_state_dict(strict=True)`, so names and shapes are exactly the module's), and the
//! permuted dict computes the same logits. Skipped unless `PZ_PYTHON` names a python with
//! torch (scripts/libtorch-env.sh exports it; GPT-2 also needs `transformers`). The
//! references are python/phasezoo_vision.py and python/phasezoo_gpt2.py.

use std::path::Path;
use std::process::Command;

use pz_align::{gpt2_spec, permute, resnet_spec, vit_spec, Data, Permutation, PermutationSpec, StateDict};
use safetensors::tensor::TensorView;
use safetensors::Dtype;

use crate::nets::{gpt2, resnet, vit, Dims, Filler};

/// f32 logits of O(1–10) from sums in another order: rounding stays far below this.
const TOLERANCE: f64 = 1e-4;

fn write(path: &Path, state: &StateDict) {
    let bytes: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = state
        .iter()
        .map(|(name, t)| match &t.data {
            Data::F32(v) => {
                (name.clone(), Dtype::F32, t.shape.clone(), v.iter().flat_map(|x| x.to_le_bytes()).collect())
            }
            Data::I64(v) => {
                (name.clone(), Dtype::I64, t.shape.clone(), v.iter().flat_map(|x| x.to_le_bytes()).collect())
            }
        })
        .collect();
    let views: Vec<(String, TensorView<'_>)> = bytes
        .iter()
        .map(|(name, dtype, shape, data)| {
            (name.clone(), TensorView::new(*dtype, shape.clone(), data).unwrap())
        })
        .collect();
    safetensors::serialize_to_file(views, &None, path).unwrap();
}

/// Run a reference script on `weights` and `input`; its state-dict keys and flat logits.
fn reference(
    python: &str,
    script: &str,
    args: &[&str],
    weights: &Path,
    input: &Path,
) -> (Vec<String>, Vec<f64>) {
    let out = Command::new(python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../../python/").to_string() + script)
        .args(args)
        .arg("--weights")
        .arg(weights)
        .arg("--input")
        .arg(input)
        .output()
        .expect("run python");
    assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    let keys = json["keys"].as_array().unwrap().iter().map(|k| k.as_str().unwrap().to_string()).collect();
    let mut logits = Vec::new();
    flatten(&json["logits"], &mut logits);
    (keys, logits)
}

fn flatten(v: &serde_json::Value, out: &mut Vec<f64>) {
    match v {
        serde_json::Value::Array(items) => items.iter().for_each(|i| flatten(i, out)),
        other => out.push(other.as_f64().unwrap()),
    }
}

fn largest_difference(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs() / (1.0 + x.abs())).fold(0.0, f64::max)
}

/// Logits of `state` and of its permutation by `spec` agree; `keys` are the dict's names.
/// With `broken`, a spec that leaves out some axes must change the logits.
#[allow(clippy::print_stderr)] // the skip must be visible in the test output
fn check(
    script: &str,
    args: &[&str],
    input: &StateDict,
    state: &StateDict,
    spec: &PermutationSpec,
    broken: Option<&PermutationSpec>,
) {
    let Ok(python) = std::env::var("PZ_PYTHON") else {
        eprintln!("skipped: PZ_PYTHON is not set (source scripts/libtorch-env.sh)");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let at = |name: &str, s: &StateDict| {
        let p = tmp.path().join(name);
        write(&p, s);
        p
    };
    let input = at("input.safetensors", input);
    let perm = Permutation::random(spec, 41);
    let (keys, logits) = reference(&python, script, args, &at("a.safetensors", state), &input);
    let mut ours: Vec<&String> = state.keys().collect();
    let mut theirs: Vec<&String> = keys.iter().collect();
    ours.sort();
    theirs.sort();
    assert_eq!(ours, theirs, "state-dict names differ from the reference module's");
    let permuted = permute(spec, &perm, state).unwrap();
    let (_, logits_p) = reference(&python, script, args, &at("b.safetensors", &permuted), &input);
    let diff = largest_difference(&logits, &logits_p);
    assert!(diff < TOLERANCE, "{script} {args:?}: permuted logits differ by {diff}");
    if let Some(broken) = broken {
        let wrong = permute(broken, &perm, state).unwrap();
        let (_, logits_w) = reference(&python, script, args, &at("c.safetensors", &wrong), &input);
        assert!(largest_difference(&logits, &logits_w) > 1e-2, "a broken spec went unnoticed");
    }
}

fn images(seed: u64) -> StateDict {
    let mut f = Filler::new(seed);
    f.put("images", &[2, 3, 8, 8], -1.0, 1.0);
    f.state
}

#[test]
fn a_permuted_resnet18_computes_the_same_logits_in_pytorch_and_unpermuted_statistics_do_not() {
    let state = resnet(false, 8, 3, 10, 1);
    let spec = resnet_spec(&state).unwrap();
    let mut broken = spec.clone();
    for g in &mut broken.groups {
        g.axes.retain(|a| !a.tensor.ends_with("running_var"));
    }
    let args = ["--arch", "resnet18", "--width", "8", "--in-channels", "3", "--classes", "10"];
    check("phasezoo_vision.py", &args, &images(1), &state, &spec, Some(&broken));
}

#[test]
fn a_permuted_resnet50_computes_the_same_logits_in_pytorch() {
    let state = resnet(true, 4, 3, 10, 2);
    let args = ["--arch", "resnet50", "--width", "4", "--in-channels", "3", "--classes", "10"];
    check("phasezoo_vision.py", &args, &images(2), &state, &resnet_spec(&state).unwrap(), None);
}

#[test]
fn a_vit_with_permuted_heads_and_mlp_units_computes_the_same_logits_in_pytorch() {
    let d = Dims { width: 32, heads: 4, depth: 2 };
    let state = vit(d, 3);
    let spec = vit_spec(&state, d.heads).unwrap();
    // Permuting q and k of each head but not v and the output projection changes the model.
    let mut broken = spec.clone();
    broken.groups[0].axes.retain(|a| !a.tensor.ends_with("out_proj.weight"));
    let args = [
        "--arch",
        "vit",
        "--width",
        "32",
        "--image-size",
        "8",
        "--patch-size",
        "4",
        "--depth",
        "2",
        "--head-dim",
        "8",
        "--mlp-ratio",
        "4",
        "--in-channels",
        "3",
        "--classes",
        "10",
    ];
    check("phasezoo_vision.py", &args, &images(3), &state, &spec, Some(&broken));
}

#[test]
fn a_gpt2_with_permuted_heads_and_mlp_units_computes_the_same_logits_in_hugging_face() {
    let d = Dims { width: 32, heads: 4, depth: 2 };
    let state = gpt2(d, 4);
    let spec = gpt2_spec(&state, d.heads).unwrap();
    let mut input = StateDict::new();
    input.insert("tokens".into(), pz_align::Tensor::i64(&[2, 8], (0..16).map(|i| (i * 7) % 50).collect()));
    let args = ["--vocab-size", "50", "--context", "8", "--model-dim", "32", "--depth", "2", "--heads", "4"];
    check("phasezoo_gpt2.py", &args, &input, &state, &spec, None);
}
