//! `phasezoo metrics`: fills every metric of every model of a finished zoo, and a rerun computes
//! nothing and changes no byte.

use crate::util::{command_as_user, model_dirs, run, run_command, snapshot, strings, train_tiny};

#[test]
fn metrics_fill_every_model_and_a_rerun_changes_nothing() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let zoo = tmp.path().join("zoo");
    assert_eq!(train_tiny(tmp.path(), &zoo, 2, 10, 1).code, 0);
    let mut args = strings(&["metrics", "--device", "cpu"]);
    args.push(zoo.to_str().expect("UTF-8").to_string());
    let r = run(tmp.path(), &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("4 Hessians, 2 CKA cells, 2 mode-connectivity cells"), "{}", r.stderr);
    for model in model_dirs(&zoo) {
        let text = std::fs::read_to_string(model.join("metrics.json")).expect("metrics.json");
        let line: serde_json::Value = serde_json::from_str(text.trim()).expect("one JSON line");
        assert_eq!(line["epoch"], 2, "the last epoch by default");
        for key in
            ["hessian_top_ev", "hessian_trace", "cka", "mc_train_loss", "mc_test_loss", "mc_test_error"]
        {
            assert!(line[key].is_number(), "{key} missing in {text}");
        }
        // Five points along the curve; the ends are the two seeds (t = 0 is this cell's first).
        assert_eq!(line["curve_test_error"].as_array().expect("series").len(), 5);
        let cka = line["cka"].as_f64().unwrap();
        assert!((0.0..=1.0 + 1e-12).contains(&cka), "{cka}");
    }
    // The plot gains one panel per measured metric (cell seed means).
    let mut plot = strings(&["plot"]);
    plot.push(zoo.to_str().expect("UTF-8").to_string());
    assert_eq!(run(tmp.path(), &plot).code, 0);
    for name in ["test_error", "train_loss", "hessian_top_ev", "hessian_trace", "cka", "mc_test_error"] {
        for ext in ["png", "svg"] {
            assert!(zoo.join("plots").join(format!("{name}.{ext}")).is_file(), "no {name}.{ext}");
        }
    }
    // With mode connectivity measured, every cell gets a Yang et al. phase or a reason.
    let mut phases = strings(&["phases", "--json"]);
    phases.push(zoo.to_str().expect("UTF-8").to_string());
    let r = run(tmp.path(), &phases);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON");
    for c in doc["cells"].as_array().expect("cells") {
        let yang = &c["yang"];
        assert!(yang["phase"].is_string() || !yang["reason"].as_str().unwrap_or("").is_empty(), "{c}");
        assert!(c["mc"].is_number() && c["cka"].is_number(), "{c}");
    }
    let before = snapshot(&zoo);
    let again = run(tmp.path(), &args);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stderr.contains("0 Hessians, 0 CKA cells, 0 mode-connectivity cells"), "{}", again.stderr);
    let changed: Vec<_> = crate::util::differences(&before, &snapshot(&zoo))
        .into_iter()
        .filter(|p| !p.ends_with("train.log"))
        .collect();
    assert!(changed.is_empty(), "a rerun changed {changed:?}");
}

#[test]
fn an_unknown_metric_is_refused_with_the_names_that_exist() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let zoo = tmp.path().join("zoo");
    assert_eq!(train_tiny(tmp.path(), &zoo, 1, 2, 1).code, 0);
    let mut args = strings(&["metrics", "--only", "hessian,curvature"]);
    args.push(zoo.to_str().expect("UTF-8").to_string());
    let r = run(tmp.path(), &args);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("--only curvature: unknown metric"), "{}", r.stderr);
    assert!(r.stderr.contains("hint: use hessian, cka, mc or alpha"), "{}", r.stderr);
}

/// Issue 23 item 5: the embedded zoo's `run.metrics_after_training` makes `train` measure the
/// zoo before it draws the report, so README command 1 ends with Yang labels in report.html;
/// `--no-metrics` skips the metrics once.
#[test]
fn train_of_the_embedded_zoo_measures_it_and_the_report_shows_the_labels() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let zoo = tmp.path().join("zoo");
    let skipped = run(tmp.path(), &crate::util::train_args(&tmp.path().join("quick"), 2, 10, 1));
    assert_eq!(skipped.code, 0, "{}", skipped.stderr);
    assert!(
        !skipped.stderr.contains("measured epochs"),
        "--no-metrics measures nothing:\n{}",
        skipped.stderr
    );

    let mut args = crate::util::train_args(&zoo, 2, 10, 1);
    args.retain(|a| a != "--no-plot");
    let r = run_command(command_as_user(tmp.path(), &args));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("measured epochs [2]"), "{}", r.stderr);
    let measured = r.stderr.find("measured epochs").expect("measured");
    let report = r.stderr.find("report.html").expect("the report is written");
    assert!(measured < report, "the report comes after the metrics:\n{}", r.stderr);
    for dir in model_dirs(&zoo) {
        let text = std::fs::read_to_string(dir.join("metrics.json")).expect("every model measured");
        let line: serde_json::Value = serde_json::from_str(text.trim()).expect("one JSON line");
        assert!(line["cka"].is_number() && line["mc_train_loss"].is_number(), "{text}");
    }
    let page = std::fs::read_to_string(zoo.join("report.html")).expect("report.html");
    assert!(page.contains("id=\"panel-phases\"") && page.contains("id=\"panel-mc_test_error\""));
    let phases =
        run(tmp.path(), &[strings(&["phases", "--json"]), vec![crate::util::path_arg(&zoo)]].concat());
    let doc: serde_json::Value = serde_json::from_str(&phases.stdout).expect("JSON");
    for c in doc["cells"].as_array().expect("cells") {
        assert!(c["yang"]["phase"].is_string() || c["yang"]["reason"].is_string(), "a Yang label: {c}");
    }
}
