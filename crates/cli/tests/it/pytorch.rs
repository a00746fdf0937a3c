//! A phasezoo checkpoint loads with `load_state_dict` into the documented PyTorch module
//! (python/phasezoo_pinn.py) and reproduces the test error phasezoo recorded for that epoch.
//!
//! Needs a Python with torch: `PZ_PYTHON` (exported by scripts/libtorch-env.sh, as `./pz test`
//! does). Without it the test says so and passes, for users who build against a libtorch zip.

use crate::util::{model_dirs, train_tiny};

#[test]
#[allow(clippy::print_stderr)] // the skip must be visible in the test output
fn checkpoints_load_into_the_pytorch_reference_and_reproduce_the_recorded_error() {
    let Some(python) = std::env::var_os("PZ_PYTHON") else {
        eprintln!("skipped: PZ_PYTHON is not set (run the tests through ./pz test)");
        return;
    };
    let tmp = tempfile::tempdir().expect("temp dir");
    let zoo = tmp.path().join("zoo");
    let r = train_tiny(tmp.path(), &zoo, 3, 20, 1);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../python/phasezoo_pinn.py");
    for model in model_dirs(&zoo) {
        let out = std::process::Command::new(&python).arg(script).arg(&model).output().expect("run python");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let got: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
        let results = std::fs::read_to_string(model.join("result.json")).expect("result.json");
        let last: serde_json::Value =
            serde_json::from_str(results.lines().last().expect("a line")).expect("JSON");
        assert_eq!(got["epoch"], last["epoch"]);
        for key in ["test_error", "test_loss"] {
            let (a, b) = (got[key].as_f64().unwrap(), last[key].as_f64().unwrap());
            // float64 zoo; PyTorch's Linear (addmm) and phasezoo's baddbmm sum in other orders.
            assert!((a - b).abs() <= 1e-10 * b.abs().max(1e-12), "{key}: PyTorch {a} vs phasezoo {b}");
        }
    }
}
