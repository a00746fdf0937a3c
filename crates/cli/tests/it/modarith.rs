//! Modular-arithmetic zoos through the binary: a tiny grid of the grokking example trains as
//! one population, writes a line of train and validation accuracy every epoch, keeps
//! checkpoints under the documented PyTorch names (loaded into that module by PyTorch when
//! `PZ_PYTHON` is set), and `phasezoo phases` labels every model as the paper's rule, applied
//! by hand to the result lines, says.

use std::path::Path;

use crate::util::{json, json_lines, model_dirs, path_arg, run, strings, train_with_sets};

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/grokking-modadd.toml");

/// The example shrunk: p = 7, 2 weight decays × 1 decoder lr × 2 seeds, 6 epochs of 25 steps.
const SETS: [&str; 13] = [
    "problem.p=7",
    "problem.train_fraction=0.5",
    "problem.embed_dim=4",
    "model.hidden=[16]",
    "grid.load.values=[0, 1]",
    "grid.temperature.values=[1e-2]",
    "grid.seeds=[0, 1]",
    "train.epochs=6",
    "train.steps_per_epoch=25",
    "checkpoint.every=3",
    "phases.learning_gap_steps=50",
    "train.dtype=\"float64\"",
    "run.device=\"cpu\"",
];

/// The rule of docs/METRICS.md by hand: threshold 0.9, gap 50, budget 150 steps.
fn phase_by_hand(lines: &[serde_json::Value]) -> &'static str {
    let reach = |key: &str| {
        lines
            .iter()
            .find(|l| l[key].as_f64().unwrap() >= 0.9 && l["step"].as_u64().unwrap() <= 150)
            .map(|l| l["step"].as_u64().unwrap())
    };
    match (reach("train_acc"), reach("val_acc")) {
        (None, _) => "confusion",
        (Some(_), None) => "memorization",
        (Some(t), Some(v)) if i128::from(v) - i128::from(t) >= 50 => "grokking",
        _ => "comprehension",
    }
}

