//! Claims under races: threads stand in for workers on other machines (each its own identity).

use std::sync::atomic::AtomicBool;
use std::sync::Barrier;
use std::time::Duration;

use super::{Claims, WorkerIdentity};

fn worker(n: usize) -> WorkerIdentity {
    WorkerIdentity {
        worker_id: format!("w{n}"),
        host: format!("host{n}"),
        pid: 1000 + u32::try_from(n).unwrap(),
        slurm_job_id: None,
        slurm_array_task: None,
    }
}

/// `n` claimers start at once on `unit`; how many won.
fn race(claims: &Claims, unit: &str, n: usize) -> usize {
    let barrier = Barrier::new(n);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    claims.try_claim(unit, &worker(i)).expect("claim I/O").is_some()
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().expect("claimer thread").then_some(())).count()
    })
}

#[test]
fn of_racing_claimers_exactly_one_wins() {
    let tmp = tempfile::tempdir().unwrap();
    let claims = Claims::new(tmp.path(), Duration::from_secs(60));
    for round in 0..20 {
        assert_eq!(race(&claims, &format!("u-{round}"), 8), 1, "round {round}");
    }
}

#[test]
fn a_live_lease_is_not_taken_over() {
    let tmp = tempfile::tempdir().unwrap();
    let claims = Claims::new(tmp.path(), Duration::from_secs(60));
    let held = claims.try_claim("u-a", &worker(99)).unwrap().expect("first claim");
    assert_eq!(race(&claims, "u-a", 8), 0);
    assert_eq!(claims.read("u-a").unwrap(), Some(held));
}

#[test]
fn an_expired_lease_is_taken_over_by_exactly_one_taker() {
    let tmp = tempfile::tempdir().unwrap();
    for round in 0..20 {
        let unit = format!("u-{round}");
        // A zero lease is expired as soon as it is written: its worker "died" at once.
        let dead =
            Claims::new(tmp.path(), Duration::ZERO).try_claim(&unit, &worker(99)).unwrap().expect("claim");
        let takers = Claims::new(tmp.path(), Duration::from_secs(60));
        assert_eq!(race(&takers, &unit, 8), 1, "round {round}");
        let now = takers.read(&unit).unwrap().expect("a claim");
        assert_ne!(now.token, dead.token);
        // The dead worker's renewal finds its claim gone and writes nothing.
        assert!(takers.renew(&dead).unwrap().is_none());
        assert_eq!(takers.read(&unit).unwrap(), Some(now));
    }
}

#[test]
fn a_released_unit_can_be_claimed_again_and_hold_releases_it() {
    let tmp = tempfile::tempdir().unwrap();
    let claims = Claims::new(tmp.path(), Duration::from_millis(200));
    let held = claims.try_claim("u-a", &worker(1)).unwrap().expect("claim");
    let stop = AtomicBool::new(false);
    // Longer than the lease: the heartbeat must keep it alive.
    let ((), lost) = claims
        .hold(held, &stop, |_| {
            std::thread::sleep(Duration::from_millis(600));
            assert!(claims.try_claim("u-a", &worker(2)).unwrap().is_none(), "renewed lease taken");
        })
        .unwrap();
    assert!(!lost);
    assert!(claims.read("u-a").unwrap().is_none(), "released");
    assert!(claims.try_claim("u-a", &worker(3)).unwrap().is_some());
}

#[test]
fn a_failure_record_round_trips_and_the_exclusive_holder_clears_every_claim() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = pz_spec::ZooSpec::parse(pz_spec::EMBEDDED_DEFAULT, "t", &[]).unwrap();
    let (zoo, lock) = crate::ZooDir::create_or_open_locked(&tmp.path().join("zoo"), &spec).unwrap();
    let claims = Claims::new(&zoo.path, Duration::from_secs(60));
    assert_eq!(claims.failure("m-1").unwrap(), None);
    claims.mark_failed("m-1", &["model a at epoch 2: damaged".into()]).unwrap();
    assert_eq!(claims.failure("m-1").unwrap(), Some(vec!["model a at epoch 2: damaged".to_string()]));
    // A live claim of a killed run, a takeover marker and a temporary file.
    claims.try_claim("u-a", &worker(1)).unwrap().expect("claim");
    std::fs::write(zoo.path.join("work/claims/u-a.0123.taken"), "x").unwrap();
    std::fs::write(zoo.path.join("work/claims/.u-b.0123.tmp"), "x").unwrap();
    std::fs::write(zoo.path.join("work/units.json"), "{\"units\": []}").unwrap();
    assert_eq!(claims.clear_stale(&lock).unwrap(), 4);
    assert!(!zoo.path.join("work/claims").exists());
    assert!(zoo.path.join("work/units.json").exists(), "the units stay");
    assert!(claims.try_claim("u-a", &worker(2)).unwrap().is_some(), "free again at once");
    std::fs::remove_file(zoo.path.join("work/units.json")).unwrap();
    assert_eq!(claims.clear_stale(&lock).unwrap(), 1);
    assert!(!zoo.path.join("work").exists(), "an empty work/ goes too");
    assert_eq!(claims.clear_stale(&lock).unwrap(), 0);
}
