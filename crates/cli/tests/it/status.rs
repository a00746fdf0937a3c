//! `status` and `phases`: read a finished zoo; refuse a folder that is none.

use crate::util::{path_arg, run, strings, train_tiny};

#[test]
fn status_after_a_run_counts_every_model_done() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let zoo = tmp.path().join("zoo");
    train_tiny(tmp.path(), &zoo, 1, 2, 1);
    let r = run(tmp.path(), &[strings(&["status"]), vec![path_arg(&zoo)]].concat());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let total = r.stdout.lines().find(|l| l.trim_start().starts_with("total")).expect("a total line");
    // Columns: done running stopped failed pending.
    let counts: Vec<&str> = total.split_whitespace().skip(1).collect();
    assert_eq!(counts, ["4", "0", "0", "0", "0"], "{}", r.stdout);
    // One line per grid cell (2 loads x 1 temperature) plus header and total.
    assert_eq!(r.stdout.lines().count(), 4, "{}", r.stdout);
}

#[test]
fn phases_json_has_one_labelled_cell_per_grid_cell() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let zoo = tmp.path().join("zoo");
    train_tiny(tmp.path(), &zoo, 1, 2, 1);
    let r = run(tmp.path(), &[strings(&["phases"]), vec![path_arg(&zoo)], strings(&["--json"])].concat());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).expect("stdout is JSON");
    let cells = doc["cells"].as_array().expect("cells array");
    assert_eq!(cells.len(), 2, "{doc:#}");
    let loads: Vec<f64> = cells.iter().map(|c| c["load"].as_f64().expect("load")).collect();
    assert_eq!(loads, [1.0, 20.0]);
    for c in cells {
        assert_eq!(c["temperature"].as_f64(), Some(0.01), "{c}");
        assert!(c["first"]["label"].is_string(), "every cell is finished, so labelled: {c}");
        assert!(c["yang"].is_null(), "no metrics yet, so no Yang phase: {c}");
    }
    assert_eq!(doc["load"], "beta");
    assert_eq!(doc["temperature"], "lr");
}

#[test]
fn status_of_a_folder_that_is_no_zoo_fails_with_a_hint() {
    let tmp = tempfile::tempdir().expect("temp dir");
    std::fs::write(tmp.path().join("notes.txt"), "not a zoo").expect("write");
    let r = run(tmp.path(), &[strings(&["status"]), vec![path_arg(tmp.path())]].concat());
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.starts_with("error: cannot open zoo"), "{}", r.stderr);
    assert!(r.stderr.contains("not a phasezoo zoo"), "{}", r.stderr);
    assert!(r.stderr.lines().any(|l| l.starts_with("hint: ")), "no hint line:\n{}", r.stderr);
}

/// A reader that has gone (`phasezoo status DIR | head -0`) ends the process by SIGPIPE, as for
/// other command-line tools, instead of a panic at its first print.
#[test]
#[allow(unsafe_code)]
fn a_closed_stdout_pipe_ends_status_quietly() {
    use std::os::unix::io::FromRawFd;
    use std::os::unix::process::ExitStatusExt;
    let tmp = tempfile::tempdir().expect("temp dir");
    let zoo = tmp.path().join("zoo");
    train_tiny(tmp.path(), &zoo, 1, 2, 1);
    let mut fds = [0; 2];
    // SAFETY: a fresh pipe; its read end is closed here, its write end handed to the child's
    // stdout and owned by that Stdio alone.
    let stdout = unsafe {
        assert_eq!(libc::pipe(fds.as_mut_ptr()), 0, "a pipe");
        libc::close(fds[0]);
        std::process::Stdio::from_raw_fd(fds[1])
    };
    let mut c = crate::util::command(tmp.path(), &[strings(&["status"]), vec![path_arg(&zoo)]].concat());
    let out = c.stdout(stdout).stderr(std::process::Stdio::piped()).output().expect("phasezoo starts");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{:?} {stderr}", out.status);
}
