//! Shared helpers: run the binary, tiny-zoo arguments, folder listings and byte snapshots,
//! signals and polling for spawned runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_phasezoo");

/// A finished invocation.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// [`command_as_user`], except that `train` gets `--no-metrics`: the embedded zoo measures itself after training
/// (`run.metrics_after_training`), which most tests do not need; [`command_as_user`] keeps it.
pub fn command(cwd: &Path, args: &[String]) -> Command {
    let mut c = command_as_user(cwd, args);
    if args.first().is_some_and(|a| a == "train") {
        c.arg("--no-metrics");
    }
    c
}

/// The binary with `args` as a user types them, in a controlled environment: no progress bars, no inherited `RUST_LOG` (stderr
/// content is asserted), and `cwd` as working folder so a default `zoos/` never lands in the repo.
/// One OpenMP thread per process: tests run in parallel, and two libtorch processes each
/// spinning a thread per core on 2 cores run some 30x slower (1.7 s vs 56 s measured); the
/// numbers are the same either way.
pub fn command_as_user(cwd: &Path, args: &[String]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .current_dir(cwd)
        .env("PHASEZOO_NO_PROGRESS", "1")
        .env("OMP_NUM_THREADS", "1")
        .env_remove("RUST_LOG");
    c
}

/// Run to completion and capture everything.
pub fn run(cwd: &Path, args: &[String]) -> Run {
    run_command(command(cwd, args))
}

pub fn run_command(mut c: Command) -> Run {
    let out = c.output().expect("the phasezoo binary starts");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn path_arg(p: &Path) -> String {
    p.to_str().expect("temp paths are UTF-8").to_string()
}

pub fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_string()).collect()
}

/// `--set` overrides of a tiny 4-model zoo (beta in {1, 20} x one lr x seeds {0, 1}), without
/// the recipe's epochs. float64 so that runs are bit-reproducible and comparable byte for byte.
pub const TINY: [&str; 9] = [
    "train.dtype=\"float64\"",
    "model.hidden=[8,8]",
    "problem.collocation_points=64",
    "problem.initial_points=16",
    "problem.boundary_points=8",
    "problem.eval_x=16",
    "problem.eval_t=8",
    "grid.load.values=[1,20]",
    "grid.temperature.values=[1e-2]",
];

/// `train` of the embedded default shrunk by [`TINY`] into `out`, with no recipe length yet.
pub fn tiny_train(out: &Path) -> Vec<String> {
    let mut a = strings(&["train", "--device", "cpu", "--no-plot", "--out"]);
    a.push(path_arg(out));
    for s in TINY.iter().copied().chain(["grid.seeds=[0,1]"]) {
        a.extend(strings(&["--set", s]));
    }
    a
}

/// [`tiny_train`] with `epochs` of `steps` optimizer steps, a checkpoint every `every` epochs.
pub fn train_args(out: &Path, epochs: u32, steps: u32, every: u32) -> Vec<String> {
    let mut a = tiny_train(out);
    for s in [
        format!("train.epochs={epochs}"),
        format!("train.steps_per_epoch={steps}"),
        format!("checkpoint.every={every}"),
    ] {
        a.extend(["--set".to_string(), s]);
    }
    a
}

/// Train a tiny zoo at `out` and insist it worked.
pub fn train_tiny(cwd: &Path, out: &Path, epochs: u32, steps: u32, every: u32) -> Run {
    let r = run(cwd, &train_args(out, epochs, steps, every));
    assert_eq!(r.code, 0, "training the tiny zoo failed:\n{}", r.stderr);
    r
}

/// Relative path ('/'-separated) → file bytes; folders map to `None`, so an added or removed
/// empty folder is a difference too.
pub type Snapshot = BTreeMap<String, Option<Vec<u8>>>;

/// Every entry under `dir`, dot-files included.
pub fn snapshot(dir: &Path) -> Snapshot {
    fn walk(root: &Path, dir: &Path, out: &mut Snapshot) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("dir entry").path();
            let rel = path.strip_prefix(root).expect("under root").to_str().expect("UTF-8").to_string();
            if path.is_dir() {
                out.insert(format!("{rel}/"), None);
                walk(root, &path, out);
            } else {
                out.insert(rel, Some(std::fs::read(&path).expect("readable file")));
            }
        }
    }
    let mut out = Snapshot::new();
    walk(dir, dir, &mut out);
    out
}

/// Every entry under `dir`, relative and sorted; folders end in '/'.
pub fn tree(dir: &Path) -> Vec<String> {
    snapshot(dir).into_keys().collect()
}

