//! The zoo's report page (`phasezoo report`): spec, phase map, every panel, a sortable table of
//! models, per model its training curves and Hessian spectral densities.

use std::collections::BTreeSet;
use std::path::Path;

use pz_phases::{label_zoo, LlcCurve, ZooView};
use pz_spec::ModelId;

use super::density::density_curves;
use super::llc::{llc_curves, llc_grid, LLC_CAPTION, LLC_FIGURE};
use super::panels::{zoo_panels, LEARNING_PANEL, PHASES_PANEL};
use super::phase_table::phase_delta_table;
use crate::{
    render_curve_grid_svg, render_heatmap_svg, write_html, Cell, Column, Curves, Error, ModelRow, ModelTable,
    Panel, ReportPage,
};

/// Build the page: facts, the resolved spec, the panels (phase map first: it is what the page
/// is about), the table of models with their curves.
///
/// # Errors
/// A panel that cannot be drawn, an unreadable `zoo.toml` or `result.json`.
pub fn zoo_page(view: &ZooView) -> Result<ReportPage, Error> {
    let spec = &view.zoo.spec;
    let mut drawn = Vec::new();
    let mut all = zoo_panels(view)?;
    all.sort_by_key(|p| p.name != PHASES_PANEL && p.name != LEARNING_PANEL);
    for p in all {
        let svg = render_heatmap_svg(&p.heatmap)
            .map_err(|e| Error::Draw { what: format!("the {} panel", p.name), source: Box::new(e) })?;
        drawn.push(Panel { name: p.name.to_string(), caption: p.caption.to_string(), svg });
    }
    let llc = llc_curves(view)?;
    if let Some(curves) = &llc {
        let svg = render_curve_grid_svg(&llc_grid(view, curves))
            .map_err(|e| Error::Draw { what: "the LLC curves".into(), source: Box::new(e) })?;
        drawn.push(Panel { name: LLC_FIGURE.to_string(), caption: LLC_CAPTION.to_string(), svg });
    }
    let spec_path = view.zoo.path.join("zoo.toml");
    let spec_toml =
        fs_err::read_to_string(&spec_path).map_err(|source| Error::Read { path: spec_path, source })?;
    Ok(ReportPage {
        title: spec.name.clone(),
        description: spec.description.clone(),
        facts: facts(view),
        spec_toml,
        panels: drawn,
        table: table(view, llc.as_ref().map(|c| c.models.as_slice()))?,
        tables: phase_delta_table(view)?.into_iter().collect(),
    })
}

/// Build the page ([`zoo_page`]) and write it to `out` atomically.
///
/// # Errors
/// As [`zoo_page`], and [`Error::Io`] when `out` cannot be written.
pub fn write_zoo_report(view: &ZooView, out: &Path) -> Result<(), Error> {
    write_html(&zoo_page(view)?, out)
}

fn facts(view: &ZooView) -> Vec<(String, String)> {
    let g = &view.zoo.spec.grid;
    let count = |s: &str| view.rows.iter().filter(|r| r.status == s).count();
    vec![
        (
            "grid".into(),
            format!(
                "{} {} × {} {} × {} seeds",
                g.load.values.len(),
                g.load.short_name(),
                g.temperature.values.len(),
                g.temperature.short_name(),
                g.seeds.len()
            ),
        ),
        ("models".into(), view.rows.len().to_string()),
        ("done".into(), count("done").to_string()),
        ("failed".into(), count("failed").to_string()),
        ("epochs".into(), view.zoo.spec.train.epochs.to_string()),
        ("zoo folder".into(), view.zoo.path.display().to_string()),
    ]
}

