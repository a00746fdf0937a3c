//! `phasezoo plot DIR`: heatmaps of the final test error and train loss (seed means) over the
//! load × temperature grid, and of the loss-landscape metrics once measured, as PNG and SVG under
//! `DIR/plots/`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use pz_report::{write_heatmap, ColorScale, GridAxis, Heatmap};

use crate::cells::ZooView;

/// One panel: file stem, caption, and the picture.
pub struct PanelSpec {
    pub name: &'static str,
    pub caption: &'static str,
    pub heatmap: Heatmap,
}

/// Draw the heatmaps; returns the files written.
pub fn run(dir: &Path) -> Result<Vec<PathBuf>> {
    let view = ZooView::open(dir)?;
    let mut written = Vec::new();
    for panel in panels(&view) {
        let png = dir.join("plots").join(format!("{}.png", panel.name));
        let svg = png.with_extension("svg");
        write_heatmap(&panel.heatmap, &png, &svg)
            .with_context(|| format!("cannot draw {}", png.display()))?;
        written.extend([png, svg]);
    }
    Ok(written)
}

/// The zoo's panels: train loss and test error always; each loss-landscape metric once
/// `phasezoo metrics` measured some cell (seed means of the newest measured epoch,
/// docs/METRICS.md); the phase map once cells have phases, and its boundaries on every panel.
pub fn panels(view: &ZooView) -> Vec<PanelSpec> {
    let g = &view.zoo.spec.grid;
    let axis = |a: &pz_spec::Axis| GridAxis {
        name: if a.label.is_empty() { a.short_name().to_string() } else { a.label.clone() },
        values: a.values.clone(),
    };
    // What test error and train loss are depends on the problem (docs/FORMAT.md, result.json).
    let (error_title, error_unit, loss_title) = match view.zoo.spec.problem {
        pz_spec::ProblemConfig::Convection(_) => (
            "final test error (relative L2), seed mean",
            "relative L2 error",
            "final train loss (PINN loss), seed mean",
        ),
        pz_spec::ProblemConfig::Image(_) => (
            "final test error (1 - accuracy), seed mean",
            "test error",
            "final train loss (cross-entropy), seed mean",
        ),
    };
    let mut values = vec![
        ("test_error", error_title, error_unit, view.grid(|r| r.test_error)),
        ("train_loss", loss_title, "train loss", view.grid(|r| r.train_loss)),
    ];
    for (key, title, unit) in [
        ("hessian_top_ev", "Hessian top eigenvalue, seed mean", "top eigenvalue"),
        ("hessian_trace", "Hessian trace (Hutchinson), seed mean", "trace"),
        ("cka", "CKA between seeds (outputs)", "linear CKA"),
        ("mc_test_error", "mode connectivity of test error", "mc (test error)"),
    ] {
        let grid = view.metric_grid(key);
        if grid.iter().flatten().any(Option::is_some) {
            values.push((key, title, unit, grid));
        }
    }
    let phases = crate::commands::phases::phase_regions(view);
    let regions: Vec<Vec<Option<u8>>> =
        phases.iter().map(|r| r.iter().map(|c| c.map(|(n, _)| n)).collect()).collect();
    let has_phases = regions.iter().flatten().any(Option::is_some);
    if has_phases {
        let grid = regions.iter().map(|r| r.iter().map(|c| c.map(f64::from)).collect()).collect();
        values.push(("phases", "Yang et al. phases (1 = I … 5 = IV-B)", "phase", grid));
    }
    values
        .into_iter()
        .map(|(name, title, unit, values)| PanelSpec {
            name,
            caption: title,
            heatmap: Heatmap {
                title: format!("{}: {title}", view.zoo.spec.name),
                x: axis(&g.load),
                y: axis(&g.temperature),
                values,
                scale: ColorScale::Auto,
                colorbar_label: unit.to_string(),
                annotate: true,
                cell_text: if name == "phases" {
                    phases
                        .iter()
                        .map(|r| r.iter().map(|c| c.map(|(_, code)| code.to_string())).collect())
                        .collect()
                } else {
                    Vec::new()
                },
                regions: if has_phases { regions.clone() } else { Vec::new() },
            },
        })
        .collect()
}
