//! `phasezoo plot DIR`: heatmaps of the final test error and train loss (seed means) over the
//! load × temperature grid, and of the loss-landscape metrics once measured, as PNG and SVG under
//! `DIR/plots/`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use pz_report::{write_heatmap, ColorScale, GridAxis, Heatmap};

use crate::cells::ZooView;

/// Draw the heatmaps; returns the files written.
pub fn run(dir: &Path) -> Result<Vec<PathBuf>> {
    let view = ZooView::open(dir)?;
    let g = &view.zoo.spec.grid;
    let axis = |a: &pz_spec::Axis| GridAxis {
        name: if a.label.is_empty() { a.short_name().to_string() } else { a.label.clone() },
        values: a.values.clone(),
    };
    let mut panels = vec![
        (
            "test_error",
            "final test error (relative L2), seed mean",
            "relative L2 error",
            view.grid(|r| r.test_error),
        ),
        ("train_loss", "final train loss (PINN loss), seed mean", "train loss", view.grid(|r| r.train_loss)),
    ];
    // Loss-landscape panels, where `phasezoo metrics` has measured the cells (seed means of the
    // newest measured epoch; docs/METRICS.md).
    for (key, title, unit) in [
        ("hessian_top_ev", "Hessian top eigenvalue, seed mean", "top eigenvalue"),
        ("hessian_trace", "Hessian trace (Hutchinson), seed mean", "trace"),
        ("cka", "CKA between seeds (outputs)", "linear CKA"),
        ("mc_test_error", "mode connectivity of test error", "mc (test error)"),
    ] {
        let values = view.metric_grid(key);
        if values.iter().flatten().any(Option::is_some) {
            panels.push((key, title, unit, values));
        }
    }
    // The phase map, and its boundaries drawn on every panel, once cells have phases.
    let phases = crate::commands::phases::phase_regions(&view);
    let regions: Vec<Vec<Option<u8>>> =
        phases.iter().map(|r| r.iter().map(|c| c.map(|(n, _)| n)).collect()).collect();
    let has_phases = regions.iter().flatten().any(Option::is_some);
    if has_phases {
        let values = regions.iter().map(|r| r.iter().map(|c| c.map(f64::from)).collect()).collect();
        panels.push(("phases", "Yang et al. phases (1 = I … 5 = IV-B)", "phase", values));
    }
    let mut written = Vec::new();
    for (name, title, unit, values) in panels {
        let heatmap = Heatmap {
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
        };
        let png = dir.join("plots").join(format!("{name}.png"));
        let svg = png.with_extension("svg");
        write_heatmap(&heatmap, &png, &svg).with_context(|| format!("cannot draw {}", png.display()))?;
        written.extend([png, svg]);
    }
    Ok(written)
}
