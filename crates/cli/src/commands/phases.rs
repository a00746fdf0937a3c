//! `phasezoo phases DIR | --summary FILE.csv`: the phase of every grid cell (pz-phases has the
//! rules): the Yang et al. taxonomy once mode connectivity is measured, first labels from loss
//! and error before that, each label with the numbers that decided it and, where measured, the
//! Hessian beside it as a consistency check. Reads only: the index's phases are written by
//! `train` and `metrics`, so this works on a read-only zoo.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use pz_phases::{
    coverage, explain_cell, hessian_check, label_learning_zoo, label_summary, label_zoo, ptmz_thresholds,
    LabelledGrid, LearningGrid, ZooView,
};

use crate::cells::fmt_value;

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

pub fn run(args: &Args) -> Result<ExitCode> {
    let grid = match (&args.dir, &args.summary) {
        (_, Some(csv)) => label_summary(csv, ptmz_thresholds(args.train_loss, args.mc_epsilon, args.cka))?,
        (Some(dir), None) => {
            let view = ZooView::open(dir)?;
            // A modular-arithmetic zoo has the learning phases of Liu et al. 2022, not Yang's.
            if let Some(learning) = label_learning_zoo(&view)? {
                print_learning(&learning, args.json)?;
                return Ok(ExitCode::SUCCESS);
            }
            label_zoo(&view)
        }
        (None, None) => bail!("give a zoo folder or --summary FILE.csv"),
    };
    if args.json {
        let checks: Vec<_> = grid.cells.iter().map(|c| hessian_check(c, &grid)).collect();
        let doc = serde_json::json!({
            "thresholds": grid.thresholds, "loss_threshold": grid.loss_threshold,
            "load": grid.load_name, "temperature": grid.temperature_name, "cells": grid.cells,
            "hessian_checks": checks,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print_table(&grid);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(grid: &LabelledGrid) {
    let t = &grid.thresholds;
    if grid.has_yang() {
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
            "first labels: train loss > {} = underfit; test error > {} = failed  (rows: {}, columns: {}; Yang et al. phases need `phasezoo metrics`: CKA and mode connectivity)",
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
    for (tv, row) in grid.rows() {
        print!("{:>10}", fmt_value(tv));
        for c in row {
            print!(" {:>16}", c.code());
        }
        println!();
    }
    if grid.has_yang() {
        println!("why:");
        for c in &grid.cells {
            if let Some(line) = explain_cell(c, grid) {
                println!(
                    "  {}={}, {}={}: {line}",
                    grid.load_name,
                    fmt_value(c.load),
                    grid.temperature_name,
                    fmt_value(c.temperature)
                );
                // Reported beside the label, never an input to it (SPEC §4, rule 6).
                if let Some(check) = hessian_check(c, grid) {
                    println!("    {}", check.line());
                }
            }
        }
        let (covered, missing) = coverage(grid);
        let codes = |ps: &[pz_phases::Phase]| ps.iter().map(|p| p.code()).collect::<Vec<_>>().join(", ");
        println!("phases covered: {}; not covered: {}", codes(&covered), codes(&missing));
        return;
    }
    for (c, reason) in grid.unclear() {
        println!(
            "? at {}={}, {}={}: {reason}",
            grid.load_name,
            fmt_value(c.load),
            grid.temperature_name,
            fmt_value(c.temperature)
        );
    }
}

/// The learning phases of a modular-arithmetic zoo: the rule, the grid of majority phases, each
/// model's reaching steps, and the counts (or all of it as JSON).
fn print_learning(grid: &LearningGrid, json: bool) -> Result<()> {
    let r = &grid.rule;
    if json {
        let counts: serde_json::Map<String, serde_json::Value> =
            grid.counts().into_iter().map(|(p, n)| (p.name().to_string(), n.into())).collect();
        let doc = serde_json::json!({
            "rule": r, "load": grid.load_name, "temperature": grid.temperature_name,
            "cells": grid.cells, "counts": counts,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    println!(
        "learning phases (Liu et al. 2022): steps to accuracy >= {} on train (t_train) and validation (t_val) within {} steps; t_val - t_train < {} = comprehension, else grokking; t_val never = memorization; t_train never = confusion  (rows: {}, columns: {}; majority of seeds)",
        fmt_value(r.accuracy),
        r.budget_steps,
        r.gap_steps,
        grid.temperature_name,
        grid.load_name
    );
    print!("{:>10}", "");
    for lv in &grid.loads {
        print!(" {:>19}", fmt_value(*lv));
    }
    println!();
    for (tv, row) in grid.rows() {
        print!("{:>10}", fmt_value(tv));
        for c in row {
            print!(" {:>19}", c.code());
        }
        println!();
    }
    println!("models:");
    let steps = |t: Option<u64>| t.map_or_else(|| "never".to_string(), |t| t.to_string());
    for c in &grid.cells {
        for m in &c.models {
            let Some(l) = &m.label else {
                println!(
                    "  {}={} {}={} seed {}: {} (not labelled)",
                    grid.load_name,
                    fmt_value(c.load),
                    grid.temperature_name,
                    fmt_value(c.temperature),
                    m.seed,
                    m.status
                );
                continue;
            };
            let margin = match (l.margin_steps, l.accuracy_margin) {
                (Some(s), _) => format!("margin {s} steps"),
                (None, Some(a)) => format!("best train acc {} below", fmt_value(a)),
                (None, None) => String::new(),
            };
            println!(
                "  {}={} {}={} seed {}: {} (t_train {}, t_val {}, best train/val acc {}/{}, {margin})",
                grid.load_name,
                fmt_value(c.load),
                grid.temperature_name,
                fmt_value(c.temperature),
                m.seed,
                l.phase.name(),
                steps(l.train_steps),
                steps(l.val_steps),
                fmt_value(l.best_train_acc),
                fmt_value(l.best_val_acc),
            );
        }
    }
    let counts: Vec<String> = grid.counts().iter().map(|(p, n)| format!("{} {n}", p.name())).collect();
    println!("models per phase: {}", counts.join(", "));
    Ok(())
}
