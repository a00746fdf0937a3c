//! Ctrl-C (SIGINT): the run stops at the next step with exit code 130 and says how to resume;
//! the rerun ends identical to an uninterrupted run.

use std::process::Stdio;

use crate::resume::{assert_resumed, assert_same_as_reference, resume_args};
use crate::util::{any_checkpoint, command, path_arg, run, signal, states, strings, wait_until};

#[test]
fn ctrl_c_exits_130_saying_how_to_resume_and_the_rerun_matches_an_uninterrupted_run() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let zoo = tmp.path().join("zoo");
    let mut child = command(tmp.path(), &resume_args(&zoo))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn phasezoo");
    wait_until(&mut child, "checkpoint_000001 exists", || any_checkpoint(&zoo, 1));
    signal(&child, libc::SIGINT);
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{}\n{stderr}", out.status);
    assert!(stderr.contains("Run the same command again to resume"), "{stderr}");
    let states = states(&zoo);
    assert!(states.iter().all(|s| s == "running"), "expected all interrupted: {states:?}");

    // Nobody holds the zoo now, so `status` calls the interrupted models stopped.
    let r = run(tmp.path(), &[strings(&["status"]), vec![path_arg(&zoo)]].concat());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let total = r.stdout.lines().find(|l| l.trim_start().starts_with("total")).expect("a total line");
    assert_eq!(
        total.split_whitespace().skip(1).collect::<Vec<_>>(),
        ["0", "0", "4", "0", "0"],
        "{}",
        r.stdout
    );

    let r = run(tmp.path(), &resume_args(&zoo));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let resumed_from = assert_resumed(&zoo);
    assert!(resumed_from >= 1, "interrupted after checkpoint 1, resumed from {resumed_from}");
    assert_same_as_reference(&zoo, resumed_from);
}
