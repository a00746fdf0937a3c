//! `status` and `phases`: read a finished zoo; refuse a folder that is none.

use crate::util::{path_arg, run, strings, train_tiny};

#[test]
fn status_after_a_run_counts_every_model_done() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let zoo = tmp.path().join("zoo");
    train_tiny(tmp.path(), &zoo, 1, 2, 1);
    let r = run(tmp.path(), &[strings(&["status"]), vec![path_arg(&zoo)]].concat());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let total = r.stdout.lines().find(|l| l.trim_start().starts_with("total")).expect("a total line");
    // Columns: done running stopped failed pending.
    let counts: Vec<&str> = total.split_whitespace().skip(1).collect();
    assert_eq!(counts, ["4", "0", "0", "0", "0"], "{}", r.stdout);
    // One line per grid cell (2 loads x 1 temperature) plus header and total.
    assert_eq!(r.stdout.lines().count(), 4, "{}", r.stdout);
}

#[test]
fn phases_json_has_one_labelled_cell_per_grid_cell() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let zoo = tmp.path().join("zoo");
    train_tiny(tmp.path(), &zoo, 1, 2, 1);
    let r = run(tmp.path(), &[strings(&["phases"]), vec![path_arg(&zoo)], strings(&["--json"])].concat());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).expect("stdout is JSON");
    let cells = doc["cells"].as_array().expect("cells array");
    assert_eq!(cells.len(), 2, "{doc:#}");
    let loads: Vec<f64> = cells.iter().map(|c| c["load"].as_f64().expect("load")).collect();
    assert_eq!(loads, [1.0, 20.0]);
    for c in cells {
        assert_eq!(c["temperature"].as_f64(), Some(0.01), "{c}");
        assert!(c["first"]["label"].is_string(), "every cell is finished, so labelled: {c}");
        assert!(c["yang"].is_null(), "no metrics yet, so no Yang phase: {c}");
    }
    assert_eq!(doc["load"], "beta");
    assert_eq!(doc["temperature"], "lr");
}

#[test]
fn status_of_a_folder_that_is_no_zoo_fails_with_a_hint() {
    let tmp = tempfile::tempdir().expect("temp dir");
    std::fs::write(tmp.path().join("notes.txt"), "not a zoo").expect("write");
    let r = run(tmp.path(), &[strings(&["status"]), vec![path_arg(tmp.path())]].concat());
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.starts_with("error: cannot open zoo"), "{}", r.stderr);
    assert!(r.stderr.contains("not a phasezoo zoo"), "{}", r.stderr);
    assert!(r.stderr.lines().any(|l| l.starts_with("hint: ")), "no hint line:\n{}", r.stderr);
}
