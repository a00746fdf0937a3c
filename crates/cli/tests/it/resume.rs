//! Resume after a crash: a run killed with SIGKILL, or left with a damaged checkpoint, and rerun
//! with the same command ends byte-identical to a run never interrupted (training is
//! deterministic in float64 on the CPU, and results past the resume checkpoint are recomputed).

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::sync::OnceLock;

use crate::util::{
    any_checkpoint, checkpoint_name, command, differences, model_dirs, run, run_command, signal, snapshot,
    states, temp_entries, train_args, wait_until, Snapshot,
};

/// Long enough (about 0.2 s an epoch alone on 2 cores) that a 20 ms poll catches the run
/// between its checkpoints; short enough to keep the binary fast.
pub const EPOCHS: u32 = 6;
const STEPS: u32 = 500;

/// The command every interrupted run and its reference use; checkpoint every epoch.
pub fn resume_args(out: &Path) -> Vec<String> {
    train_args(out, EPOCHS, STEPS, 1)
}

/// What must match: every file but the train.log files (timestamps; a resumed model's log also
/// has more lines), the `.lock`, and temporary entries a killed run left mid-write (they do not
/// change any result; `crash_remnants` tests their cleanup).
fn comparable(zoo: &Path) -> Snapshot {
    let temp = temp_entries(zoo);
    snapshot(zoo)
        .into_iter()
        .filter(|(k, _)| !k.ends_with("/train.log") && k != ".lock" && !temp.contains(k))
        .collect()
}

/// The uninterrupted run, trained once per test binary and shared by the resume tests.
fn reference() -> &'static Snapshot {
    static REFERENCE: OnceLock<Snapshot> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let tmp = tempfile::tempdir().expect("temp dir");
        let zoo = tmp.path().join("zoo");
        let r = run(tmp.path(), &resume_args(&zoo));
        assert_eq!(r.code, 0, "reference run failed:\n{}", r.stderr);
        comparable(&zoo)
    })
}

/// The zoo equals the reference byte for byte: params, status, index and every checkpoint
/// (the final weights included); result.json as [`compare_results`] says.
pub fn assert_same_as_reference(zoo: &Path, resumed_from: u32) {
    let reference = reference();
    let got = comparable(zoo);
    let diff = differences(reference, &got);
    let (results, others): (Vec<&String>, Vec<&String>) =
        diff.iter().partition(|p| p.ends_with("/result.json"));
    assert!(others.is_empty(), "after resume these differ from the uninterrupted run: {others:?}");
    let text =
        |s: &Snapshot, p: &str| String::from_utf8_lossy(s[p].as_deref().unwrap_or_default()).into_owned();
    for path in results {
        assert!(got.contains_key(path) && reference.contains_key(path), "{path} is missing on one side");
        compare_results(path, &text(reference, path), &text(&got, path), resumed_from);
    }
}

/// result.json must be byte-identical: lines past the resume epoch are recomputed, lines up to
/// it are kept (and written back with exactly the same digits).
fn compare_results(path: &str, want: &str, have: &str, resumed_from: u32) {
    let (want, have): (Vec<&str>, Vec<&str>) = (want.lines().collect(), have.lines().collect());
    assert_eq!(want.len(), have.len(), "{path}: number of lines");
    for (epoch, (a, b)) in want.iter().zip(&have).enumerate() {
        let kind = if epoch <= resumed_from as usize { "kept" } else { "recomputed" };
        assert_eq!(a, b, "{path}, epoch {epoch} ({kind} line) differs from the uninterrupted run");
    }
}

/// Every model's train.log says it resumed, all from the same epoch, which is returned: without
/// this an implementation that silently retrained from scratch would pass the equality checks.
pub fn assert_resumed(zoo: &Path) -> u32 {
    let epochs: Vec<u32> = model_dirs(zoo)
        .iter()
        .map(|m| {
            let log = std::fs::read_to_string(m.join("train.log")).expect("train.log");
            let line = log.lines().rev().find(|l| l.contains("resuming from checkpoint"));
            let line = line.unwrap_or_else(|| panic!("{} did not resume:\n{log}", m.display()));
            let epoch = line.rsplit_once(" epoch=").and_then(|(_, e)| e.parse().ok());
            epoch.unwrap_or_else(|| panic!("no epoch in {line}"))
        })
        .collect();
    assert!(epochs.windows(2).all(|w| w[0] == w[1]), "a population resumes together: {epochs:?}");
    epochs[0]
}

/// Start the resume command, SIGKILL it once a `checkpoint_<epoch>` exists, and check that it
/// was really cut short.
pub fn killed_after_checkpoint(cwd: &Path, zoo: &Path, epoch: u32) {
    let mut child = command(cwd, &resume_args(zoo))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn phasezoo");
    wait_until(&mut child, &format!("{} exists", checkpoint_name(epoch)), || any_checkpoint(zoo, epoch));
    signal(&child, libc::SIGKILL);
    let status = child.wait().expect("wait");
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status}");
    let states = states(zoo);
    assert!(
        states.iter().any(|s| s != "done"),
        "the run finished before the kill ({states:?}): make it longer"
    );
}

#[test]
fn a_killed_run_rerun_to_completion_matches_an_uninterrupted_run_byte_for_byte() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let zoo = tmp.path().join("zoo");
    killed_after_checkpoint(tmp.path(), &zoo, 2);
    let r = run(tmp.path(), &resume_args(&zoo));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let resumed_from = assert_resumed(&zoo);
    assert!((1..=EPOCHS).contains(&resumed_from), "killed after a checkpoint 2, resumed from {resumed_from}");
    assert_same_as_reference(&zoo, resumed_from);
}

/// The newest checkpoint epoch of a model folder.
fn newest_checkpoint(model: &Path) -> u32 {
    std::fs::read_dir(model)
        .expect("model dir")
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_prefix("checkpoint_")?.parse().ok())
        .max()
        .expect("a checkpoint")
}

#[test]
fn a_truncated_checkpoint_is_reported_and_resume_falls_back_to_the_one_before() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let zoo = tmp.path().join("zoo");
    killed_after_checkpoint(tmp.path(), &zoo, 3);
    // The population resumes from the newest epoch all members have; damage it in one member.
    let models = model_dirs(&zoo);
    let shared = models.iter().map(|m| newest_checkpoint(m)).min().expect("models");
    let victim = &models[0];
    let file = victim.join(checkpoint_name(shared)).join("model.safetensors");
    let len = std::fs::metadata(&file).expect("checkpoint file").len();
    std::fs::OpenOptions::new().write(true).open(&file).and_then(|f| f.set_len(len / 2)).expect("truncate");

    let mut c = command(tmp.path(), &resume_args(&zoo));
    c.env("RUST_LOG", "warn");
    let r = run_command(c);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let warning = r.stderr.lines().find(|l| l.contains("damaged checkpoint"));
    let warning = warning.unwrap_or_else(|| panic!("no damaged-checkpoint warning:\n{}", r.stderr));
    assert!(warning.contains(&crate::util::path_arg(&file)), "the file is not named: {warning}");
    assert!(warning.contains("truncated"), "{warning}");
    let log = std::fs::read_to_string(victim.join("train.log")).expect("train.log");
    assert!(log.contains("damaged checkpoint"), "the model's own log misses the warning:\n{log}");
    assert_eq!(assert_resumed(&zoo), shared - 1, "resume must fall back past the damaged checkpoint");
    assert_same_as_reference(&zoo, shared - 1);
}
