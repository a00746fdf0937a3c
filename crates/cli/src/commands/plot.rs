//! `phasezoo plot DIR [--out FOLDER]`: heatmaps of the final test error and train loss (seed
//! means) over the load × temperature grid, and of the loss-landscape metrics once measured, as
//! PNG and SVG, by default under `DIR/plots/` (pz-report draws them).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use pz_phases::ZooView;

/// Arguments of `phasezoo plot`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The zoo folder.
    pub dir: PathBuf,
    /// Folder for the pictures (default: DIR/plots); elsewhere, a read-only zoo works.
    #[arg(long, value_name = "FOLDER")]
    pub out: Option<PathBuf>,
}

/// `phasezoo plot`.
pub fn run_args(args: &Args) -> Result<ExitCode> {
    let out = args.out.clone().unwrap_or_else(|| args.dir.join("plots"));
    draw(&args.dir, &out)?;
    Ok(ExitCode::SUCCESS)
}

/// Draw the heatmaps into `DIR/plots` (also at the end of `train`); returns the files written.
pub fn run(dir: &Path) -> Result<Vec<PathBuf>> {
    draw(dir, &dir.join("plots"))
}

fn draw(dir: &Path, out: &Path) -> Result<Vec<PathBuf>> {
    Ok(pz_report::write_zoo_plots(&ZooView::open(dir)?, out)?)
}
