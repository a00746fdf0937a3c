//! The heatmap panels of a zoo (`phasezoo plot`, and the report's pictures).

use std::path::{Path, PathBuf};

use pz_phases::{label_zoo, Phase, ZooView};
use pz_spec::Axis;
use pz_store::MetricKey;

use crate::{write_heatmap, ColorScale, Error, GridAxis, Heatmap};

/// The name of the phase map's panel.
pub const PHASES_PANEL: &str = "phases";

/// The loss-landscape metrics drawn once measured: key, title, colour-bar label.
const METRIC_PANELS: [(MetricKey, &str, &str); 4] = [
    (MetricKey::HessianTopEv, "Hessian top eigenvalue, seed mean", "top eigenvalue"),
    (MetricKey::HessianTrace, "Hessian trace (Hutchinson), seed mean", "trace"),
    (MetricKey::Cka, "CKA between seeds (outputs)", "linear CKA"),
    (MetricKey::McTestError, "mode connectivity of test error", "mc (test error)"),
];

/// One panel: file stem, caption, and the picture.
#[derive(Debug, Clone, PartialEq)]
pub struct ZooPanel {
    /// File stem and the page's panel id, e.g. `test_error`, `hessian_trace`, [`PHASES_PANEL`].
    pub name: &'static str,
    /// Caption under the picture.
    pub caption: &'static str,
    /// The picture.
    pub heatmap: Heatmap,
}

/// The zoo's panels: train loss and test error always; each loss-landscape metric once
/// `phasezoo metrics` measured some cell (seed means of the newest measured epoch,
/// docs/METRICS.md); the phase map once cells have phases, and its boundaries on every panel.
#[must_use]
pub fn zoo_panels(view: &ZooView) -> Vec<ZooPanel> {
    let g = &view.zoo.spec.grid;
    let axis = |a: &Axis| GridAxis {
        name: if a.label.is_empty() { a.short_name().to_string() } else { a.label.clone() },
        values: a.values.clone(),
    };
    // What test error and train loss are depends on the problem (its spec variant says).
    let names = view.zoo.spec.problem.result_names();
    let (error_title, error_unit, loss_title) = (names.error_title, names.error_unit, names.loss_title);
    let mut values = vec![
        ("test_error", error_title, error_unit, view.grid(|r| r.test_error)),
        ("train_loss", loss_title, "train loss", view.grid(|r| r.train_loss)),
    ];
    for (key, title, unit) in METRIC_PANELS {
        let grid = view.metric_grid(key.as_str());
        if grid.iter().flatten().any(Option::is_some) {
            values.push((key.as_str(), title, unit, grid));
        }
    }
    let phases = label_zoo(view).phases();
    let regions: Vec<Vec<Option<u8>>> =
        phases.iter().map(|r| r.iter().map(|c| c.map(Phase::number)).collect()).collect();
    let has_phases = regions.iter().flatten().any(Option::is_some);
    if has_phases {
        let grid = regions.iter().map(|r| r.iter().map(|c| c.map(f64::from)).collect()).collect();
        values.push((PHASES_PANEL, "Yang et al. phases (1 = I … 5 = IV-B)", "phase", grid));
    }
    values
        .into_iter()
        .map(|(name, title, unit, values)| ZooPanel {
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
                cell_text: if name == PHASES_PANEL {
                    phases
                        .iter()
                        .map(|r| r.iter().map(|c| c.map(|p| p.code().to_string())).collect())
                        .collect()
                } else {
                    Vec::new()
                },
                regions: if has_phases { regions.clone() } else { Vec::new() },
            },
        })
        .collect()
}

/// Draw every panel as `<name>.png` and `<name>.svg` into `out_dir` (created if missing);
/// returns the files written. Nothing is written into the zoo unless `out_dir` is in it.
///
/// # Errors
/// [`Error::Draw`] naming the picture that failed.
pub fn write_zoo_plots(view: &ZooView, out_dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut written = Vec::new();
    for panel in zoo_panels(view) {
        let png = out_dir.join(format!("{}.png", panel.name));
        let svg = png.with_extension("svg");
        write_heatmap(&panel.heatmap, &png, &svg)
            .map_err(|e| Error::Draw { what: png.display().to_string(), source: Box::new(e) })?;
        written.extend([png, svg]);
    }
    Ok(written)
}
