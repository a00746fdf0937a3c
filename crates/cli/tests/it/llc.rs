//! Issue 21 item 3: the local learning coefficient per measured epoch through `phasezoo metrics`,
//! only for zoos with a `[metrics.llc]` table; a rerun computes nothing and changes no byte.

use std::path::Path;

use crate::util::{differences, model_dirs, path_arg, run, snapshot, strings, train_tiny};

fn metrics(tmp: &Path, zoo: &Path, only: &[&str]) {
    let mut args = strings(&["metrics", "--device", "cpu"]);
    if !only.is_empty() {
        args.extend(strings(&["--only", &only.join(",")]));
    }
    args.push(path_arg(zoo));
    let r = run(tmp, &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

/// Each model's one metrics.json line.
fn lines(zoo: &Path) -> Vec<serde_json::Value> {
    model_dirs(zoo)
        .iter()
        .map(|m| {
            let text = std::fs::read_to_string(m.join("metrics.json")).expect("metrics.json");
            serde_json::from_str(text.trim()).expect("one JSON line")
        })
        .collect()
}

#[test]
fn llc_is_measured_only_with_its_table_and_a_rerun_changes_nothing() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let zoo = tmp.path().join("zoo");
    train_tiny(tmp.path(), &zoo, 2, 10, 1);

    // Without [metrics.llc], neither the default selection nor `--only llc` writes an llc key.
    metrics(tmp.path(), &zoo, &[]);
    metrics(tmp.path(), &zoo, &["llc"]);
    for line in lines(&zoo) {
        assert!(line["ww_alpha"].is_number() || line["ww_alpha"].is_null(), "{line}");
        let keys: Vec<&String> = line.as_object().expect("object").keys().collect();
        assert!(!keys.iter().any(|k| k.starts_with("llc")), "no llc without its table: {keys:?}");
    }

    let spec = zoo.join("zoo.toml");
    let mut text = std::fs::read_to_string(&spec).expect("zoo.toml");
    assert!(!text.contains("[metrics.llc]"), "absent unless asked:\n{text}");
    // nβ unset: n / ln n of the PINN's 64 collocation points (util::TINY).
    text.push_str("\n[metrics.llc]\nchains = 2\ndraws = 8\nburn_in = 4\nseed = 1\n");
    std::fs::write(&spec, text).expect("zoo.toml written");
    metrics(tmp.path(), &zoo, &["llc"]);
    for line in lines(&zoo) {
        assert_eq!(line["epoch"], 2, "the last epoch by default");
        let llc = line["llc"].as_f64().unwrap_or_else(|| panic!("finite llc: {line}"));
        assert!(llc.is_finite(), "{line}");
        assert!(line["llc_std"].as_f64().is_some_and(f64::is_finite), "{line}");
        assert!(line["llc_r_hat"].as_f64().is_some_and(|r| r.is_finite() && r > 0.0), "{line}");
        assert_eq!(line["llc_nbeta"].as_f64(), Some(64.0 / 64f64.ln()));
        let trace = line["llc_trace"].as_array().expect("chains");
        assert_eq!(trace.len(), 2, "one trace per chain");
        for chain in trace {
            let draws = chain.as_array().expect("draws");
            assert_eq!(draws.len(), 8, "every draw (at most 100 kept)");
            assert!(draws.iter().all(|d| d.as_f64().is_some_and(|l| l.is_finite() && l >= 0.0)), "{chain}");
        }
        assert!(line["hessian_trace"].is_number(), "earlier metrics kept: {line}");
    }

    // The index has the LLC columns, filled at the measured epoch.
    let index = std::fs::read_to_string(zoo.join("index_epochs.csv")).expect("index_epochs.csv");
    let header: Vec<&str> = index.lines().next().expect("header").split(',').collect();
    let col =
        |name: &str| header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("{name}: {header:?}"));
    let (llc, epoch) = (col("llc"), col("epoch"));
    let filled = index
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f[epoch] == "2")
        .filter(|f| f[llc].parse::<f64>().is_ok_and(f64::is_finite))
        .count();
    assert_eq!(filled, lines(&zoo).len(), "one llc per model at epoch 2:\n{index}");

    let before = snapshot(&zoo);
    metrics(tmp.path(), &zoo, &["llc"]);
    let changed: Vec<_> =
        differences(&before, &snapshot(&zoo)).into_iter().filter(|p| !p.ends_with("train.log")).collect();
    assert!(changed.is_empty(), "a rerun changed {changed:?}");

    // `--all-epochs`: every kept checkpoint (0, 1, 2 here), the LLC over training; epoch 2's
    // values are kept, not measured again.
    let args = strings(&["metrics", "--device", "cpu", "--only", "llc", "--all-epochs", &path_arg(&zoo)]);
    let r = run(tmp.path(), &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("measured epochs [0, 1, 2]"), "{}", r.stderr);
    for m in model_dirs(&zoo) {
        let text = std::fs::read_to_string(m.join("metrics.json")).expect("metrics.json");
        let lines: Vec<serde_json::Value> =
            text.lines().map(|l| serde_json::from_str(l).expect("JSON")).collect();
        let epochs: Vec<u64> = lines.iter().map(|l| l["epoch"].as_u64().expect("epoch")).collect();
        assert_eq!(epochs, [0, 1, 2], "{}", m.display());
        assert!(lines.iter().all(|l| l["llc"].as_f64().is_some_and(f64::is_finite)), "{text}");
    }
}
