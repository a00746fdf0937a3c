//! Metrics and applications as claimable units (issue 20): three `phasezoo work --metrics`
//! processes on one trained zoo measure each measuring unit exactly once (their logs name the
//! units they measured; each model's train.log has one Hessian line) and write the same
//! `metrics.json` bytes as one `phasezoo metrics` run. Two `phasezoo work --apply` processes
//! write the same `applications.json` as one `phasezoo apply` (Fashion-MNIST, skipped without
//! it, as apply.rs).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use crate::util::{command, model_dirs, path_arg, run, strings, train_args};

/// A trained tiny zoo of four cells of two seeds (8 models, two epochs) copied to `to`, with
/// `run.max_population = 1`: one measuring unit per cell.
fn zoo_of_four_cells(tmp: &Path) -> PathBuf {
    let trained = tmp.join("trained");
    let mut a = train_args(&trained, 2, 10, 1);
    a.extend(strings(&["--set", "grid.temperature.values=[1e-2,1e-3]"]));
    let r = run(tmp, &a);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(model_dirs(&trained).len(), 8);
    trained
}

fn copy_with_units_of_one_cell(trained: &Path, to: &Path) -> PathBuf {
    let status = std::process::Command::new("cp").arg("-a").arg(trained).arg(to).status().expect("cp");
    assert!(status.success());
    let spec = to.join("zoo.toml");
    let text = std::fs::read_to_string(&spec).expect("zoo.toml");
    assert!(text.contains("max_population = 0"), "{text}");
    std::fs::write(&spec, text.replace("max_population = 0", "max_population = 1")).expect("zoo.toml");
    to.to_path_buf()
}

/// Every model's metrics.json, by model folder name.
fn metrics_files(zoo: &Path) -> BTreeMap<String, String> {
    model_dirs(zoo)
        .iter()
        .map(|m| {
            let name = m.file_name().and_then(|n| n.to_str()).expect("model id").to_string();
            (name, std::fs::read_to_string(m.join("metrics.json")).expect("metrics.json"))
        })
        .collect()
}

fn worker(tmp: &Path, zoo: &Path, name: &str, what: &[&str]) -> Child {
    let mut a = strings(&["-v", "work", &path_arg(zoo), "--device", "cpu", "--lease-secs", "2"]);
    a.extend(strings(&["--worker-id", name]));
    a.extend(strings(what));
    // Plain log lines (no colours) to read the units from.
    command(tmp, &a)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn worker")
}

/// Waits for every worker, insists each succeeded, returns their stderr.
fn finish(workers: Vec<Child>) -> Vec<String> {
    workers
        .into_iter()
        .map(|w| {
            let out = w.wait_with_output().expect("worker");
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(out.status.success(), "worker failed: {stderr}");
            stderr
        })
        .collect()
}

/// The units a worker's log says it worked on (`<what> unit=<id>` lines of `-v`).
fn units_in(log: &str, what: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains(&format!(" {what} ")) || l.ends_with(&format!(" {what}")))
        .filter_map(|l| l.split_whitespace().find_map(|w| w.strip_prefix("unit=")).map(str::to_string))
        .collect()
}

#[test]
fn issue_20_three_metrics_workers_measure_each_unit_once_and_match_one_metrics_run() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let trained = zoo_of_four_cells(tmp.path());
    let single = copy_with_units_of_one_cell(&trained, &tmp.path().join("single"));
    let shared = copy_with_units_of_one_cell(&trained, &tmp.path().join("shared"));
    let r = run(tmp.path(), &strings(&["metrics", "--device", "cpu", &path_arg(&single)]));
    assert_eq!(r.code, 0, "{}", r.stderr);

    let logs =
        finish((0..3).map(|i| worker(tmp.path(), &shared, &format!("m{i}"), &["--metrics"])).collect());
    let mut measured: Vec<String> = logs.iter().flat_map(|l| units_in(l, "measuring")).collect();
    measured.sort();
    let total = measured.len();
    measured.dedup();
    assert_eq!((total, measured.len()), (4, 4), "each of the 4 units measured once: {logs:#?}");
    let counted: usize = logs
        .iter()
        .map(|l| {
            let line = l.lines().find(|l| l.contains("this worker measured")).expect("summary line");
            line.rsplit(' ').next().and_then(|n| n.parse::<usize>().ok()).expect("a count")
        })
        .sum();
    assert_eq!(counted, 4, "{logs:#?}");
    // Each model measured once: one Hessian and one alpha line in its own log.
    for m in model_dirs(&shared) {
        let log = std::fs::read_to_string(m.join("train.log")).expect("train.log");
        let hessians = log.lines().filter(|l| l.contains("hessian") && l.contains("top_ev")).count();
        let alphas = log.lines().filter(|l| l.contains("heavy-tail alpha")).count();
        assert_eq!((hessians, alphas), (1, 1), "{}:\n{log}", m.display());
    }
    assert_eq!(metrics_files(&shared), metrics_files(&single), "workers and `metrics` differ");
    let claims: Vec<_> =
        std::fs::read_dir(shared.join("work/claims")).into_iter().flatten().flatten().collect();
    assert!(claims.is_empty(), "claims left: {claims:?}");

    // A late worker finds every unit measured and measures nothing.
    let late = finish(vec![worker(tmp.path(), &shared, "late", &["--metrics"])]);
    assert!(late[0].contains("this worker measured 0"), "{}", late[0]);
    assert_eq!(metrics_files(&shared), metrics_files(&single));
}

