//! Image zoos through the binary: the Fashion-MNIST example trains end to end on CPU to a
//! sensible accuracy, and a missing dataset is refused before anything is written.
//!
//! The real data is Debian's `dataset-fashion-mnist` (`.ci/run` installs it); without it the
//! training test is skipped with a note, except under CI where that is an error.

use std::path::Path;
use std::process::Command;

use crate::util::{command, path_arg, run_command, strings};

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/fashion-resnet18-small.toml");

/// Whether Debian's Fashion-MNIST is installed; without it a test skips with a note, except
/// under CI where that is an error.
pub(crate) fn fashion_mnist_installed() -> bool {
    if Path::new("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").exists() {
        return true;
    }
    assert!(std::env::var_os("CI").is_none(), "CI must install dataset-fashion-mnist (.ci/run does)");
    #[allow(clippy::print_stderr)] // the skip must be visible
    {
        eprintln!("skipped: no /usr/share/datasets/fashion-mnist (apt-get install dataset-fashion-mnist)");
    }
    false
}

/// `phasezoo train` of the Fashion-MNIST example on the CPU into `zoo`, with `jobs` workers,
/// `threads` OpenMP threads, the dataset cache under `tmp/data` and `sets` as `--set` overrides.
fn train_example(tmp: &Path, zoo: &Path, jobs: &str, threads: &str, sets: &[&str]) -> Command {
    let mut args = strings(&["train", EXAMPLE, "--device", "cpu", "--no-plot", "--jobs", jobs, "--out"]);
    args.push(path_arg(zoo));
    for s in sets {
        args.extend(strings(&["--set", s]));
    }
    let mut c = command(tmp, &args);
    c.env("OMP_NUM_THREADS", threads).env("PHASEZOO_DATA", tmp.join("data"));
    c
}

#[test]
fn the_fashion_example_trains_one_cell_to_85_percent_test_accuracy() {
    if !fashion_mnist_installed() {
        return;
    }
    let tmp = tempfile::tempdir().expect("temp dir");
    let zoo = tmp.path().join("zoo");
    // One cell of the example (width 8, batch 32): three epochs over 10,000 images, with two
    // cores for the one training process (the other tests run single-threaded).
    let sets = ["grid.load.values=[8]", "grid.temperature.values=[32]"];
    let r = run_command(train_example(tmp.path(), &zoo, "1", "2", &sets));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(tmp.path().join("data/fashion-mnist.safetensors").is_file(), "the Debian copy was imported");
    let models: Vec<_> =
        std::fs::read_dir(zoo.join("models")).expect("models").map(|e| e.unwrap().path()).collect();
    assert_eq!(models.len(), 1);
    let text = std::fs::read_to_string(models[0].join("result.json")).expect("result.json");
    let lines: Vec<serde_json::Value> =
        text.lines().map(|l| serde_json::from_str(l).expect("JSON")).collect();
    assert_eq!(lines.iter().map(|l| l["epoch"].as_u64().unwrap()).collect::<Vec<_>>(), [0, 1, 2, 3]);
    let last = lines.last().unwrap();
    // 10,000 images / 32 per batch, rounded up, three epochs.
    assert_eq!(last["step"], 3 * 313);
    let acc = last["test_acc"].as_f64().unwrap();
    assert!(acc >= 0.85, "test accuracy {acc} after three epochs");
    assert!((last["test_error"].as_f64().unwrap() - (1.0 - acc)).abs() < 1e-12);
    for epoch in 0..=3 {
        let ckpt = models[0].join(format!("checkpoint_{epoch:06}"));
        for file in ["model.safetensors", "optimizer.safetensors", "state.json", "manifest.json"] {
            assert!(ckpt.join(file).is_file(), "{}/{file}", ckpt.display());
        }
    }
    // The per-epoch index carries the accuracies (one row per result line).
    let index = std::fs::read_to_string(zoo.join("index_epochs.csv")).expect("index_epochs.csv");
    let header: Vec<&str> = index.lines().next().expect("header").split(',').collect();
    let column =
        |name: &str| header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("no {name} column"));
    let last_row: Vec<&str> = index.lines().last().expect("rows").split(',').collect();
    assert_eq!(index.lines().count(), 1 + 4);
    let indexed: f64 = last_row[column("test_acc")].parse().expect("a number");
    assert!((indexed - acc).abs() < 1e-12, "index {indexed} vs result.json {acc}");
    assert!(last_row[column("lr")].parse::<f64>().is_ok());
    checkpoint_loads_into_pytorch_with_the_same_logits(
        &models[0].join("checkpoint_000003/model.safetensors"),
    );
}

