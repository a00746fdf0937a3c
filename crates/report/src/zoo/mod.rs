//! A zoo's pictures and page: the heatmap panels of its grid (seed means, the phase map once
//! cells have phases) and the report page, from a [`pz_phases::ZooView`].
//!
//! This is the one part of the crate that knows a zoo: it asks pz-phases for seed means and
//! labels and pz-store for each model's results, and hands the rest of the crate plain numbers.

mod density;
mod llc;
mod page;
mod panels;
mod phase_table;
mod sources;

pub use llc::LLC_FIGURE;
pub use page::{write_zoo_report, zoo_page};
pub use panels::{write_zoo_plots, zoo_panels, ZooPanel, LEARNING_PANEL, PHASES_PANEL};
