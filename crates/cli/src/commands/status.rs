//! `phasezoo status DIR`: models per state in every grid cell.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use crate::cells::{fmt_value, ZooView};

pub fn run(dir: &Path) -> Result<ExitCode> {
    let view = ZooView::open(dir)?;
    // A `running` model whose zoo nobody holds was interrupted: it resumes on the next train.
    let locked = view.zoo.is_locked();
    let g = &view.zoo.spec.grid;
    println!(
        "{:>12} {:>12} {:>6} {:>8} {:>8} {:>8} {:>8}",
        g.load.short_name(),
        g.temperature.short_name(),
        "done",
        "running",
        "stopped",
        "failed",
        "pending"
    );
    let mut totals = [0usize; 5];
    for (li, lv) in g.load.values.iter().enumerate() {
        for (ti, tv) in g.temperature.values.iter().enumerate() {
            let mut counts = [0usize; 5];
            for row in view.cell(li, ti) {
                let slot = match (row.status.as_str(), locked) {
                    ("done", _) => 0,
                    ("running", true) => 1,
                    ("running", false) => 2,
                    ("failed", _) => 3,
                    _ => 4,
                };
                counts[slot] += 1;
            }
            for (t, c) in totals.iter_mut().zip(counts) {
                *t += c;
            }
            println!(
                "{:>12} {:>12} {:>6} {:>8} {:>8} {:>8} {:>8}",
                fmt_value(*lv),
                fmt_value(*tv),
                counts[0],
                counts[1],
                counts[2],
                counts[3],
                counts[4]
            );
        }
    }
    println!(
        "{:>12} {:>12} {:>6} {:>8} {:>8} {:>8} {:>8}",
        "total", "", totals[0], totals[1], totals[2], totals[3], totals[4]
    );
    for row in view.rows.iter().filter(|r| r.status == "failed") {
        println!("failed {}: {}", row.model_id, row.message);
    }
    Ok(ExitCode::SUCCESS)
}
