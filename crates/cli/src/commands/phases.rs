//! `phasezoo phases DIR`: a first label per grid cell (see pz-phases for the rule).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use pz_phases::label_cell;
use serde::Serialize;

use crate::cells::{fmt_value, ZooView};

#[derive(Serialize)]
struct CellOut {
    load: f64,
    temperature: f64,
    #[serde(flatten)]
    label: Option<pz_phases::CellLabel>,
}

pub fn run(dir: &Path, json: bool) -> Result<ExitCode> {
    let view = ZooView::open(dir)?;
    let spec = &view.zoo.spec;
    let g = &spec.grid;
    let t = &spec.phases;
    let mut cells = Vec::new();
    for (ti, tv) in g.temperature.values.iter().enumerate() {
        for (li, lv) in g.load.values.iter().enumerate() {
            let loss = view.cell_mean(li, ti, |r| r.train_loss);
            let error = view.cell_mean(li, ti, |r| r.test_error);
            let label = loss.zip(error).and_then(|(l, e)| label_cell(l, e, t));
            cells.push(CellOut { load: *lv, temperature: *tv, label });
        }
    }
    if json {
        let doc = serde_json::json!({
            "thresholds": { "train_loss": t.train_loss, "test_error": t.test_error },
            "load": g.load.short_name(), "temperature": g.temperature.short_name(), "cells": cells,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "first labels: train loss > {} = underfit; test error > {} = failed  (rows: {}, columns: {})",
        fmt_value(t.train_loss),
        fmt_value(t.test_error),
        g.temperature.short_name(),
        g.load.short_name()
    );
    print!("{:>10}", "");
    for lv in &g.load.values {
        print!(" {:>16}", fmt_value(*lv));
    }
    println!();
    for (row, tv) in cells.chunks(g.load.values.len()).zip(&g.temperature.values) {
        print!("{:>10}", fmt_value(*tv));
        for c in row {
            print!(" {:>16}", c.label.as_ref().map_or("-", |l| l.label.code()));
        }
        println!();
    }
    Ok(ExitCode::SUCCESS)
}
