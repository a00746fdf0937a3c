//! Image zoos through the binary: the Fashion-MNIST example trains end to end on CPU to a
//! sensible accuracy, and a missing dataset is refused before anything is written.
//!
//! The real data is Debian's `dataset-fashion-mnist` (`.ci/run` installs it); without it the
//! training test is skipped with a note, except under CI where that is an error.

use std::path::Path;

use crate::util::{command, path_arg, run_command, strings};

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/fashion-resnet18-small.toml");

#[test]
fn the_fashion_example_trains_one_cell_to_85_percent_test_accuracy() {
    if !Path::new("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").exists() {
        assert!(std::env::var_os("CI").is_none(), "CI must install dataset-fashion-mnist (.ci/run does)");
        #[allow(clippy::print_stderr)] // the skip must be visible
        {
            eprintln!(
                "skipped: no /usr/share/datasets/fashion-mnist (apt-get install dataset-fashion-mnist)"
            );
        }
        return;
    }
    let tmp = tempfile::tempdir().expect("temp dir");
    let zoo = tmp.path().join("zoo");
    // One cell of the example (width 8, batch 32): three epochs over 10,000 images.
    let mut args = strings(&["train", EXAMPLE, "--device", "cpu", "--no-plot", "--out"]);
    args.push(path_arg(&zoo));
    for s in ["grid.load.values=[8]", "grid.temperature.values=[32]"] {
        args.extend(strings(&["--set", s]));
    }
    let mut c = command(tmp.path(), &args);
    // Two cores for the one training process (the other tests run single-threaded).
    c.env("OMP_NUM_THREADS", "2").env("PHASEZOO_DATA", tmp.path().join("data"));
    let r = run_command(c);
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
