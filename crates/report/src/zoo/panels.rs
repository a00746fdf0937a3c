//! The heatmap panels of a zoo (`phasezoo plot`, and the report's pictures): the paper's panels
//! with the original's colour maps and centres (SPEC §6.2), the loss-landscape metrics, the
//! phase map.

use std::path::{Path, PathBuf};

use pz_phases::{label_learning_zoo, label_zoo, LearningPhase, Phase, ZooView};
use pz_spec::Axis;
use pz_store::MetricKey;

use super::llc::{llc_curves, llc_grid, LLC_FIGURE};
use super::sources::{
    application_grid, paper_order, read_applications, reorder, result_values, seed_mean_grid, GGAP,
};
use crate::{write_curve_grid, write_heatmap, ColorMap, ColorScale, Error, GridAxis, Heatmap};

/// The name of the phase map's panel.
pub const PHASES_PANEL: &str = "phases";
/// The name of the learning-phase map's panel (modular-arithmetic zoos).
pub const LEARNING_PANEL: &str = "learning_phases";

/// Where a panel's cell values come from.
#[derive(Debug, Clone, Copy)]
enum Source {
    /// The index's final test error, seed mean.
    TestError,
    /// The index's final train loss, seed mean.
    TrainLoss,
    /// A `metrics.json` key, seed mean.
    Metric(&'static str),
    /// The natural log of a `metrics.json` key's seed mean (the original's `np.log(cell_mean)`,
    /// SPEC §3.4); cells whose mean is not positive are left empty.
    LnMetric(&'static str),
    /// A `result.json` key (or [`GGAP`]) of each model's newest line with it, seed mean.
    Result(&'static str),
    /// A cell value of `applications.json`.
    Application(&'static str),
}

/// One panel: id (file stem), title, colour-bar label, colours, source.
struct Def {
    name: &'static str,
    title: &'static str,
    unit: &'static str,
    colormap: ColorMap,
    center: Option<f64>,
    scale: ColorScale,
    source: Source,
}

const fn def(name: &'static str, title: &'static str, unit: &'static str, source: Source) -> Def {
    Def { name, title, unit, colormap: ColorMap::Viridis, center: None, scale: ColorScale::Linear, source }
}

const fn styled(d: Def, colormap: ColorMap, center: Option<f64>) -> Def {
    Def { colormap, center, ..d }
}

const fn auto(d: Def) -> Def {
    Def { scale: ColorScale::Auto, ..d }
}

/// `hessian_trace` measured on the test set ([`MetricKey::on_test_set`]).
const HESSIAN_TRACE_VAL: &str = "hessian_trace_val";
/// `hessian_top_ev` measured on the test set (PTMZ published its log, `log_hessian_top_ev_val`).
const HESSIAN_TOP_EV_VAL: &str = "hessian_top_ev_val";

/// Every panel but the phase map, in page order. The test error's and train loss's titles come
/// from the problem ([`pz_spec::ProblemConfig::result_names`]); those two are always drawn, the
/// others where some cell has a value. Colour maps and centres are the original's (SPEC §6.2:
/// `visualize_phases.ipynb`); test error (not a panel there) reads like test accuracy with the
/// map reversed; the Hessian's raw values and the phase map keep plain viridis.
const PANELS: [Def; 16] = [
    def("test_accuracy", "final test accuracy, seed mean", "test accuracy", Source::Result("test_acc")),
    styled(
        def(
            "generalization_gap",
            "generalisation gap (train − test accuracy), seed mean",
            "ggap",
            Source::Result(GGAP),
        ),
        ColorMap::ViridisR,
        None,
    ),
    styled(auto(def("test_error", "", "", Source::TestError)), ColorMap::ViridisR, None),
    styled(auto(def("train_loss", "", "train loss", Source::TrainLoss)), ColorMap::ViridisR, None),
    styled(
        def("cka", "CKA between seeds, centred at 1", "linear CKA", Source::Metric(MetricKey::Cka.as_str())),
        ColorMap::RdBuR,
        Some(1.0),
    ),
    auto(def(
        "hessian_top_ev",
        "Hessian top eigenvalue, seed mean",
        "top eigenvalue",
        Source::Metric(MetricKey::HessianTopEv.as_str()),
    )),
    auto(def(
        "hessian_trace",
        "Hessian trace, seed mean",
        "trace",
        Source::Metric(MetricKey::HessianTrace.as_str()),
    )),
    styled(
        def(
            "log_hessian_trace",
            "ln of the seed-mean Hessian trace (train set), centred at 4",
            "ln trace",
            Source::LnMetric(MetricKey::HessianTrace.as_str()),
        ),
        ColorMap::RdBu,
        Some(4.0),
    ),
    styled(
        def(
            "log_hessian_trace_val",
            "ln of the seed-mean Hessian trace (test set), centred at 5",
            "ln trace (test set)",
            Source::LnMetric(HESSIAN_TRACE_VAL),
        ),
        ColorMap::RdBu,
        Some(5.0),
    ),
    styled(
        def(
            "log_hessian_top_ev_val",
            "ln of the seed-mean Hessian top eigenvalue (test set), centred at 1",
            "ln λ_max (test set)",
            Source::LnMetric(HESSIAN_TOP_EV_VAL),
        ),
        ColorMap::RdBu,
        Some(1.0),
    ),
    styled(
        def(
            "mc_train_error",
            "mode connectivity of train error, centred at 0",
            "mc (train error)",
            Source::Metric(MetricKey::McTrainError.as_str()),
        ),
        ColorMap::RdBu,
        Some(0.0),
    ),
    styled(
        def(
            "mc_test_error",
            "mode connectivity of test error, centred at 0",
            "mc (test error)",
            Source::Metric(MetricKey::McTestError.as_str()),
        ),
        ColorMap::RdBu,
        Some(0.0),
    ),
    styled(
        def(
            "wiseft_acc_test_delta",
            "last epochs averaged (WiSE-FT): test accuracy − seed-mean test accuracy",
            "Δ test accuracy",
            Source::Application("wiseft_acc_test_delta"),
        ),
        ColorMap::Cividis,
        None,
    ),
    styled(
        def(
            "gitrebasin_acc_test_delta",
            "seeds aligned and averaged (Git Re-Basin): test accuracy − seed-mean test accuracy",
            "Δ test accuracy",
            Source::Application("gitrebasin_acc_test_delta"),
        ),
        ColorMap::Cividis,
        None,
    ),
    styled(
        def(
            "finetune_probe_acc_test",
            "transferred to the [finetune] dataset, linear probe: test accuracy, seed mean",
            "test accuracy",
            Source::Application("finetune_probe_acc_test"),
        ),
        ColorMap::Cividis,
        None,
    ),
    styled(
        def(
            "finetune_full_acc_test",
            "transferred to the [finetune] dataset, full fine-tuning: test accuracy, seed mean",
            "test accuracy",
            Source::Application("finetune_full_acc_test"),
        ),
        ColorMap::Cividis,
        None,
    ),
];

/// One panel: file stem, caption, and the picture.
#[derive(Debug, Clone, PartialEq)]
pub struct ZooPanel {
    /// File stem and the page's panel id, e.g. `test_error`, `log_hessian_trace`, [`PHASES_PANEL`].
    pub name: &'static str,
    /// Caption under the picture.
    pub caption: &'static str,
    /// The picture.
    pub heatmap: Heatmap,
}

/// The zoo's panels ([`PANELS`]): test error and train loss always; every other one where some
/// cell has its value (the newest measured epoch's metrics, docs/METRICS.md; the last results;
/// `applications.json`); the phase map once cells have phases, and its boundaries on every
/// panel. Columns are load ascending from the left, rows temperature ascending from the top.
///
/// # Errors
/// An unreadable `result.json` or `applications.json`.
pub fn zoo_panels(view: &ZooView) -> Result<Vec<ZooPanel>, Error> {
    let g = &view.zoo.spec.grid;
    let (rows, cols) = paper_order(view);
    let axis = |a: &Axis, order: &[usize]| GridAxis {
        name: if a.label.is_empty() { a.short_name().to_string() } else { a.label.clone() },
        values: order.iter().map(|&i| a.values[i]).collect(),
    };
    // What test error and train loss are depends on the problem (its spec variant says).
    let names = view.zoo.spec.problem.result_names();
    let results = result_values(view)?;
    let applications = read_applications(&view.zoo.path)?;
    let phases = label_zoo(view).phases();
    let regions: Vec<Vec<Option<u8>>> =
        phases.iter().map(|r| r.iter().map(|c| c.map(Phase::number)).collect()).collect();
    let has_phases = regions.iter().flatten().any(Option::is_some);

    let mut panels = Vec::new();
    let mut push = |d: &Def, title: &'static str, unit: &str, values: Vec<Vec<Option<f64>>>, text| {
        panels.push(ZooPanel {
            name: d.name,
            caption: title,
            heatmap: Heatmap {
                title: format!("{}: {title}", view.zoo.spec.name),
                x: axis(&g.load, &cols),
                y: axis(&g.temperature, &rows),
                values: reorder(&values, &rows, &cols),
                scale: d.scale,
                colormap: d.colormap,
                center: d.center,
                colorbar_label: unit.to_string(),
                annotate: true,
                cell_text: text,
                regions: if has_phases { reorder(&regions, &rows, &cols) } else { Vec::new() },
            },
        });
    };
    for d in &PANELS {
        let (title, unit) = match d.source {
            Source::TestError => (names.error_title, names.error_unit),
            Source::TrainLoss => (names.loss_title, d.unit),
            _ => (d.title, d.unit),
        };
        let values = match d.source {
            Source::TestError => view.grid(|r| r.test_error),
            Source::TrainLoss => view.grid(|r| r.train_loss),
            Source::Metric(key) => view.metric_grid(key),
            Source::LnMetric(key) => view
                .metric_grid(key)
                .into_iter()
                .map(|r| r.into_iter().map(|c| c.filter(|v| *v > 0.0).map(f64::ln)).collect())
                .collect(),
            Source::Result(key) => seed_mean_grid(view, &results, key),
            Source::Application(key) => {
                applications.as_ref().and_then(|a| application_grid(view, a, key)).unwrap_or_default()
            }
        };
        let always = matches!(d.source, Source::TestError | Source::TrainLoss);
        if always || values.iter().flatten().any(Option::is_some) {
            push(d, title, unit, values, Vec::new());
        }
    }
    if has_phases {
        let values = regions.iter().map(|r| r.iter().map(|c| c.map(f64::from)).collect()).collect();
        let text: Vec<Vec<Option<String>>> =
            phases.iter().map(|r| r.iter().map(|c| c.map(|p| p.code().to_string())).collect()).collect();
        let d = auto(def(PHASES_PANEL, "Yang et al. phases (1 = I … 5 = IV-B)", "phase", Source::TestError));
        push(&d, d.title, d.unit, values, reorder(&text, &rows, &cols));
    }
    if let Some(grid) = label_learning_zoo(view)? {
        // Cells temperature-major, as the grid; 1 = comprehension … 4 = confusion.
        let per_row = grid.loads.len().max(1);
        let cells: Vec<&[pz_phases::LearningCell]> = grid.cells.chunks(per_row).collect();
        let number =
            |p: LearningPhase| LearningPhase::ALL.iter().position(|&q| q == p).map(|i| i as f64 + 1.0);
        let values: Vec<Vec<Option<f64>>> =
            cells.iter().map(|r| r.iter().map(|c| c.majority.and_then(number)).collect()).collect();
        if values.iter().flatten().any(Option::is_some) {
            let text: Vec<Vec<Option<String>>> =
                cells.iter().map(|r| r.iter().map(|c| c.majority.map(|_| c.code())).collect()).collect();
            let d = def(
                LEARNING_PANEL,
                "learning phases (Liu et al. 2022), seed majority",
                "1 comprehension, 2 grokking, 3 memorization, 4 confusion",
                Source::TestError,
            );
            push(&d, d.title, d.unit, values, reorder(&text, &rows, &cols));
        }
    }
    Ok(panels)
}

/// Draw every panel as `<name>.png` and `<name>.svg` into `out_dir` (created if missing);
/// returns the files written. Nothing is written into the zoo unless `out_dir` is in it.
///
/// # Errors
/// [`Error::Draw`] naming the picture that failed; an unreadable zoo file.
pub fn write_zoo_plots(view: &ZooView, out_dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut written = Vec::new();
    for panel in zoo_panels(view)? {
        let png = out_dir.join(format!("{}.png", panel.name));
        let svg = png.with_extension("svg");
        write_heatmap(&panel.heatmap, &png, &svg)
            .map_err(|e| Error::Draw { what: png.display().to_string(), source: Box::new(e) })?;
        written.extend([png, svg]);
    }
    if let Some(curves) = llc_curves(view)? {
        let png = out_dir.join(format!("{LLC_FIGURE}.png"));
        let svg = png.with_extension("svg");
        write_curve_grid(&llc_grid(view, &curves), &png, &svg)
            .map_err(|e| Error::Draw { what: png.display().to_string(), source: Box::new(e) })?;
        written.extend([png, svg]);
    }
    Ok(written)
}

#[cfg(test)]
#[path = "panels_tests.rs"]
mod tests;
