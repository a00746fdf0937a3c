//! The claimed run without any training: units are numbers, their "work" a counter, threads of
//! two runs stand in for workers on other machines.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pz_exec::Cost;
use pz_store::{Claims, WorkerIdentity};
use tch::Device;

use super::{ClaimedRun, ClaimedUnit, UnitEnd, WorkOptions};
use crate::{Error, Outcome};

fn options(name: &str, lease_ms: u64) -> WorkOptions {
    WorkOptions {
        worker: WorkerIdentity { worker_id: name.into(), ..WorkerIdentity::current(None) },
        lease: Duration::from_millis(lease_ms),
    }
}

/// Units 0..n not in `done`, as a pass lists them.
fn pending(n: usize, done: &Mutex<BTreeSet<usize>>) -> Vec<ClaimedUnit<usize>> {
    let done = done.lock().unwrap();
    (0..n)
        .filter(|i| !done.contains(i))
        .map(|i| ClaimedUnit { id: format!("u-{i}"), item: i, cost: Cost::FIRST_COME })
        .collect()
}

#[test]
fn two_workers_with_two_threads_each_do_every_unit_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let stop = AtomicBool::new(false);
    let done = Mutex::new(BTreeSet::new());
    let times: Vec<AtomicUsize> = (0..40).map(|_| AtomicUsize::new(0)).collect();
    let reports: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|name| {
                let (done, times, stop) = (&done, &times, &stop);
                let root = tmp.path();
                s.spawn(move || {
                    let options = options(name, 2000);
                    let run =
                        ClaimedRun { zoo: root, devices: &[Device::Cpu], jobs: 2, stop, options: &options };
                    run.run(
                        || Ok::<_, Error>(pending(40, done)),
                        |_| (),
                        |(), &i, _, _| {
                            // Read again under the claim, as every caller does.
                            if done.lock().unwrap().contains(&i) {
                                return Ok(UnitEnd::NothingLeft);
                            }
                            times[i].fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(2));
                            done.lock().unwrap().insert(i);
                            Ok(UnitEnd::Done)
                        },
                    )
                    .unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(times.iter().all(|t| t.load(Ordering::SeqCst) == 1), "{times:?}");
    assert_eq!(reports.iter().map(|r| r.units).sum::<usize>(), 40);
    assert!(reports.iter().all(|r| r.outcome == Outcome::Finished));
    assert!(Claims::new(tmp.path(), Duration::ZERO).list().unwrap().is_empty(), "every claim released");
}

/// A unit claimed by a worker that died (its lease not renewed) is waited for, then taken
/// over once the lease ends: the run neither skips it nor takes it while the lease runs.
#[test]
fn a_dead_workers_unit_is_taken_over_after_its_lease() {
    let tmp = tempfile::tempdir().unwrap();
    let lease = Duration::from_millis(600);
    let dead = options("dead", 600);
    let claimed_at = Instant::now();
    Claims::new(tmp.path(), lease).try_claim("u-1", &dead.worker).unwrap().expect("free");
    let stop = AtomicBool::new(false);
    let done = Mutex::new(BTreeSet::new());
    let when = Mutex::new(Vec::new());
    let options = options("alive", 600);
    let run =
        ClaimedRun { zoo: tmp.path(), devices: &[Device::Cpu], jobs: 1, stop: &stop, options: &options };
    let report = run
        .run(
            || Ok::<_, Error>(pending(3, &done)),
            |_| (),
            |(), &i, _, _| {
                when.lock().unwrap().push((i, claimed_at.elapsed()));
                done.lock().unwrap().insert(i);
                Ok(UnitEnd::Done)
            },
        )
        .unwrap();
    assert_eq!(report, super::WorkReport { outcome: Outcome::Finished, units: 3 });
    let when = when.into_inner().unwrap();
    let (_, at) = when.iter().find(|(i, _)| *i == 1).expect("unit 1 done");
    assert!(*at >= lease, "taken after {at:?}, before its lease of {lease:?} ended");
}

/// A raised stop flag takes no further unit and reports the run interrupted.
#[test]
fn a_stop_request_ends_the_run_interrupted() {
    let tmp = tempfile::tempdir().unwrap();
    let stop = AtomicBool::new(false);
    let ran = AtomicUsize::new(0);
    let options = options("w", 2000);
    let run =
        ClaimedRun { zoo: tmp.path(), devices: &[Device::Cpu], jobs: 1, stop: &stop, options: &options };
    let report = run
        .run(
            || Ok::<_, Error>(pending(10, &Mutex::new(BTreeSet::new()))),
            |_| (),
            |(), _, _, unit_stop| {
                ran.fetch_add(1, Ordering::SeqCst);
                stop.store(true, Ordering::SeqCst);
                // The unit's own flag follows the run's within a heartbeat tick.
                let t0 = Instant::now();
                while !unit_stop.load(Ordering::SeqCst) && t0.elapsed() < Duration::from_secs(5) {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok(UnitEnd::Interrupted)
            },
        )
        .unwrap();
    assert_eq!(report.outcome, Outcome::Interrupted);
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}
