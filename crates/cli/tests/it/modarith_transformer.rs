//! Modular-arithmetic transformers through the binary (issue 21): a tiny grid of the transformer
//! example trains as one population, keeps checkpoints under the documented names (whose logits,
//! in the PyTorch module of python/phasezoo_modarith_transformer.py, classify the pairs as the
//! recorded accuracies say), gets its Hessians, CKA, alphas and LLCs from `metrics`, and is
//! labelled by `phases`.

use std::path::Path;

use crate::util::{json, json_lines, model_dirs, path_arg, run, strings, train_with_sets};

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/grokking-modadd-transformer.toml");
const REFERENCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../python/phasezoo_modarith_transformer.py");

/// The example shrunk: p = 5, d = 16 in 2 heads (its block matrices big enough for alpha), 2 weight decays × 1 decoder lr × 2 seeds, 4
/// epochs of 10 steps; Hessians of a few products (the numbers are not what is tested).
const SETS: [&str; 18] = [
    "problem.p=5",
    "problem.train_fraction=0.5",
    "model.model_dim=16",
    "model.head_dim=8",
    "train.lr=1e-2",
    "grid.load.values=[0, 1]",
    "grid.temperature.values=[1e-2]",
    "grid.seeds=[0, 1]",
    "train.epochs=4",
    "train.steps_per_epoch=10",
    "checkpoint.every=2",
    "phases.learning_gap_steps=20",
    "train.dtype=\"float64\"",
    "run.device=\"cpu\"",
    "metrics.hessian.max_iter=20",
    "metrics.hessian.trace_max_iter=10",
    "metrics.hessian.trace_min_probes=2",
    "metrics.hessian.trace_sketch=2",
];

/// The 18 tensors of a one-block model with p = 5, d = 16, sorted as safetensors stores them.
const NAMES: [(&str, &[usize]); 18] = [
    ("decoder.h.0.attn.c_attn.bias", &[48]),
    ("decoder.h.0.attn.c_attn.weight", &[16, 48]),
    ("decoder.h.0.attn.c_proj.bias", &[16]),
    ("decoder.h.0.attn.c_proj.weight", &[16, 16]),
    ("decoder.h.0.ln_1.bias", &[16]),
    ("decoder.h.0.ln_1.weight", &[16]),
    ("decoder.h.0.ln_2.bias", &[16]),
    ("decoder.h.0.ln_2.weight", &[16]),
    ("decoder.h.0.mlp.c_fc.bias", &[64]),
    ("decoder.h.0.mlp.c_fc.weight", &[16, 64]),
    ("decoder.h.0.mlp.c_proj.bias", &[16]),
    ("decoder.h.0.mlp.c_proj.weight", &[64, 16]),
    ("decoder.head.bias", &[5]),
    ("decoder.head.weight", &[5, 16]),
    ("decoder.ln_f.bias", &[16]),
    ("decoder.ln_f.weight", &[16]),
    ("embedding.weight", &[6, 16]),
    ("position.weight", &[3, 16]),
];

