//! `index.parquet` reads in Python (pyarrow) and holds, for every model and epoch, the numbers
//! of the model's result.json and metrics.json, and the cell's phase.

use crate::util::{model_dirs, run, strings, train_tiny};

const CHECK: &str = r#"
import json, pathlib, sys
import pyarrow.parquet as pq
zoo = pathlib.Path(sys.argv[1])
t = pq.read_table(zoo / "index.parquet").to_pylist()
rows = {(r["model_id"], r["epoch"]): r for r in t}
n = 0
for model in (zoo / "models").iterdir():
    metrics = {}
    if (model / "metrics.json").exists():
        for line in (model / "metrics.json").read_text().splitlines():
            m = json.loads(line); metrics[m["epoch"]] = m
    for line in (model / "result.json").read_text().splitlines():
        r = json.loads(line); row = rows[(model.name, r["epoch"])]; n += 1
        for k in ("train_loss", "test_loss", "test_error", "step"):
            assert row[k] == r[k], (model.name, r["epoch"], k, row[k], r[k])
        m = metrics.get(r["epoch"], {})
        for k in ("hessian_top_ev", "hessian_trace", "cka", "mc_train_loss", "mc_test_error"):
            assert row[k] == m.get(k), (k, row[k], m.get(k))
        if m:
            assert row["phase"] in ("I", "II", "III", "IV-A", "IV-B", None), row["phase"]
assert n == len(rows), (n, len(rows))
print(json.dumps({"rows": n, "phases": sorted({str(r["phase"]) for r in t})}))
"#;

#[test]
#[allow(clippy::print_stderr)] // a skip must be visible in the test output
fn the_parquet_index_matches_the_result_and_metrics_files_in_python() {
    let Some(python) = std::env::var_os("PZ_PYTHON") else {
        eprintln!("skipped: PZ_PYTHON is not set (run the tests through ./pz test)");
        return;
    };
    let has_pyarrow = std::process::Command::new(&python).args(["-c", "import pyarrow"]).status();
    if !has_pyarrow.is_ok_and(|s| s.success()) {
        eprintln!(
            "skipped: no pyarrow in {} (./pz test installs it into the repo's .venv)",
            python.to_string_lossy()
        );
        return;
    }
    let tmp = tempfile::tempdir().expect("temp dir");
    let zoo = tmp.path().join("zoo");
    assert_eq!(train_tiny(tmp.path(), &zoo, 2, 10, 1).code, 0);
    let mut metrics = strings(&["metrics", "--device", "cpu"]);
    metrics.push(zoo.to_str().expect("UTF-8").to_string());
    assert_eq!(run(tmp.path(), &metrics).code, 0);
    let out = std::process::Command::new(python).arg("-c").arg(CHECK).arg(&zoo).output().expect("run python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(doc["rows"], 3 * model_dirs(&zoo).len(), "epochs 0..=2 of every model");
}
