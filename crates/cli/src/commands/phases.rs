//! `phasezoo phases DIR | --summary FILE.csv`: the phase of every grid cell (pz-phases has the
//! rules): the Yang et al. taxonomy once mode connectivity is measured, first labels from loss
//! and error before that.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use pz_phases::{label_cell, label_cell_yang, loss_threshold, CellLabel, CellMetrics, PhaseLabel};
use pz_spec::PhaseThresholds;
use pz_store::read_ptmz_summary;
use serde::Serialize;

use crate::cells::{fmt_value, ZooView};

/// Arguments of `phasezoo phases`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The zoo folder.
    #[arg(required_unless_present = "summary", conflicts_with = "summary")]
    dir: Option<PathBuf>,
    /// Label the cells of a published PTMZ summary CSV instead (columns: SPEC §2.5).
    #[arg(long, value_name = "FILE.csv")]
    summary: Option<PathBuf>,
    /// With --summary: loss threshold τ_L (PTMZ train loss; default 0.1).
    #[arg(long, default_value_t = 0.1, requires = "summary")]
    train_loss: f64,
    /// With --summary: mc dead zone ε in percentage points of train error (default 1.5).
    #[arg(long, default_value_t = 1.5, requires = "summary")]
    mc_epsilon: f64,
    /// With --summary: CKA split τ_CKA between IV-A and IV-B (default 0.8).
    #[arg(long, default_value_t = 0.8, requires = "summary")]
    cka: f64,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// One cell of the printed grid.
#[derive(Serialize)]
struct CellOut {
    load: f64,
    temperature: f64,
    train_loss: Option<f64>,
    mc: Option<f64>,
    cka: Option<f64>,
    /// The Yang et al. label, when mode connectivity is known.
    yang: Option<PhaseLabel>,
    /// The first label (train loss and test error), for zoos.
    first: Option<CellLabel>,
}

impl CellOut {
    fn code(&self) -> String {
        match (&self.yang, &self.first) {
            (Some(y), _) if y.phase.is_some() => y.phase.map(|p| p.code().to_string()).unwrap_or_default(),
            (Some(_), _) => "?".into(),
            (None, Some(f)) => f.label.code().to_string(),
            (None, None) => "-".into(),
        }
    }
}

/// A labelled grid, rows = temperature values, columns = load values.
struct Grid {
    load_name: String,
    temperature_name: String,
    loads: Vec<f64>,
    temperatures: Vec<f64>,
    cells: Vec<CellOut>,
    thresholds: PhaseThresholds,
    loss_threshold: f64,
}