#[test]
fn a_modarith_transformer_zoo_trains_is_measured_and_labelled() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let zoo = tmp.path().join("zoo");
    let r = train_with_sets(tmp.path(), EXAMPLE, &zoo, &SETS);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let models = model_dirs(&zoo);
    assert_eq!(models.len(), 4);
    for m in &models {
        let l = json_lines(&m.join("result.json"));
        assert_eq!(l.len(), 5);
        for (e, line) in l.iter().enumerate() {
            assert_eq!(
                (line["epoch"].as_u64(), line["step"].as_u64()),
                (Some(e as u64), Some(10 * e as u64))
            );
            let val = line["val_acc"].as_f64().unwrap();
            assert!((line["test_error"].as_f64().unwrap() - (1.0 - val)).abs() < 1e-12, "{line}");
        }
        // 40 full-batch steps at lr 1e-2 fit some of the 12 (or 13) training pairs.
        assert!(l[4]["train_loss"].as_f64().unwrap() < l[0]["train_loss"].as_f64().unwrap(), "{}", l[4]);
        for epoch in [0, 2, 4] {
            let dir = m.join(format!("checkpoint_{epoch:06}"));
            let loaded =
                pz_store::Checkpoint { dir: dir.clone(), epoch }.load().expect("a verified checkpoint");
            let names: Vec<(&str, &[usize])> =
                loaded.model.iter().map(|t| (t.name.as_str(), t.shape.as_slice())).collect();
            assert_eq!(names, NAMES, "{}", dir.display());
            assert_eq!(loaded.optimizer.len(), 2 * NAMES.len());
        }
        pytorch_accuracy_matches(m, &l[4]);
    }

    // Every metric the family offers, at the last epoch.
    let spec = zoo.join("zoo.toml");
    let mut text = std::fs::read_to_string(&spec).expect("zoo.toml");
    text.push_str("\n[metrics.llc]\nchains = 2\ndraws = 8\nburn_in = 4\n");
    std::fs::write(&spec, text).expect("zoo.toml written");
    let only = "hessian,cka,alpha,llc";
    let r = run(tmp.path(), &strings(&["metrics", "--device", "cpu", "--only", only, &path_arg(&zoo)]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("4 Hessians, 2 CKA cells") && r.stderr.contains(", 4 LLCs"), "{}", r.stderr);
    for m in &models {
        let line = &json_lines(&m.join("metrics.json"))[0];
        assert_eq!(line["epoch"].as_u64(), Some(4));
        for key in
            ["hessian_top_ev", "hessian_trace", "hessian_top_ev_val", "hessian_trace_val", "cka", "llc"]
        {
            assert!(line[key].as_f64().is_some_and(f64::is_finite), "{key} in {line}");
        }
        assert!((0.0..=1.0 + 1e-12).contains(&line["cka"].as_f64().unwrap()), "{line}");
        // Alpha reads the 2-D weight matrices of at least WeightWatcher's 10 eigenvalues: the
        // block's four (the LayerNorms are vectors; the embeddings, positions and head have 6,
        // 3 and 5 rows).
        let layers: Vec<&str> = line["ww_layers"]
            .as_array()
            .expect("ww_layers")
            .iter()
            .map(|l| l["name"].as_str().unwrap())
            .collect();
        let block =
            ["attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"].map(|n| format!("decoder.h.0.{n}"));
        assert_eq!(layers, block, "{line}");
    }

    // `phases --json`: every model gets one of the paper's four labels.
    let r = run(tmp.path(), &strings(&["phases", &path_arg(&zoo), "--json"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc = json(r.stdout.as_bytes());
    assert_eq!(doc["rule"]["budget_steps"].as_u64(), Some(40));
    let labels: Vec<&str> = doc["cells"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["models"].as_array().unwrap().iter().map(|m| m["label"]["phase"].as_str().unwrap()))
        .collect();
    assert_eq!(labels.len(), 4);
    let four = ["comprehension", "grokking", "memorization", "confusion"];
    assert!(labels.iter().all(|l| four.contains(l)), "{labels:?}");
    let r = run(tmp.path(), &strings(&["phases", &path_arg(&zoo)]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("learning phases (Liu et al. 2022)"), "{}", r.stdout);
}

/// The last checkpoint in the documented PyTorch module (`load_state_dict(strict=True)`)
/// classifies the 25 pairs as the recorded train and validation accuracies say.
#[allow(clippy::print_stderr)] // the skip must be visible in the test output
fn pytorch_accuracy_matches(model: &Path, last: &serde_json::Value) {
    let Some(python) = std::env::var_os("PZ_PYTHON") else {
        eprintln!("skipped the PyTorch check: PZ_PYTHON is not set (run the tests through ./pz test)");
        return;
    };
    let file = model.join("checkpoint_000004/model.safetensors");
    let out = std::process::Command::new(python)
        .arg(REFERENCE)
        .args(["--heads", "2", "--weights"])
        .arg(&file)
        .output()
        .expect("run python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got = json(&out.stdout);
    let mut right = 0.0;
    for (i, row) in got["logits"].as_array().unwrap().iter().enumerate() {
        let row: Vec<f64> = row.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let best = (0..row.len()).max_by(|&x, &y| row[x].total_cmp(&row[y])).unwrap();
        right += f64::from(u8::from(best == (i / 5 + i % 5) % 5));
    }
    // train_fraction 0.5 of 25 pairs: 13 train (⌊12.5⌉), 12 validation.
    let (train, val) = (last["train_acc"].as_f64().unwrap(), last["val_acc"].as_f64().unwrap());
    let recorded = train * 13.0 + val * 12.0;
    assert!((right - recorded).abs() < 1e-6, "PyTorch {right} right of 25, phasezoo {recorded}");
}
