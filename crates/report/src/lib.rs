//! Plots of a phasezoo grid and the zoo report page.
//!
//! This crate owns the *pictures* of a zoo: given the numbers already
//! aggregated for a grid of training runs (one value per grid cell, e.g. the
//! seed-mean test error), it draws them as a heatmap with a colour bar and
//! writes the result atomically as PNG and SVG.
//!
//! The drawing parts do not know how those numbers were produced: no libtorch,
//! no models, no training, no store layout; they take plain `f64`s and axis
//! values. Only the `zoo` module reads a zoo, through [`pz_phases::ZooView`]:
//! [`zoo_panels`], [`write_zoo_plots`] (`phasezoo plot`) and [`zoo_page`],
//! [`write_zoo_report`] (`phasezoo report`). Like every library in the
//! workspace it never prints; failures come back as [`Error`].
//!
//! The pure parts (matplotlib's colour maps, tick formatting, colour-scale choice
//! and the pixel layout) live in their own modules so they can be tested
//! without touching files; drawing and atomic file writing are separate again.

mod colormap;
mod curve_grid;
mod draw;
mod error;
mod font;
mod heatmap;
mod html;
mod layout;
mod render;
mod scale;
mod ticks;
mod write;
mod zoo;

pub use colormap::ColorMap;
pub use curve_grid::{render_curve_grid_svg, write_curve_grid, CurveGrid, GridCurve};
pub use error::Error;
pub use heatmap::{ColorScale, GridAxis, Heatmap};
pub use html::{
    render_html, Averaged, Cell, Column, Curves, DensityCurve, ModelRow, ModelTable, Panel, ReportPage,
    SummaryTable,
};
pub use write::{render_heatmap_svg, write_heatmap, write_html};
pub use zoo::{
    write_zoo_plots, write_zoo_report, zoo_page, zoo_panels, ZooPanel, LEARNING_PANEL, LLC_FIGURE,
    PHASES_PANEL,
};
