//! The local learning coefficient over training (issue 21) as the report and `phasezoo plot`
//! draw it: one chart per cell of its seed-mean curve (±1 standard error), the epochs where it
//! jumps in red ([`pz_phases::zoo_llc_curves`] defines both); and per model, its curve among the
//! training curves with its own jumps.

use pz_phases::{zoo_llc_curves, LlcCurve, ZooLlcCurves, ZooView};
use pz_spec::Axis;

use super::sources::paper_order;
use crate::{CurveGrid, Error, GridAxis, GridCurve};

/// The figure's name (file stem, page id).
pub const LLC_FIGURE: &str = "llc_curves";
/// Its caption.
pub(super) const LLC_CAPTION: &str =
    "local learning coefficient over training: seed mean per cell, ±1 standard error; red lines mark jumps";

/// The zoo's LLC curves, `None` when no model has one.
///
/// # Errors
/// An unreadable `metrics.json`.
pub(super) fn llc_curves(view: &ZooView) -> Result<Option<ZooLlcCurves>, Error> {
    let curves = zoo_llc_curves(view)?;
    Ok(curves.any().then_some(curves))
}

/// The per-cell figure: columns load ascending, rows temperature ascending from the top (the
/// heatmaps' orientation).
#[must_use]
pub(super) fn llc_grid(view: &ZooView, curves: &ZooLlcCurves) -> CurveGrid {
    let g = &view.zoo.spec.grid;
    let (mut rows, cols) = paper_order(view);
    rows.reverse(); // paper_order lists rows bottom first (a heatmap's); charts go top first
    let axis = |a: &Axis, order: &[usize]| GridAxis {
        name: if a.label.is_empty() { a.short_name().to_string() } else { a.label.clone() },
        values: order.iter().map(|&i| a.values[i]).collect(),
    };
    let cells = rows
        .iter()
        .map(|&t| cols.iter().map(|&l| curves.cells[t][l].as_ref().map(grid_curve)).collect())
        .collect();
    CurveGrid {
        title: format!("{}: local learning coefficient (LLC) over training", view.zoo.spec.name),
        x_label: "epoch".into(),
        cols: axis(&g.load, &cols),
        rows: axis(&g.temperature, &rows),
        short_names: (g.load.short_name().to_string(), g.temperature.short_name().to_string()),
        cells,
    }
}

fn grid_curve(c: &LlcCurve) -> GridCurve {
    GridCurve {
        x: c.epochs.iter().map(|&e| f64::from(e)).collect(),
        y: c.llc.clone(),
        err: c.se.clone(),
        marks: c.jumps.iter().map(|&e| f64::from(e)).collect(),
    }
}