/// Entries with a dot-named component other than the zoo's `.lock`: the temporary files and
/// folders that atomic writes rename into place.
pub fn temp_entries(dir: &Path) -> Vec<String> {
    tree(dir).into_iter().filter(|p| p.split('/').any(|c| c.starts_with('.') && c != ".lock")).collect()
}

/// Paths whose presence or bytes differ between two snapshots.
pub fn differences(a: &Snapshot, b: &Snapshot) -> Vec<String> {
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter().filter(|k| a.get(*k) != b.get(*k)).cloned().collect()
}

/// `dir` is byte for byte what `before` recorded.
pub fn assert_untouched(before: &Snapshot, dir: &Path, what: &str) {
    let changed = differences(before, &snapshot(dir));
    assert!(changed.is_empty(), "{what} changed the existing zoo: {changed:?}");
}

/// The model folders of a zoo, sorted.
pub fn model_dirs(zoo: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(zoo.join("models")) else { return Vec::new() };
    let mut dirs: Vec<PathBuf> = entries.map(|e| e.expect("dir entry").path()).collect();
    dirs.sort();
    dirs
}

pub fn checkpoint_name(epoch: u32) -> String {
    format!("checkpoint_{epoch:06}")
}

/// Whether any model of the zoo has the checkpoint folder of `epoch` (renamed into place only
/// once complete, so its presence means it was fully written).
pub fn any_checkpoint(zoo: &Path, epoch: u32) -> bool {
    model_dirs(zoo).iter().any(|m| m.join(checkpoint_name(epoch)).is_dir())
}

/// The `state` field of every model's status.json ("pending" when absent).
pub fn states(zoo: &Path) -> Vec<String> {
    model_dirs(zoo)
        .iter()
        .map(|m| match std::fs::read(m.join("status.json")) {
            Ok(b) => json(&b)["state"].as_str().expect("state is a string").to_string(),
            Err(_) => "pending".to_string(),
        })
        .collect()
}

pub fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(bytes)))
}

/// The largest relative difference |a − b| / max(|a|, |b|, 1e-300) between the numbers of two
/// JSON values of the same structure, with the path where it is; an error naming the first
/// place where the structures, strings or booleans differ.
pub fn json_max_relative_difference(
    a: &serde_json::Value,
    b: &serde_json::Value,
) -> Result<(f64, String), String> {
    use serde_json::Value;
    fn walk(a: &Value, b: &Value, path: &str, worst: &mut (f64, String)) -> Result<(), String> {
        match (a, b) {
            (Value::Number(x), Value::Number(y)) => {
                let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
                let d = if x == y { 0.0 } else { (x - y).abs() / x.abs().max(y.abs()).max(1e-300) };
                if d > worst.0 || d.is_nan() {
                    *worst = (d, path.to_string());
                }
                Ok(())
            }
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
                .iter()
                .zip(y)
                .enumerate()
                .try_for_each(|(i, (x, y))| walk(x, y, &format!("{path}[{i}]"), worst)),
            (Value::Object(x), Value::Object(y)) if x.keys().eq(y.keys()) => {
                x.iter().try_for_each(|(k, v)| walk(v, &y[k], &format!("{path}.{k}"), worst))
            }
            _ if a == b => Ok(()),
            _ => Err(format!("{path}: {a} against {b}")),
        }
    }
    let mut worst = (0.0, String::new());
    walk(a, b, "", &mut worst)?;
    Ok(worst)
}

/// Every line of a JSON-lines file (result.json, metrics.json), parsed.
pub fn json_lines(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().map(|l| json(l.as_bytes())).collect()
}

/// `phasezoo train SPEC --no-plot --out ZOO --set …` run in `cwd`.
pub fn train_with_sets(cwd: &Path, spec: &str, zoo: &Path, sets: &[&str]) -> Run {
    let mut args = strings(&["train", spec, "--no-plot", "--out"]);
    args.push(path_arg(zoo));
    for s in sets {
        args.extend(strings(&["--set", s]));
    }
    run(cwd, &args)
}

/// Poll every 20 ms until `ready`; fail if the child exits first, since then the interruption
/// the test is about never happens (make the run longer).
pub fn wait_until(child: &mut Child, what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!("phasezoo exited ({status}) before {what}: make the run longer");
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill(); // do not leave it writing into a temp dir about to vanish
            panic!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Send a signal to a child this test spawned. `Child::kill` only sends SIGKILL; SIGINT (Ctrl-C)
/// needs kill(2) itself.
#[allow(unsafe_code)] // kill(2) on our own child's pid touches no memory of ours
pub fn signal(child: &Child, sig: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
    // SAFETY: kill(2) has no memory-safety preconditions.
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig}) failed: {}", std::io::Error::last_os_error());
}
