//! Issue 19: a PTMZ experiment made by real PyTorch (crates/ptmz/tests/it/ptmz_experiment.py: a
//! 2-width × 2-batch × 2-seed ResNet-18 zoo in the Ray Tune layout, `module.` prefixes, one
//! legacy-format file) through `phasezoo import`: the weights equal PyTorch's bit for bit, a
//! second import changes no byte, `metrics` and `phases` run on the zoo, and `export` writes
//! checkpoints that `torch.load(weights_only=True)` reads back bit for bit.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{differences, model_dirs, path_arg, run, run_command, snapshot, strings};
use crate::vision::fashion_mnist_installed;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../ptmz/tests/it/ptmz_experiment.py");

/// `$PZ_PYTHON ptmz_experiment.py ARGS...`; panics with its output when it fails.
fn python(python: &Path, args: &[&Path]) -> String {
    let out = Command::new(python).arg(SCRIPT).args(args).output().expect("run $PZ_PYTHON");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "ptmz_experiment.py {args:?} failed:\n{text}");
    text
}

/// name → (dtype, shape, bytes) of a safetensors file.
fn tensors(path: &Path) -> HashMap<String, (pz_store::Dtype, Vec<usize>, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (tensors, _) = pz_store::decode_tensors(path, &bytes).expect("a safetensors file");
    tensors.into_iter().map(|t| (t.name, (t.dtype, t.shape, t.data))).collect()
}

/// The imported model folder of each (width, batch size, seed), from its params.json.
fn models_by_cell(zoo: &Path) -> HashMap<(u64, u64, u64), PathBuf> {
    model_dirs(zoo)
        .into_iter()
        .map(|dir| {
            let p: serde_json::Value =
                serde_json::from_slice(&std::fs::read(dir.join("params.json")).expect("params.json"))
                    .unwrap();
            let value = |axis: &str| p[axis]["value"].as_f64().expect("an axis value") as u64;
            ((value("load"), value("temperature"), p["seed"].as_u64().unwrap()), dir)
        })
        .collect()
}

