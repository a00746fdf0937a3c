//! `phasezoo report DIR [--out FILE]`: the zoo as one self-contained HTML page (spec, phase map,
//! every panel, a sortable table of models, per model its training curves), by default
//! `DIR/report.html` (pz-report builds it).

use std::path::PathBuf;

use anyhow::{Context, Result};
use pz_phases::ZooView;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The zoo folder.
    pub dir: PathBuf,
    /// Where to write the page (default: DIR/report.html); elsewhere, a read-only zoo works.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Write the page; returns its path.
pub fn run(args: &Args) -> Result<PathBuf> {
    let view = ZooView::open(&args.dir)?;
    let out = args.out.clone().unwrap_or_else(|| args.dir.join("report.html"));
    pz_report::write_zoo_report(&view, &out)
        .with_context(|| format!("cannot write the report {}", out.display()))?;
    Ok(out)
}