#[test]
fn a_modarith_zoo_trains_logs_accuracies_and_is_labelled_by_the_papers_rule() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let zoo = tmp.path().join("zoo");
    let r = train_with_sets(tmp.path(), EXAMPLE, &zoo, &SETS);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let models = model_dirs(&zoo);
    assert_eq!(models.len(), 4);

    // One line per epoch with the accuracies at its step; test_error is 1 − val_acc.
    let mut by_id = std::collections::BTreeMap::new();
    for m in &models {
        let l = json_lines(&m.join("result.json"));
        assert_eq!(l.len(), 7);
        for (e, line) in l.iter().enumerate() {
            assert_eq!(line["epoch"].as_u64(), Some(e as u64));
            assert_eq!(line["step"].as_u64(), Some(25 * e as u64));
            let (train, val) = (line["train_acc"].as_f64().unwrap(), line["val_acc"].as_f64().unwrap());
            assert!((0.0..=1.0).contains(&train) && (0.0..=1.0).contains(&val), "{line}");
            assert!((line["test_error"].as_f64().unwrap() - (1.0 - val)).abs() < 1e-12);
            assert!(line["val_loss"].as_f64().unwrap() > 0.0);
        }
        // At lr 1e-2 on 24 pairs the training set is fitted within 150 steps.
        assert!(l[6]["train_acc"].as_f64().unwrap() > l[0]["train_acc"].as_f64().unwrap(), "{}", l[6]);
        by_id.insert(m.file_name().unwrap().to_string_lossy().into_owned(), phase_by_hand(&l));

        // Checkpoints at 0, 3 and 6 under PyTorch names, verified by the store.
        for epoch in [0, 3, 6] {
            let dir = m.join(format!("checkpoint_{epoch:06}"));
            let loaded =
                pz_store::Checkpoint { dir: dir.clone(), epoch }.load().expect("a verified checkpoint");
            let names: Vec<(&str, &[usize])> =
                loaded.model.iter().map(|t| (t.name.as_str(), t.shape.as_slice())).collect();
            assert_eq!(
                names,
                [
                    ("decoder.net.0.bias", [16].as_slice()),
                    ("decoder.net.0.weight", [16, 4].as_slice()),
                    ("decoder.net.2.bias", [7].as_slice()),
                    ("decoder.net.2.weight", [7, 16].as_slice()),
                    ("embedding.weight", [7, 4].as_slice()),
                ],
                "{}",
                dir.display()
            );
            assert_eq!(loaded.state.step, 25 * u64::from(epoch));
        }
        pytorch_accuracy_matches(m, &l[6]);
    }

    // `phases --json`: every model labelled as by hand, each cell by its majority.
    let r = run(tmp.path(), &strings(&["phases", &path_arg(&zoo), "--json"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc = json(r.stdout.as_bytes());
    assert_eq!(doc["rule"]["budget_steps"].as_u64(), Some(150));
    let mut seen = 0;
    for cell in doc["cells"].as_array().unwrap() {
        let mut phases = Vec::new();
        for m in cell["models"].as_array().unwrap() {
            let phase = m["label"]["phase"].as_str().unwrap();
            assert_eq!(phase, by_id[m["model_id"].as_str().unwrap()], "{m}");
            phases.push(phase);
            seen += 1;
        }
        // Two seeds: the majority is the shared phase, or the first in the paper's order.
        let order = ["comprehension", "grokking", "memorization", "confusion"];
        let expected = order.iter().find(|p| phases.contains(*p)).unwrap();
        assert_eq!(cell["majority"].as_str(), Some(*expected), "{cell}");
    }
    assert_eq!(seen, 4);
    let r = run(tmp.path(), &strings(&["phases", &path_arg(&zoo)]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("learning phases (Liu et al. 2022)"), "{}", r.stdout);
    assert!(!r.stdout.contains("Yang"), "{}", r.stdout);
    assert!(r.stdout.contains("models per phase:"), "{}", r.stdout);

    llc_curves_and_learning_map(tmp.path(), &zoo, &models);
}

/// Issue 21: the LLC at every checkpoint with the default nβ = n / ln n of each model's 25
/// training pairs, in the index; `plot` draws the learning-phase map and the LLC curves, and
/// the report shows both and each model's LLC among its curves.
fn llc_curves_and_learning_map(tmp: &Path, zoo: &Path, models: &[std::path::PathBuf]) {
    let spec = zoo.join("zoo.toml");
    let mut text = std::fs::read_to_string(&spec).expect("zoo.toml");
    text.push_str("\n[metrics.llc]\nchains = 2\ndraws = 8\nburn_in = 4\n");
    std::fs::write(&spec, text).expect("zoo.toml written");
    let r = run(
        tmp,
        &strings(&["metrics", "--device", "cpu", "--only", "llc", "--epochs", "0,3,6", &path_arg(zoo)]),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains(", 12 LLCs"), "{}", r.stderr);
    for m in models {
        let text = std::fs::read_to_string(m.join("metrics.json")).expect("metrics.json");
        let lines: Vec<serde_json::Value> = text.lines().map(|l| json(l.as_bytes())).collect();
        assert_eq!(lines.iter().map(|l| l["epoch"].as_u64().unwrap()).collect::<Vec<_>>(), [0, 3, 6]);
        for l in &lines {
            assert_eq!(l["llc_nbeta"].as_f64(), Some(25.0 / 25f64.ln()), "{l}");
            assert!(l["llc"].as_f64().is_some_and(f64::is_finite), "{l}");
        }
    }
    let plots = tmp.join("plots");
    let r = run(tmp, &strings(&["plot", &path_arg(zoo), "--out", &path_arg(&plots)]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    for name in ["learning_phases", "llc_curves"] {
        for ext in ["png", "svg"] {
            assert!(plots.join(format!("{name}.{ext}")).is_file(), "no {name}.{ext}: {}", r.stdout);
        }
    }
    assert!(!plots.join("phases.png").exists(), "no Yang et al. map for a modular-arithmetic zoo");
    let curves = std::fs::read_to_string(plots.join("llc_curves.svg")).expect("svg");
    // One chart per cell (weight decay 0 and 1 at lr 0.01).
    assert!(
        curves.contains("wd = 0, dec_lr = 0.01") && curves.contains("wd = 1, dec_lr = 0.01"),
        "{}",
        &curves[..2000.min(curves.len())]
    );

    let r = run(tmp, &strings(&["report", &path_arg(zoo)]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let page_path = zoo.join("report.html");
    let page = std::fs::read_to_string(&page_path).expect("report.html");
    for id in ["panel-learning_phases", "panel-llc_curves"] {
        assert!(page.contains(id), "no {id}");
    }
    assert!(page.find("panel-learning_phases") < page.find("panel-test_error"), "the phase map first");
    assert!(page.contains("[\"llc\","), "the models' llc series");
    if let Some(chromium) = crate::report::chromium() {
        let (dom, console) = crate::report::headless(&chromium, tmp, &page_path, &["--dump-dom"]);
        assert!(dom.contains("data-status=\"rendered\""), "the page script did not finish:\n{console}");
        assert!(dom.contains(">llc"), "the first model's llc chart");
    }
}

/// The last checkpoint loaded into the documented PyTorch module with `load_state_dict(strict)`
/// classifies all 49 pairs as the recorded train and validation accuracies say (25 and 24 of
/// them at train_fraction 0.5).
#[allow(clippy::print_stderr)] // the skip must be visible in the test output
fn pytorch_accuracy_matches(model: &Path, last: &serde_json::Value) {
    let Some(python) = std::env::var_os("PZ_PYTHON") else {
        eprintln!("skipped the PyTorch check: PZ_PYTHON is not set (run the tests through ./pz test)");
        return;
    };
    let script = r#"
import sys, torch
from safetensors.torch import load_file
from torch import nn
sd = load_file(sys.argv[1])
p, d = sd["embedding.weight"].shape
w = sd["decoder.net.0.weight"].shape[0]
class ModArith(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(p, d)
        self.decoder = nn.Module()
        self.decoder.net = nn.Sequential(nn.Linear(d, w), nn.Tanh(), nn.Linear(w, p))
    def forward(self, a, b):
        return self.decoder.net(self.embedding(a) + self.embedding(b))
m = ModArith().double()
m.load_state_dict(sd, strict=True)
a, b = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
a, b = a.flatten(), b.flatten()
print(int((m(a, b).argmax(-1) == (a + b) % p).sum()))
"#;
    let file = model.join("checkpoint_000006/model.safetensors");
    let out =
        std::process::Command::new(python).arg("-c").arg(script).arg(&file).output().expect("run python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let right: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().expect("a count");
    let (train, val) = (last["train_acc"].as_f64().unwrap(), last["val_acc"].as_f64().unwrap());
    let recorded = train * 25.0 + val * 24.0;
    assert!((right - recorded).abs() < 1e-6, "PyTorch {right} right of 49, phasezoo {recorded}");
}
