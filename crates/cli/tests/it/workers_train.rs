//! `phasezoo train` takes its units through the same claims as `phasezoo work` (issue 20): a
//! running `train` holds a claim per population it trains, named after the same unit ids the
//! workers use; killed, it leaves its claims behind, and the restarted `train` (which holds
//! the zoo alone) clears them at once instead of waiting out their leases, resumes, and ends
//! with no `work/` folder, as a `train` never killed.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::resume::{assert_resumed, assert_same_as_reference, resume_args};
use crate::util::{command, json, run, signal, wait_until};

/// The claim files of a zoo: (unit, pid of the claimer).
fn claims(zoo: &Path) -> Vec<(String, u64)> {
    let Ok(entries) = std::fs::read_dir(zoo.join("work/claims")) else { return Vec::new() };
    entries
        .filter_map(|e| {
            let path = e.ok()?.path();
            (path.extension()? == "claim").then_some(())?;
            let c = json(&std::fs::read(&path).ok()?);
            Some((c["unit"].as_str()?.to_string(), c["worker"]["pid"].as_u64()?))
        })
        .collect()
}

#[test]
fn issue_20_train_claims_its_units_and_a_killed_train_restarts_at_once() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let zoo = tmp.path().join("zoo");
    let mut child = command(tmp.path(), &resume_args(&zoo))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let pid = u64::from(child.id());
    wait_until(&mut child, "a claim of this train", || claims(&zoo).iter().any(|(_, p)| *p == pid));
    wait_until(&mut child, "checkpoint 2", || crate::util::any_checkpoint(&zoo, 2));
    signal(&child, libc::SIGKILL);
    let _ = child.wait();
    let held = claims(&zoo);
    assert!(!held.is_empty() && held.iter().all(|(u, p)| u.starts_with("u-") && *p == pid), "{held:?}");

    // Its leases (two minutes) still run: the restart must not wait for them.
    let start = Instant::now();
    let r = run(tmp.path(), &resume_args(&zoo));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(start.elapsed() < Duration::from_secs(60), "the restart waited {:?}", start.elapsed());
    let resumed_from = assert_resumed(&zoo);
    assert_same_as_reference(&zoo, resumed_from);
    assert!(!zoo.join("work").exists(), "a train alone leaves no work/ folder");
}