/// The trained checkpoint, as `train` wrote it, loads with `load_state_dict(strict=True)` into
/// python/phasezoo_vision.py and gives phasezoo's eval-mode logits to 1e-5.
#[allow(clippy::print_stderr)] // the skip must be visible
fn checkpoint_loads_into_pytorch_with_the_same_logits(weights: &Path) {
    use pz_models::vision::{logits_disagree, pytorch_logits, VisionModel, VisionModelConfig};
    use tch::{Device, Kind, Tensor};
    let Some(python) = std::env::var_os("PZ_PYTHON") else {
        eprintln!("skipped the PyTorch check: PZ_PYTHON is not set (run the tests through ./pz test)");
        return;
    };
    let bytes = std::fs::read(weights).expect("checkpoint");
    let (tensors, _) = pz_store::decode_tensors(weights, &bytes).expect("a safetensors file");
    let named: Vec<(String, Tensor)> = tensors
        .iter()
        .map(|t| (t.name.clone(), pz_models::tensor_from_named(t).expect("a phasezoo dtype")))
        .collect();
    let cfg = VisionModelConfig::resnet18(8, 1, 10);
    let mut model = VisionModel::new(&cfg, Device::Cpu, 0);
    model.load_state_dict(&named).expect("the checkpoint fits the model");
    let images = Tensor::randn([4, 1, 28, 28], (Kind::Float, Device::Cpu));
    let ours = model.forward_t(&images, false);
    let tmp = tempfile::tempdir().expect("temp dir");
    let theirs = pytorch_logits(&python, &cfg, weights, &images, &tmp.path().join("input.safetensors"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(theirs.logits.size(), [4, 10]);
    if let Some(e) = logits_disagree(&ours, &theirs.logits) {
        panic!("{e}");
    }
}

/// Four models trained by four workers at once write the same bytes (results, weights,
/// optimizer state) as the same models trained one after another: packing changes nothing but
/// the wall time.
#[test]
fn a_packed_run_writes_the_same_bytes_as_one_model_at_a_time() {
    if !fashion_mnist_installed() {
        return;
    }
    let tmp = tempfile::tempdir().expect("temp dir");
    let train = |jobs: &str| {
        let zoo = tmp.path().join(format!("zoo-jobs{jobs}"));
        let sets = [
            "grid.load.values=[2,4]",
            "grid.temperature.values=[32,64]",
            "problem.train_subset=512",
            "problem.test_subset=256",
            "train.epochs=2",
        ];
        let r = run_command(train_example(tmp.path(), &zoo, jobs, "1", &sets));
        assert_eq!(r.code, 0, "{}", r.stderr);
        zoo
    };
    let (alone, packed) = (train("1"), train("4"));
    let mut models: Vec<_> =
        std::fs::read_dir(alone.join("models")).expect("models").map(|e| e.unwrap().file_name()).collect();
    models.sort();
    assert_eq!(models.len(), 4);
    for id in &models {
        for file in
            ["result.json", "checkpoint_000002/model.safetensors", "checkpoint_000002/optimizer.safetensors"]
        {
            let read = |zoo: &Path| std::fs::read(zoo.join("models").join(id).join(file)).expect(file);
            assert!(
                read(&alone) == read(&packed),
                "{}/{file} differs between --jobs 1 and --jobs 4",
                id.to_string_lossy()
            );
        }
    }
}

/// One model of two diverges (learning rate 1e30 on the temperature axis): it is marked failed
/// with its reason while the other, trained at the same time, finishes; a rerun retrains
/// neither and exits 0.
#[test]
fn a_diverging_image_model_fails_alone_and_a_rerun_keeps_both() {
    if !fashion_mnist_installed() {
        return;
    }
    let tmp = tempfile::tempdir().expect("temp dir");
    let zoo = tmp.path().join("zoo");
    let sets = [
        "grid.load.values=[2]",
        "grid.temperature.key=\"train.lr\"",
        "grid.temperature.name=\"lr\"",
        "grid.temperature.values=[0.05, 1e30]",
        "problem.train_subset=256",
        "problem.test_subset=128",
        "train.epochs=2",
    ];
    let run = || run_command(train_example(tmp.path(), &zoo, "2", "1", &sets));
    let first = run();
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(first.stderr.contains("1 models done, 1 failed"), "{}", first.stderr);
    let index = std::fs::read_to_string(zoo.join("index.csv")).expect("index.csv");
    let rows: Vec<&str> = index.lines().skip(1).collect();
    assert_eq!(rows.len(), 2);
    let row = |lr: &str| *rows.iter().find(|r| r.contains(&format!(",lr,{lr},"))).expect(lr);
    assert!(row("0.05").contains(",done,2,"), "{index}");
    assert!(
        row("1e30").contains(",failed,") && row("1e30").ends_with(",loss became non-finite at epoch 1"),
        "{index}"
    );
    let second = run();
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert!(second.stderr.contains("0 to train"), "{}", second.stderr);
    assert_eq!(
        std::fs::read_to_string(zoo.join("index.csv")).expect("index.csv"),
        index,
        "the rerun changed nothing"
    );
}

#[test]
fn a_dataset_that_is_not_cached_is_refused_before_the_zoo_is_created() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let zoo = tmp.path().join("zoo");
    let mut args =
        strings(&["train", EXAMPLE, "--device", "cpu", "--set", "problem.dataset=\"cifar10\"", "--out"]);
    args.push(path_arg(&zoo));
    let mut c = command(tmp.path(), &args);
    c.env("PHASEZOO_DATA", tmp.path().join("data"));
    let r = run_command(c);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("phasezoo data fetch cifar10"), "{}", r.stderr);
    assert!(!zoo.exists(), "nothing written");
}

