//! `phasezoo status DIR`: models per state in every grid cell, and, for a zoo that workers share
//! (`phasezoo work`, `submit`), its units: done, running (which worker, where, lease age),
//! expired (a dead worker's, to be taken over), waiting, failed, and the measuring and
//! application units being worked on (reads only).

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use pz_phases::{zoo_status, StateCounts, ZooView};
use pz_store::{now_unix_ms, work_status, ClaimRecord, Claims, UnitState, WorkUnit};

use crate::cells::fmt_value;

pub fn run(dir: &Path) -> Result<ExitCode> {
    let view = ZooView::open(dir)?;
    // A `running` model whose zoo nobody holds was interrupted: it resumes on the next train.
    let status = zoo_status(&view, view.zoo.is_locked());
    let line = |load: &str, temperature: &str, c: &StateCounts| {
        println!(
            "{load:>12} {temperature:>12} {:>6} {:>8} {:>8} {:>8} {:>8}",
            c.done, c.running, c.stopped, c.failed, c.pending
        );
    };
    println!(
        "{:>12} {:>12} {:>6} {:>8} {:>8} {:>8} {:>8}",
        status.load_name, status.temperature_name, "done", "running", "stopped", "failed", "pending"
    );
    for cell in &status.cells {
        line(&fmt_value(cell.load), &fmt_value(cell.temperature), &cell.counts);
    }
    line("total", "", &status.total);
    for (model_id, message) in &status.failures {
        println!("failed {model_id}: {message}");
    }
    let units = work_status(&view.zoo)?;
    if let Some(units) = &units {
        print_units(units);
    }
    // Measuring (`m-`) and application (`a-`) units are claimed without a units file.
    let known: Vec<&str> = units.iter().flatten().map(|(u, _)| u.id.as_str()).collect();
    for claim in Claims::new(&view.zoo.path, Duration::ZERO).list()? {
        if !known.contains(&claim.unit.as_str()) {
            print_claim(&claim.unit, None, &claim);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One summary line of the units, then a line per claimed unit.
fn print_units(units: &[(WorkUnit, UnitState)]) {
    let count = |f: fn(&UnitState) -> bool| units.iter().filter(|(_, s)| f(s)).count();
    println!(
        "units: {} done, {} running, {} expired, {} waiting, {} failed",
        count(|s| matches!(s, UnitState::Done)),
        count(|s| matches!(s, UnitState::Running(_))),
        count(|s| matches!(s, UnitState::Expired(_))),
        count(|s| matches!(s, UnitState::Waiting)),
        count(|s| matches!(s, UnitState::Failed)),
    );
    for (unit, state) in units {
        if let UnitState::Running(c) | UnitState::Expired(c) = state {
            print_claim(&unit.id, Some(unit.models.len()), c);
        }
    }
}

/// One claimed unit: running or expired, by whom, where, since when, until when.
fn print_claim(unit: &str, models: Option<usize>, claim: &ClaimRecord) {
    let now = now_unix_ms();
    let what = if claim.expired_at(now) { "expired" } else { "running" };
    let w = &claim.worker;
    let slurm = w.slurm_array_task.as_ref().or(w.slurm_job_id.as_ref());
    #[allow(clippy::cast_precision_loss)]
    let secs = |ms: u64| ms as f64 / 1000.0;
    println!(
        "{what} {unit}{}: worker {} on {} pid {}{}, claimed {:.0}s ago, lease {} {:.0}s",
        models.map(|n| format!(" ({n} models)")).unwrap_or_default(),
        w.worker_id,
        w.host,
        w.pid,
        slurm.map(|s| format!(", slurm {s}")).unwrap_or_default(),
        secs(now.saturating_sub(claim.acquired_unix_ms)),
        if now < claim.expires_unix_ms { "ends in" } else { "ended" },
        secs(claim.expires_unix_ms.abs_diff(now)),
    );
}
