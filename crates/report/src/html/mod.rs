//! The zoo report: one self-contained HTML file (`phasezoo report DIR`).
//!
//! Everything the page needs is inside the file: the heatmap panels as inline SVG, the model
//! table and training curves as an embedded JSON document drawn by a small inline script, and
//! the stylesheet. Nothing is loaded from the network, so the file can be mailed, archived or
//! opened from a cluster's scratch disk. It knows nothing of the store: callers (the `zoo`
//! module) hand it the page's contents.

mod escape;
mod render;

use serde::Serialize;

pub use render::render_html;

/// Everything shown on the page.
#[derive(Debug, Clone, Serialize)]
pub struct ReportPage {
    /// Zoo name, the page title.
    pub title: String,
    /// The spec's free-text description.
    pub description: String,
    /// Short facts shown under the title, e.g. ("models", "36 done of 36").
    pub facts: Vec<(String, String)>,
    /// The resolved spec (zoo.toml), shown verbatim.
    pub spec_toml: String,
    /// Heatmap panels, in display order; the phase map first reads best.
    pub panels: Vec<Panel>,
    /// One row per model.
    pub table: ModelTable,
    /// Summary tables shown after the panels (e.g. the applications' mean per phase).
    pub tables: Vec<SummaryTable>,
}

/// A small table of numbers with a count each, e.g. a mean over the cells of each phase.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryTable {
    /// The element id (`table-<id>`).
    pub id: String,
    /// Its heading.
    pub title: String,
    /// What the numbers are, under the heading.
    pub note: String,
    /// Column headings (the first column is the row names).
    pub columns: Vec<String>,
    /// (row name, per column: the value and how many it averages, or nothing).
    pub rows: Vec<(String, Vec<Option<Averaged>>)>,
}

/// A mean and the number of values it averages.
pub type Averaged = (f64, u32);

/// One heatmap, already rendered as an SVG document (see [`crate::render_heatmap_svg`]).
#[derive(Debug, Clone, Serialize)]
pub struct Panel {
    /// Short machine name, e.g. `test_error`; the element id `panel-<name>`.
    pub name: String,
    /// Caption under the picture.
    pub caption: String,
    /// The SVG document.
    #[serde(skip)]
    pub svg: String,
}

/// The sortable table of models and, per model, its training curves.
#[derive(Debug, Clone, Serialize)]
pub struct ModelTable {
    /// Column headers; every row has one cell per column.
    pub columns: Vec<Column>,
    /// The models.
    pub rows: Vec<ModelRow>,
}

/// A table column.
#[derive(Debug, Clone, Serialize)]
pub struct Column {
    /// Header text.
    pub label: String,
    /// Sort numerically (else as text).
    pub numeric: bool,
}

/// A table cell: text, a number, or nothing.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Cell {
    /// A number (NaN and infinities are shown as text by the caller).
    Number(f64),
    /// Text.
    Text(String),
    /// No value.
    Empty,
}

/// One model: its table cells and curves.
#[derive(Debug, Clone, Serialize)]
pub struct ModelRow {
    /// Model id, shown in the curve title.
    pub id: String,
    /// One cell per column.
    pub cells: Vec<Cell>,
    /// Training curves: per series name, one value (or none) per epoch.
    pub curves: Curves,
    /// Its Hessian spectral densities, one per loss set measured (none unless
    /// `metrics.hessian.density_probes > 0`).
    pub density: Vec<DensityCurve>,
    /// Epochs where its `llc` curve jumps (marked on that chart; `pz_phases::jump_indices`).
    pub llc_jumps: Vec<f64>,
}

/// A Hessian spectral density drawn as a curve over eigenvalues.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DensityCurve {
    /// The loss set, e.g. `train set`.
    pub set: String,
    /// The measured epoch.
    pub epoch: u32,
    /// The mass of negative eigenvalues (`pz_store::summarize_density`), shown in the title.
    pub negative_mass: f64,
    /// Eigenvalues, ascending.
    pub x: Vec<f64>,
    /// The density at each (positive: the chart draws it on a log axis).
    pub y: Vec<f64>,
}

/// A model's training curves over epochs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Curves {
    /// The evaluated epochs.
    pub epochs: Vec<f64>,
    /// (series name, one value per epoch); `None` where missing or not finite.
    pub series: Vec<(String, Vec<Option<f64>>)>,
}