#[test]
fn data_fetch_from_a_missing_path_names_it() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let missing = tmp.path().join("no-such-cifar.tar.gz");
    let mut args = strings(&["data", "fetch", "cifar10", "--data-dir"]);
    args.push(path_arg(&tmp.path().join("data")));
    args.push("--from".into());
    args.push(path_arg(&missing));
    let r = run_command(command(tmp.path(), &args));
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains(&missing.display().to_string()), "{}", r.stderr);
    assert!(!tmp.path().join("data/cifar10.safetensors").exists());
}

#[test]
fn a_vit_that_cannot_cut_the_images_into_patches_is_refused_before_writing() {
    if !Path::new("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").exists() {
        assert!(std::env::var_os("CI").is_none(), "CI must install dataset-fashion-mnist (.ci/run does)");
        return;
    }
    let tmp = tempfile::tempdir().expect("temp dir");
    let zoo = tmp.path().join("zoo");
    let mut args = strings(&["train", EXAMPLE, "--device", "cpu", "--out"]);
    args.push(path_arg(&zoo));
    // 28×28 Fashion-MNIST images do not split into 3×3 patches.
    for s in ["model={architecture=\"vit\", width=16, patch_size=3}", "grid.load.values=[16]"] {
        args.extend(strings(&["--set", s]));
    }
    let mut c = command(tmp.path(), &args);
    c.env("PHASEZOO_DATA", tmp.path().join("data"));
    let r = run_command(c);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("cannot be built on 1×28×28 images"), "{}", r.stderr);
    assert!(r.stderr.contains("model.patch_size"), "{}", r.stderr);
    assert!(!zoo.exists(), "nothing written");
}

