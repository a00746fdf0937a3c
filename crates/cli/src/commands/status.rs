//! `phasezoo status DIR`: models per state in every grid cell (reads only).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use pz_phases::{zoo_status, StateCounts, ZooView};

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
    Ok(ExitCode::SUCCESS)
}