const FASHION: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/fashion-resnet18-small.toml");

#[test]
fn issue_20_two_apply_workers_write_what_one_apply_run_writes() {
    if !crate::vision::fashion_mnist_installed() {
        return;
    }
    let tmp = tempfile::tempdir().expect("temp dir");
    let trained = tmp.path().join("trained");
    let mut a = strings(&["train", FASHION, "--device", "cpu", "--no-plot", "--out", &path_arg(&trained)]);
    for s in [
        "grid.load.values=[2]",
        "grid.temperature.values=[32,64]",
        "grid.seeds=[0,1]",
        "problem.train_subset=128",
        "problem.test_subset=128",
        "train.epochs=2",
    ] {
        a.extend(strings(&["--set", s]));
    }
    let mut c = command(tmp.path(), &a);
    c.env("PHASEZOO_DATA", tmp.path().join("data"));
    let r = crate::util::run_command(c);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let copy = |name: &str| {
        let to = tmp.path().join(name);
        assert!(std::process::Command::new("cp")
            .arg("-a")
            .arg(&trained)
            .arg(&to)
            .status()
            .expect("cp")
            .success());
        to
    };
    let (single, shared) = (copy("single"), copy("shared"));
    let mut c = command(tmp.path(), &strings(&["apply", "ensemble", &path_arg(&single), "--device", "cpu"]));
    c.env("PHASEZOO_DATA", tmp.path().join("data"));
    let r = crate::util::run_command(c);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let workers: Vec<Child> = (0..2)
        .map(|i| {
            let mut a = strings(&["-v", "work", &path_arg(&shared), "--device", "cpu", "--lease-secs", "2"]);
            a.extend(strings(&["--worker-id", &format!("a{i}"), "--apply", "ensemble"]));
            let mut c = command(tmp.path(), &a);
            c.env("PHASEZOO_DATA", tmp.path().join("data")).env("NO_COLOR", "1");
            c.stdout(Stdio::null()).stderr(Stdio::piped());
            c.spawn().expect("spawn worker")
        })
        .collect();
    let logs = finish(workers);
    // A worker may claim a cell the other has just finished and find nothing left under the
    // claim (its list of pending cells predates the other's write), so count the cells each
    // worker computed (`cell done` lines), not its claims.
    let mut cells: Vec<String> = logs
        .iter()
        .flat_map(|l| l.lines().filter(|l| l.contains("cell done")).map(str::to_string).collect::<Vec<_>>())
        .filter_map(|l| l.split_whitespace().find_map(|w| w.strip_prefix("cell=")).map(str::to_string))
        .collect();
    cells.sort();
    let total = cells.len();
    cells.dedup();
    assert_eq!((total, cells.len()), (2, 2), "each cell applied once: {logs:#?}");
    let counted: usize = logs
        .iter()
        .filter_map(|l| l.lines().find_map(|l| l.strip_prefix("phasezoo: ensemble: ")))
        .filter_map(|rest| rest.split_whitespace().next().and_then(|n| n.parse::<usize>().ok()))
        .sum();
    assert_eq!(counted, 2, "the workers' summaries count each cell once: {logs:#?}");
    let read =
        |zoo: &Path| std::fs::read_to_string(zoo.join("applications.json")).expect("applications.json");
    assert_eq!(read(&shared), read(&single), "workers and `apply` differ");
}
