//! The labelled grids as `phasezoo phases` prints them: a plain-text table with the rule, the
//! grid and the reasons (or the counts), and the JSON document of `--json`.

use std::fmt::Write as _;

use crate::{coverage, explain_cell, hessian_check, LabelledGrid, LearningCell, LearningGrid, Phase};

/// A compact number for tables: 3 significant digits, exponent form outside [1e-3, 1e4).
#[must_use]
pub fn fmt_value(v: f64) -> String {
    if v == 0.0 || (1e-3..1e4).contains(&v.abs()) {
        let s = format!("{v:.4}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_string()
    } else {
        format!("{v:.2e}")
    }
}

/// The grid as rows of cells: a header of the load values, then per temperature its value and
/// the row's cells, each right-aligned in `width` characters.
fn grid_table<R, C>(out: &mut String, loads: &[f64], rows: R, width: usize)
where
    R: Iterator<Item = (f64, C)>,
    C: Iterator<Item = String>,
{
    let _ = write!(out, "{:>10}", "");
    for lv in loads {
        let _ = write!(out, " {:>width$}", fmt_value(*lv));
    }
    out.push('\n');
    for (tv, row) in rows {
        let _ = write!(out, "{:>10}", fmt_value(tv));
        for c in row {
            let _ = write!(out, " {c:>width$}");
        }
        out.push('\n');
    }
}

/// The dead zone as the rule states it: absolute, or relative to each cell's loss (where
/// [`crate::mc_dead_zone`] takes it so; a cell without that loss falls back to the absolute ε).
fn dead_zone_rule(t: &pz_spec::PhaseThresholds) -> String {
    match (t.mc_epsilon_relative, crate::mc_scale_field(&t.mc_metric)) {
        (Some(k), Some(loss)) => format!("{} × the cell's {loss}", fmt_value(k)),
        _ => fmt_value(t.mc_epsilon),
    }
}

/// The Yang et al. (or first-label) grid: rule, table, and why each cell has its phase.
#[must_use]
pub fn yang_text(grid: &LabelledGrid) -> String {
    // `write!` into a String cannot fail.
    let mut out = String::new();
    let t = &grid.thresholds;
    if grid.has_yang() {
        let _ = writeln!(
            out,
            "Yang et al. phases: train loss > {} = high; mc ({}) beyond ±{} = barrier (<0) or under-trained (>0); CKA < {} = IV-A  (rows: {}, columns: {})",
            fmt_value(grid.loss_threshold),
            t.mc_metric,
            dead_zone_rule(t),
            fmt_value(t.cka),
            grid.temperature_name,
            grid.load_name
        );
    } else {
        let _ = writeln!(
            out,
            "first labels: train loss > {} = underfit; test error > {} = failed  (rows: {}, columns: {}; Yang et al. phases need `phasezoo metrics`: CKA and mode connectivity)",
            fmt_value(t.train_loss),
            fmt_value(t.test_error),
            grid.temperature_name,
            grid.load_name
        );
    }
    grid_table(
        &mut out,
        &grid.loads,
        grid.rows().map(|(t, row)| (t, row.iter().map(|c| c.code().to_string()))),
        16,
    );
    let at = |load: f64, temperature: f64| {
        format!(
            "{}={}, {}={}",
            grid.load_name,
            fmt_value(load),
            grid.temperature_name,
            fmt_value(temperature)
        )
    };
    if grid.has_yang() {
        out.push_str("why:\n");
        for c in &grid.cells {
            if let Some(line) = explain_cell(c, grid) {
                let _ = writeln!(out, "  {}: {line}", at(c.load, c.temperature));
                // Reported beside the label, never an input to it (SPEC §4, rule 6).
                if let Some(check) = hessian_check(c, grid) {
                    let _ = writeln!(out, "    {}", check.line());
                }
            }
        }
        let (covered, missing) = coverage(grid);
        let codes = |ps: &[Phase]| ps.iter().map(|p| p.code()).collect::<Vec<_>>().join(", ");
        let _ = writeln!(out, "phases covered: {}; not covered: {}", codes(&covered), codes(&missing));
        return out;
    }
    for (c, reason) in grid.unclear() {
        let _ = writeln!(out, "? at {}: {reason}", at(c.load, c.temperature));
    }
    out
}

/// `--json` of a Yang et al. grid: thresholds, cells and their Hessian checks.
#[must_use]
pub fn yang_json(grid: &LabelledGrid) -> serde_json::Value {
    let checks: Vec<_> = grid.cells.iter().map(|c| hessian_check(c, grid)).collect();
    serde_json::json!({
        "thresholds": grid.thresholds, "loss_threshold": grid.loss_threshold,
        "load": grid.load_name, "temperature": grid.temperature_name, "cells": grid.cells,
        "hessian_checks": checks,
    })
}

/// `--json` of a learning-phase grid: rule, cells and counts per phase.
#[must_use]
pub fn learning_json(grid: &LearningGrid) -> serde_json::Value {
    let counts: serde_json::Map<String, serde_json::Value> =
        grid.counts().into_iter().map(|(p, n)| (p.name().to_string(), n.into())).collect();
    serde_json::json!({
        "rule": grid.rule, "load": grid.load_name, "temperature": grid.temperature_name,
        "cells": grid.cells, "counts": counts,
    })
}

/// The learning phases of a modular-arithmetic zoo: the rule, the grid of majority phases,
/// each model's reaching steps, and the counts.
#[must_use]
pub fn learning_text(grid: &LearningGrid) -> String {
    let mut out = String::new();
    let r = &grid.rule;
    let _ = writeln!(
        out,
        "learning phases (Liu et al. 2022): steps to accuracy >= {} on train (t_train) and validation (t_val) within {} steps; t_val - t_train < {} = comprehension, else grokking; t_val never = memorization; t_train never = confusion  (rows: {}, columns: {}; majority of seeds)",
        fmt_value(r.accuracy),
        r.budget_steps,
        r.gap_steps,
        grid.temperature_name,
        grid.load_name
    );
    grid_table(
        &mut out,
        &grid.loads,
        grid.rows().map(|(t, row)| (t, row.iter().map(LearningCell::code))),
        19,
    );
    out.push_str("models:\n");
    let steps = |t: Option<u64>| t.map_or_else(|| "never".to_string(), |t| t.to_string());
    for c in &grid.cells {
        let at = format!(
            "{}={} {}={}",
            grid.load_name,
            fmt_value(c.load),
            grid.temperature_name,
            fmt_value(c.temperature)
        );
        for m in &c.models {
            let Some(l) = &m.label else {
                let _ = writeln!(out, "  {at} seed {}: {} (not labelled)", m.seed, m.status);
                continue;
            };
            let margin = match (l.margin_steps, l.accuracy_margin) {
                (Some(s), _) => format!("margin {s} steps"),
                (None, Some(a)) => format!("best train acc {} below", fmt_value(a)),
                (None, None) => String::new(),
            };
            let _ = writeln!(
                out,
                "  {at} seed {}: {} (t_train {}, t_val {}, best train/val acc {}/{}, {margin})",
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
    let _ = writeln!(out, "models per phase: {}", counts.join(", "));
    out
}