pub fn run(args: &Args) -> Result<ExitCode> {
    let grid = match (&args.dir, &args.summary) {
        (_, Some(csv)) => {
            let t = PhaseThresholds {
                train_loss: args.train_loss,
                mc_metric: "curve_mc_train_error".into(),
                mc_epsilon: args.mc_epsilon,
                cka: args.cka,
                ..PhaseThresholds::default()
            };
            summary_grid(csv, t)?
        }
        (Some(dir), None) => zoo_grid(dir)?,
        (None, None) => bail!("give a zoo folder or --summary FILE.csv"),
    };
    if args.json {
        let doc = serde_json::json!({
            "thresholds": grid.thresholds, "loss_threshold": grid.loss_threshold,
            "load": grid.load_name, "temperature": grid.temperature_name, "cells": grid.cells,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print_table(&grid);
    }
    Ok(ExitCode::SUCCESS)
}

fn zoo_grid(dir: &std::path::Path) -> Result<Grid> {
    let view = ZooView::open(dir)?;
    // The labels also go to the index (index_epochs.csv, index.parquet).
    crate::index::write(&view.zoo, &view.plan)?;
    Ok(grid_of_view(&view))
}

/// The phase of every cell as (region number 1–5, name), rows = temperature, columns = load;
/// `None` where a cell has no phase (not measured, or outside the taxonomy).
pub fn phase_regions(view: &ZooView) -> Vec<Vec<Option<(u8, &'static str)>>> {
    let grid = grid_of_view(view);
    grid.cells
        .chunks(grid.loads.len())
        .map(|row| {
            row.iter()
                .map(|c| {
                    let phase = c.yang.as_ref()?.phase?;
                    Some((phase as u8 + 1, phase.code()))
                })
                .collect()
        })
        .collect()
}

fn grid_of_view(view: &ZooView) -> Grid {
    let spec = &view.zoo.spec;
    let (g, t) = (&spec.grid, spec.phases.clone());
    let mc = view.metric_grid(&t.mc_metric);
    let cka = view.metric_grid("cka");
    let mut cells = Vec::new();
    for (ti, tv) in g.temperature.values.iter().enumerate() {
        for (li, lv) in g.load.values.iter().enumerate() {
            let loss = view.cell_mean(li, ti, |r| r.train_loss);
            let error = view.cell_mean(li, ti, |r| r.test_error);
            cells.push(CellOut {
                load: *lv,
                temperature: *tv,
                train_loss: loss,
                mc: mc[ti][li],
                cka: cka[ti][li],
                yang: None,
                first: loss.zip(error).and_then(|(l, e)| label_cell(l, e, &t)),
            });
        }
    }
    label_all(
        g.load.short_name(),
        g.temperature.short_name(),
        g.load.values.clone(),
        g.temperature.values.clone(),
        cells,
        t,
    )
}

fn summary_grid(csv: &std::path::Path, t: PhaseThresholds) -> Result<Grid> {
    let rows = read_ptmz_summary(csv)?;
    // Seed means per (width, batch size) over the analysis-epoch rows (those with metrics).
    let mut sums: BTreeMap<(u64, u64), [(f64, usize); 3]> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.has_metrics()) {
        let entry = sums.entry((r.width.to_bits(), r.batchsize.to_bits())).or_default();
        for (slot, v) in
            entry.iter_mut().zip([r.train_loss, r.curve_mc_train_error, r.representation_similarity])
        {
            if let Some(v) = v {
                slot.0 += v;
                slot.1 += 1;
            }
        }
    }
    if sums.is_empty() {
        bail!(
            "{}: no row has landscape metrics\n  hint: a PTMZ summary fills representation_similarity and curve_mc_train_error on the analysis epoch",
            csv.display()
        );
    }
    let sorted = |f: fn(&(u64, u64)) -> u64| {
        let mut v: Vec<f64> = sums.keys().map(|k| f64::from_bits(f(k))).collect();
        v.sort_by(f64::total_cmp);
        v.dedup();
        v
    };
    let (loads, temperatures) = (sorted(|k| k.0), sorted(|k| k.1));
    #[allow(clippy::cast_precision_loss)]
    let mean = |(s, n): (f64, usize)| (n > 0).then(|| s / n as f64);
    let mut cells = Vec::new();
    for tv in &temperatures {
        for lv in &loads {
            let e = sums.get(&(lv.to_bits(), tv.to_bits())).copied().unwrap_or_default();
            cells.push(CellOut {
                load: *lv,
                temperature: *tv,
                train_loss: mean(e[0]),
                mc: mean(e[1]),
                cka: mean(e[2]),
                yang: None,
                first: None,
            });
        }
    }
    let _ = csv.file_name().context("a file")?;
    Ok(label_all("width", "batchsize", loads, temperatures, cells, t))
}

/// Resolve τ_L over the grid and label every cell that has a train loss.
fn label_all(
    load_name: &str,
    temperature_name: &str,
    loads: Vec<f64>,
    temperatures: Vec<f64>,
    mut cells: Vec<CellOut>,
    thresholds: PhaseThresholds,
) -> Grid {
    let losses: Vec<f64> = cells.iter().filter_map(|c| c.train_loss).collect();
    let tau = loss_threshold(&thresholds, &losses);
    let any_mc = cells.iter().any(|c| c.mc.is_some());
    for c in &mut cells {
        if let (Some(train_loss), true) = (c.train_loss, any_mc) {
            c.yang =
                Some(label_cell_yang(&CellMetrics { train_loss, mc: c.mc, cka: c.cka }, &thresholds, tau));
        }
    }
    Grid {
        load_name: load_name.to_string(),
        temperature_name: temperature_name.to_string(),
        loads,
        temperatures,
        cells,
        thresholds,
        loss_threshold: tau,
    }
}

fn print_table(grid: &Grid) {
    let t = &grid.thresholds;
    if grid.cells.iter().any(|c| c.yang.is_some()) {
        println!(
            "Yang et al. phases: train loss > {} = high; mc ({}) beyond ±{} = barrier (<0) or under-trained (>0); CKA < {} = IV-A  (rows: {}, columns: {})",
            fmt_value(grid.loss_threshold),
            t.mc_metric,
            fmt_value(t.mc_epsilon),
            fmt_value(t.cka),
            grid.temperature_name,
            grid.load_name
        );
    } else {
        println!(
            "first labels: train loss > {} = underfit; test error > {} = failed  (rows: {}, columns: {}; Yang et al. phases need `phasezoo metrics`: CKA and mode connectivity, the latter not yet for image zoos)",
            fmt_value(t.train_loss),
            fmt_value(t.test_error),
            grid.temperature_name,
            grid.load_name
        );
    }
    print!("{:>10}", "");
    for lv in &grid.loads {
        print!(" {:>16}", fmt_value(*lv));
    }
    println!();
    for (row, tv) in grid.cells.chunks(grid.loads.len()).zip(&grid.temperatures) {
        print!("{:>10}", fmt_value(*tv));
        for c in row {
            print!(" {:>16}", c.code());
        }
        println!();
    }
    let unclear: Vec<&CellOut> =
        grid.cells.iter().filter(|c| c.yang.as_ref().is_some_and(|y| y.phase.is_none())).collect();
    for c in unclear {
        let reason = c.yang.as_ref().map_or("", |y| y.reason.as_str());
        println!(
            "? at {}={}, {}={}: {reason}",
            grid.load_name,
            fmt_value(c.load),
            grid.temperature_name,
            fmt_value(c.temperature)
        );
    }
}
