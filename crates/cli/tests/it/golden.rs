//! Golden zoos (issue 16): the SHA-256 of every `result.json`, `status.json`, `metrics.json` and
//! checkpoint file of two zoos trained and measured on the CPU, against the hashes recorded by
//! the binary of an earlier commit. A refactor that changes one byte of what a zoo holds fails
//! here; a deliberate change re-records the hashes and says why in docs/FORMAT.md.
//!
//! - `convection-small`: the embedded default (README command 1), then `metrics` (Hessian, CKA,
//!   mode connectivity).
//! - `fashion-tiny`: ResNet-18 at widths 2 and 4, batch 64, two seeds, one epoch on 512
//!   Fashion-MNIST images, then `metrics` (Hessian with short iterations, CKA).
//!
//! The recorded files are `golden/<zoo>.<cpu>.sha256` (`<hash>  <path in the zoo>`), one per
//! CPU class they were recorded on: float results of libtorch's CPU kernels depend on the vector
//! instructions it picks (AVX-512 or AVX2) and on the processor (oneDNN and the BLAS choose their
//! kernels by vendor and model: an AMD EPYC and the first recording's AVX-512 machine give
//! different bytes from the same binary), so the class is the instruction set, the vendor and the
//! CPU family and model, and a class with no file skips with a note instead of comparing. Every
//! run uses one OpenMP thread, so the core count does not matter. `golden/<zoo>.sha256` is the
//! first recording (8ce8af0, 2026-12-06, on an AVX-512 machine whose vendor was not written
//! down); no class matches it now.
//!
//! Record: `PHASEZOO_BLESS_GOLDEN=1 cargo test --release -p phasezoo --test it golden`, with
//! `PHASEZOO_GOLDEN_BIN=/path/to/phasezoo` to record with another build (the pre-refactor one).

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::util::{path_arg, run_command, strings};

const GOLDEN_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/golden");
const FASHION: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/fashion-resnet18-small.toml");

/// The binary that makes the zoo: the one under test, or `PHASEZOO_GOLDEN_BIN` when recording.
fn golden_command(cwd: &Path, args: &[String]) -> Command {
    let bin = std::env::var_os("PHASEZOO_GOLDEN_BIN")
        .map_or_else(|| PathBuf::from(crate::util::BIN), PathBuf::from);
    let mut c = Command::new(bin);
    c.args(args)
        .current_dir(cwd)
        .env("PHASEZOO_NO_PROGRESS", "1")
        .env("OMP_NUM_THREADS", "1")
        .env("PHASEZOO_DATA", cwd.join("data"))
        .env_remove("RUST_LOG");
    c
}

fn run_ok(cwd: &Path, args: &[String]) {
    let r = run_command(golden_command(cwd, args));
    assert_eq!(r.code, 0, "phasezoo {}:\n{}", args.join(" "), r.stderr);
}

/// The CPU class that decides libtorch's float kernels here: instruction set, then vendor,
/// family and model from /proc/cpuinfo (where there is one).
fn cpu_class() -> String {
    let isa = if std::arch::is_x86_feature_detected!("avx512f") {
        "x86_64-avx512"
    } else if std::arch::is_x86_feature_detected!("avx2") {
        "x86_64-avx2"
    } else {
        "other"
    };
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |key: &str| {
        info.lines()
            .find(|l| l.split(':').next().is_some_and(|k| k.trim() == key))
            .and_then(|l| l.split(':').nth(1))
            .map_or_else(|| "unknown".to_string(), |v| v.trim().replace(' ', "_"))
    };
    format!("{isa}-{}-f{}-m{}", field("vendor_id"), field("cpu family"), field("model"))
}