/// Columns: identity and grid position, the final epoch's numbers, every measured metric key,
/// and the cell's phase.
fn table(view: &ZooView, llc: Option<&[Option<LlcCurve>]>) -> Result<ModelTable, Error> {
    let g = &view.zoo.spec.grid;
    let metric_keys: BTreeSet<&String> = view.metrics.iter().flat_map(|m| m.keys()).collect();
    let mut columns = vec![
        Column { label: "model_id".into(), numeric: false },
        Column { label: g.load.short_name().to_string(), numeric: true },
        Column { label: g.temperature.short_name().to_string(), numeric: true },
        Column { label: "seed".into(), numeric: true },
        Column { label: "status".into(), numeric: false },
        Column { label: "epoch".into(), numeric: true },
        Column { label: "train_loss".into(), numeric: true },
        Column { label: "test_loss".into(), numeric: true },
        Column { label: "test_error".into(), numeric: true },
    ];
    columns.extend(metric_keys.iter().map(|k| Column { label: (*k).clone(), numeric: true }));
    columns.push(Column { label: "phase".into(), numeric: false });

    let phases = label_zoo(view).phases();
    let number = |v: Option<f64>| v.filter(|v| v.is_finite()).map_or(Cell::Empty, Cell::Number);
    let mut rows = Vec::with_capacity(view.rows.len());
    for (k, ((m, r), metrics)) in view.plan.models.iter().zip(&view.rows).zip(&view.metrics).enumerate() {
        let llc = llc.and_then(|c| c[k].as_ref());
        #[allow(clippy::cast_precision_loss)] // seeds and epochs are small
        let mut cells = vec![
            Cell::Text(r.model_id.clone()),
            Cell::Number(r.load_value),
            Cell::Number(r.temperature_value),
            Cell::Number(r.seed as f64),
            Cell::Text(r.status.clone()),
            number(r.epoch.map(f64::from)),
            number(r.train_loss),
            number(r.test_loss),
            number(r.test_error),
        ];
        cells.extend(metric_keys.iter().map(|k| number(metrics.get(*k).copied())));
        let phase = phases[m.cell.temperature][m.cell.load];
        cells.push(phase.map_or(Cell::Empty, |p| Cell::Text(p.code().to_string())));
        rows.push(ModelRow {
            id: r.model_id.clone(),
            cells,
            curves: curves(view, m.id(), llc)?,
            llc_jumps: llc.map(|c| c.jumps.iter().map(|&e| f64::from(e)).collect()).unwrap_or_default(),
            density: density_curves(view, m.id())?,
        });
    }
    Ok(ModelTable { columns, rows })
}

/// train_loss, test_loss, test_error and any other numeric result key, per evaluated epoch,
/// and the model's LLC (`llc`) at the epochs it was measured at.
fn curves(view: &ZooView, id: &ModelId, llc: Option<&LlcCurve>) -> Result<Curves, Error> {
    let records = view.zoo.model(id).read_results()?;
    let mut curves =
        Curves { epochs: records.iter().map(|r| f64::from(r.epoch)).collect(), series: Vec::new() };
    let finite = |v: f64| Some(v).filter(|v| v.is_finite());
    curves.series.push(("train_loss".into(), records.iter().map(|r| finite(r.train_loss)).collect()));
    curves.series.push(("test_loss".into(), records.iter().map(|r| finite(r.test_loss)).collect()));
    curves.series.push(("test_error".into(), records.iter().map(|r| finite(r.test_error)).collect()));
    let extra: BTreeSet<&String> = records.iter().flat_map(|r| r.extra.keys()).collect();
    for key in extra {
        let values: Vec<Option<f64>> = records
            .iter()
            .map(|r| r.extra.get(key).and_then(serde_json::Value::as_f64).and_then(finite))
            .collect();
        if values.iter().any(Option::is_some) {
            curves.series.push((key.clone(), values));
        }
    }
    if let Some(llc) = llc {
        let at =
            |e: u32| llc.epochs.iter().position(|&x| x == e).map(|i| llc.llc[i]).filter(|v| v.is_finite());
        curves.series.push(("llc".into(), records.iter().map(|r| at(r.epoch)).collect()));
    }
    Ok(curves)
}