/// `metrics` on an image zoo: every model gets its Hessian's top eigenvalue and trace on the
/// training samples and on the test samples (`_val`), the cell's CKA between its two seeds and
/// the mode connectivity of the Bezier curve between them (train and test loss and error, with
/// the series along the curve); a rerun computes nothing.
#[test]
fn metrics_of_an_image_zoo_measure_hessians_cka_and_mode_connectivity() {
    if !fashion_mnist_installed() {
        return;
    }
    let tmp = tempfile::tempdir().expect("temp dir");
    let zoo = tmp.path().join("zoo");
    let sets = [
        "grid.load.values=[2]",
        "grid.temperature.values=[64]",
        "grid.seeds=[0, 1]",
        "problem.train_subset=640",
        "problem.test_subset=640",
        "train.epochs=1",
        // Few products and curve steps, for CI time: the numbers' methods are tested in
        // pz-landscape and pz-train (the curve's evaluation against PyTorch).
        "metrics.hessian.max_iter=4",
        "metrics.hessian.trace_max_iter=4",
        "metrics.curve.epochs=1",
        "metrics.curve.lr=0.1",
        "metrics.curve.weight_decay=5e-4",
    ];
    let r = run_command(train_example(tmp.path(), &zoo, "1", "1", &sets));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let metrics = |extra: &[&str]| {
        let mut args = [strings(&["metrics"]), vec![path_arg(&zoo)], strings(&["--device", "cpu"])].concat();
        args.extend(strings(extra));
        let mut c = command(tmp.path(), &args);
        c.env("PHASEZOO_DATA", tmp.path().join("data"));
        run_command(c)
    };
    let r = metrics(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("2 Hessians, 1 CKA cells, 1 mode-connectivity cells"), "{}", r.stderr);
    let models: Vec<_> =
        std::fs::read_dir(zoo.join("models")).expect("models").map(|e| e.unwrap().path()).collect();
    assert_eq!(models.len(), 2);
    for model in &models {
        let line = first_metrics_line(model);
        assert_eq!(line["epoch"], 1, "{line}");
        for suffix in ["", "_val"] {
            let top = line[format!("hessian_top_ev{suffix}")].as_f64().expect("a top eigenvalue");
            let trace = line[format!("hessian_trace{suffix}")].as_f64().expect("a trace");
            // A trained classifier's loss is locally convex-ish: a positive top eigenvalue, and a
            // trace estimate (mean of Rademacher probes) that is finite.
            assert!(top > 0.0 && top.is_finite(), "{suffix}: {line}");
            assert!(trace.is_finite(), "{suffix}: {line}");
            let samples = line[format!("hessian_trace_samples{suffix}")].as_u64().unwrap();
            assert!((1..=4).contains(&samples), "{line}");
        }
        // Two seeds of one cell: one pair; linear CKA lies in [0, 1].
        let cka = line["cka"].as_f64().expect("a CKA");
        assert!((0.0..=1.0).contains(&cka), "{line}");
        assert_eq!(line["cka_pairs"].as_array().map(Vec::len), Some(1), "{line}");
        assert_mode_connectivity(&line);
    }
    let again = metrics(&[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stderr.contains("0 Hessians, 0 CKA cells, 0 mode-connectivity cells"), "{}", again.stderr);
}

/// A ViT zoo (no BatchNorm: the curve's evaluation has no statistics pass) gets mode
/// connectivity values too.
#[test]
fn metrics_of_a_vit_zoo_measure_mode_connectivity() {
    if !fashion_mnist_installed() {
        return;
    }
    let tmp = tempfile::tempdir().expect("temp dir");
    let zoo = tmp.path().join("zoo");
    let sets = [
        // 28×28 images in 7×7 patches: 16 tokens, one encoder block.
        "model={architecture=\"vit\", width=16, patch_size=7, depth=1}",
        "grid.load.values=[16]",
        "grid.temperature.values=[64]",
        "grid.seeds=[0, 1]",
        "problem.train_subset=256",
        "problem.test_subset=256",
        "train.epochs=1",
        "metrics.curve.epochs=1",
    ];
    let r = run_command(train_example(tmp.path(), &zoo, "1", "1", &sets));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut c = command(
        tmp.path(),
        &[strings(&["metrics"]), vec![path_arg(&zoo)], strings(&["--device", "cpu", "--only", "mc"])]
            .concat(),
    );
    c.env("PHASEZOO_DATA", tmp.path().join("data"));
    let r = run_command(c);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("0 Hessians, 0 CKA cells, 1 mode-connectivity cells"), "{}", r.stderr);
    for model in std::fs::read_dir(zoo.join("models")).expect("models").map(|e| e.unwrap().path()) {
        assert_mode_connectivity(&first_metrics_line(&model));
    }
}

fn first_metrics_line(model: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(model.join("metrics.json")).expect("metrics.json");
    serde_json::from_str(text.lines().next().expect("a line")).expect("JSON")
}

/// A classifier's mode connectivity: four mc values (errors in percentage points) and the five
/// points of each series along the curve, errors within 0 … 100.
fn assert_mode_connectivity(line: &serde_json::Value) {
    for quantity in ["train_loss", "test_loss", "train_error", "test_error"] {
        let mc = line[format!("mc_{quantity}")].as_f64().unwrap_or_else(|| panic!("mc_{quantity}: {line}"));
        assert!(mc.is_finite(), "{line}");
        let series: Vec<f64> = line[format!("curve_{quantity}")]
            .as_array()
            .unwrap_or_else(|| panic!("curve_{quantity}: {line}"))
            .iter()
            .map(|v| v.as_f64().expect("a number"))
            .collect();
        assert_eq!(series.len(), 5, "{line}");
        if quantity.ends_with("error") {
            assert!(series.iter().all(|e| (0.0..=100.0).contains(e)), "{quantity}: {series:?}");
        } else {
            assert!(series.iter().all(|l| l.is_finite() && *l > 0.0), "{quantity}: {series:?}");
        }
    }
}