/// `<sha256>  <relative path>` of every result, status, metrics and checkpoint file, sorted.
fn hashes(zoo: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    let mut stack = vec![zoo.join("models")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable zoo") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let in_checkpoint = path
                .parent()
                .and_then(Path::file_name)
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("checkpoint_"));
            if in_checkpoint || ["result.json", "status.json", "metrics.json"].contains(&name) {
                let bytes = std::fs::read(&path).expect("readable file");
                let rel = path.strip_prefix(zoo).expect("inside the zoo").display().to_string();
                lines.push(format!("{}  {rel}", hex::encode(Sha256::digest(&bytes))));
            }
        }
    }
    lines.sort_by(|a, b| a[66..].cmp(&b[66..]));
    lines
}

/// Compare `zoo`'s hashes with `golden/<name>.sha256`, or record them when blessing.
fn check(name: &str, zoo: &Path) {
    let class = cpu_class();
    let path = Path::new(GOLDEN_DIR).join(format!("{name}.{class}.sha256"));
    let header = format!("# cpu: {class}");
    let got = hashes(zoo);
    assert!(!got.is_empty(), "no files hashed in {}", zoo.display());
    if std::env::var_os("PHASEZOO_BLESS_GOLDEN").is_some() {
        std::fs::create_dir_all(GOLDEN_DIR).expect("golden folder");
        std::fs::write(&path, format!("{header}\n{}\n", got.join("\n"))).expect("golden file written");
        return;
    }
    let Ok(text) = std::fs::read_to_string(&path) else {
        #[allow(clippy::print_stderr)] // the skip must be visible
        {
            eprintln!("skipped: no hashes recorded on this CPU class ({} is missing)", path.display());
        }
        return;
    };
    let mut lines = text.lines();
    let recorded_on = lines.next().unwrap_or_default();
    if recorded_on != header {
        #[allow(clippy::print_stderr)] // the skip must be visible
        {
            eprintln!("skipped: {} was recorded on `{recorded_on}`, this is `{header}`", path.display());
        }
        return;
    }
    let want: Vec<&str> = lines.collect();
    let differing: Vec<String> = want
        .iter()
        .filter(|w| !got.iter().any(|g| g == *w))
        .map(|w| format!("recorded {w}"))
        .chain(got.iter().filter(|g| !want.contains(&g.as_str())).map(|g| format!("now      {g}")))
        .collect();
    assert!(
        differing.is_empty(),
        "{} files of {name} differ from {} (explain the change in docs/FORMAT.md and re-record):\n{}",
        differing.len(),
        path.display(),
        differing.join("\n")
    );
}

#[test]
fn the_embedded_pinn_zoo_and_its_metrics_are_byte_identical_to_the_golden_hashes() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let zoo = tmp.path().join("zoo");
    let mut train = strings(&["train", "--device", "cpu", "--no-plot", "--out"]);
    train.push(path_arg(&zoo));
    run_ok(tmp.path(), &train);
    let mut metrics = strings(&["metrics", "--device", "cpu"]);
    metrics.push(path_arg(&zoo));
    run_ok(tmp.path(), &metrics);
    check("convection-small", &zoo);
}

#[test]
fn a_tiny_fashion_resnet_zoo_and_its_metrics_are_byte_identical_to_the_golden_hashes() {
    if !crate::vision::fashion_mnist_installed() {
        return;
    }
    let tmp = tempfile::tempdir().expect("temp dir");
    let zoo = tmp.path().join("zoo");
    let mut train = strings(&["train", FASHION, "--device", "cpu", "--no-plot", "--out"]);
    train.push(path_arg(&zoo));
    for s in [
        "grid.load.values=[2,4]",
        "grid.temperature.values=[64]",
        "grid.seeds=[0,1]",
        "problem.train_subset=512",
        "problem.test_subset=256",
        "train.epochs=1",
        "metrics.hessian.max_iter=5",
        "metrics.hessian.trace_max_iter=5",
    ] {
        train.extend(strings(&["--set", s]));
    }
    run_ok(tmp.path(), &train);
    let mut metrics = strings(&["metrics", "--device", "cpu", "--only", "hessian,cka"]);
    metrics.push(path_arg(&zoo));
    run_ok(tmp.path(), &metrics);
    check("fashion-tiny", &zoo);
}