#[test]
fn issue_19_a_pytorch_made_ptmz_zoo_imports_bit_for_bit_measures_and_exports() {
    let Some(py) = std::env::var_os("PZ_PYTHON").map(PathBuf::from) else {
        #[allow(clippy::print_stderr)] // the skip must be visible
        {
            eprintln!("skipped: PZ_PYTHON is unset (source scripts/libtorch-env.sh, or run ./pz test)");
        }
        return;
    };
    let tmp = tempfile::tempdir().expect("temp dir");
    let (exp, expected, zoo) = (tmp.path().join("exp"), tmp.path().join("expected"), tmp.path().join("zoo"));
    std::fs::create_dir_all(&exp).unwrap();
    std::fs::create_dir_all(&expected).unwrap();
    python(&py, &[Path::new("make"), &exp, &expected]);

    let import = [strings(&["import"]), vec![path_arg(&exp), "--out".into(), path_arg(&zoo)]].concat();
    let r = run(tmp.path(), &import);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("imported 8 trials") && r.stderr.contains("24 checkpoints written"),
        "{}",
        r.stderr
    );

    // Every checkpoint equals what PyTorch saved, tensor for tensor and byte for byte.
    let models = models_by_cell(&zoo);
    assert_eq!(models.len(), 8);
    for trial in std::fs::read_dir(&expected).unwrap() {
        let trial = trial.unwrap().path();
        let name = trial.file_name().unwrap().to_str().unwrap().to_owned();
        let tag = |key: &str| -> u64 {
            let rest = &name[name.find(&format!("{key}=")).expect("tag") + key.len() + 1..];
            rest.split([',', '_']).next().unwrap().parse().unwrap()
        };
        let dir = &models[&(tag("model_width"), tag("training_batchsize"), tag("seed"))];
        for epoch in 0..=2 {
            let want = tensors(&trial.join(format!("{epoch}.safetensors")));
            let got = tensors(&dir.join(format!("checkpoint_{epoch:06}/model.safetensors")));
            assert_eq!(got.len(), want.len(), "{name} epoch {epoch}");
            for (k, v) in &want {
                assert!(got.get(k) == Some(v), "{name} epoch {epoch}: tensor {k} differs from PyTorch's");
            }
        }
        // The result lines: PTMZ's numbers, test_error = 1 - test_acc, the original's keys kept.
        let text = std::fs::read_to_string(dir.join("result.json")).unwrap();
        let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        assert_eq!((last["epoch"].as_u64(), last["train_acc"].as_f64()), (Some(2), Some(0.7)), "{last}");
        assert!((last["test_error"].as_f64().unwrap() - 0.4).abs() < 1e-12, "{last}");
        assert_eq!(last["step"].as_u64(), Some(2 * 60_000u64.div_ceil(tag("training_batchsize"))));
    }
    let r = run(tmp.path(), &strings(&["status", zoo.to_str().unwrap()]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.lines().last().unwrap().split_whitespace().nth(1) == Some("8"), "{}", r.stdout);

    // A second import is a no-op: no byte of the zoo changes.
    let before = snapshot(&zoo);
    let r = run(tmp.path(), &import);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("0 checkpoints written, 24 unchanged"), "{}", r.stderr);
    assert_eq!(differences(&before, &snapshot(&zoo)), Vec::<String>::new());

    // Export, and PyTorch loads every exported checkpoint as the zoo's weights.
    let out = tmp.path().join("exported");
    let r = run(
        tmp.path(),
        &[strings(&["export"]), vec![path_arg(&zoo), "--ptmz".into(), path_arg(&out)]].concat(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(python(&py, &[Path::new("check"), &out, &zoo]).contains("checked 24 checkpoints"));
    // The export imports back as the same models.
    let again = tmp.path().join("again");
    let r = run(
        tmp.path(),
        &[strings(&["import"]), vec![path_arg(&out), "--out".into(), path_arg(&again)]].concat(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let names =
        |z: &Path| model_dirs(z).iter().map(|d| d.file_name().unwrap().to_owned()).collect::<Vec<_>>();
    assert_eq!(names(&again), names(&zoo));

    // The original's published metrics came along: the imported zoo and a summary CSV of the
    // same trials (SPEC §2.5's format) get the same labels.
    same_labels_as_the_summary_csv(tmp.path(), &zoo);

    if !fashion_mnist_installed() {
        return;
    }
    // Few Hessian products, for test time (the estimators are tested in pz-landscape).
    let spec = std::fs::read_to_string(zoo.join("zoo.toml")).unwrap();
    let spec =
        spec.replace("max_iter = 100", "max_iter = 3").replace("trace_sketch = 10", "trace_sketch = 0");
    assert!(spec.contains("max_iter = 3"), "{spec}");
    std::fs::write(zoo.join("zoo.toml"), spec).unwrap();
    let mut c = crate::util::command(
        tmp.path(),
        &[
            strings(&["metrics"]),
            vec![path_arg(&zoo)],
            strings(&["--only", "hessian,cka", "--device", "cpu"]),
        ]
        .concat(),
    );
    c.env("PHASEZOO_DATA", tmp.path().join("data")).env("OMP_NUM_THREADS", "2");
    let r = run_command(c);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for dir in models.values() {
        let metrics = std::fs::read_to_string(dir.join("metrics.json")).expect("metrics.json");
        assert!(metrics.contains("hessian_top_ev") && metrics.contains("\"cka\""), "{metrics}");
    }
    let r = run(tmp.path(), &strings(&["phases", zoo.to_str().unwrap()]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.lines().count() >= 4, "{}", r.stdout);
}

/// `phases --json` of the imported zoo against `phases --json --summary` of a CSV written from
/// its models' last result lines, the way PTMZ published its tables.
fn same_labels_as_the_summary_csv(cwd: &Path, zoo: &Path) {
    let mut csv = String::from(
        "model,trial_id,width,seed,lr,wd,batchsize,init_type,epoch,train_loss,train_acc,test_loss,\
         test_acc,representation_similarity,curve_mc_train_error,curve_mc_test_error,\
         log_hessian_trace_train,log_hessian_top_ev_val\n",
    );
    for dir in model_dirs(zoo) {
        let params: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("params.json")).unwrap()).unwrap();
        let text = std::fs::read_to_string(dir.join("result.json")).unwrap();
        let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        let cka = last["representation_similarity"].as_array().expect("published CKA");
        let cka = cka.iter().map(|v| v.as_f64().unwrap()).sum::<f64>() / cka.len() as f64;
        let (w, s, bs) = (&params["load"]["value"], &params["seed"], &params["temperature"]["value"]);
        csv += &format!(
            "\"m\",{},{w},{s},0.1,0.0005,{bs},kaiming_uniform,{},{},0.5,{},0.5,{cka},{},{},6.0,2.0\n",
            last["trial_id"].as_str().unwrap(),
            last["epoch"],
            last["train_loss"],
            last["test_loss"],
            last["curve_mc_train_error"],
            last["curve_mc_test_error"],
        );
    }
    let path = cwd.join("summary.csv");
    std::fs::write(&path, csv).unwrap();
    let labels = |args: Vec<String>| -> Vec<(f64, f64, serde_json::Value)> {
        let r = run(cwd, &args);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let doc: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON");
        let mut cells: Vec<(f64, f64, serde_json::Value)> = doc["cells"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (c["load"].as_f64().unwrap(), c["temperature"].as_f64().unwrap(), c["yang"]["phase"].clone())
            })
            .collect();
        cells.sort_by(|a, b| (a.0, a.1).partial_cmp(&(b.0, b.1)).unwrap());
        cells
    };
    let imported = labels([strings(&["phases", "--json"]), vec![path_arg(zoo)]].concat());
    let summary = labels([strings(&["phases", "--json", "--summary"]), vec![path_arg(&path)]].concat());
    assert_eq!(imported.len(), 4);
    assert_eq!(imported, summary);
    let phases: Vec<&serde_json::Value> = imported.iter().map(|c| &c.2).collect();
    assert!(
        phases.contains(&&serde_json::json!("I")) && phases.contains(&&serde_json::json!("II")),
        "{phases:?}"
    );
}
