//! `phasezoo phases DIR | --summary FILE.csv`: the phase of every grid cell (pz-phases has the
//! rules): the Yang et al. taxonomy once mode connectivity is measured, first labels from loss
//! and error before that, each label with the numbers that decided it and, where measured, the
//! Hessian beside it as a consistency check. Reads only: the index's phases are written by
//! `train` and `metrics`, so this works on a read-only zoo.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use pz_phases::{
    label_learning_zoo, label_summary, label_zoo, learning_json, learning_text, ptmz_thresholds, yang_json,
    yang_text, ZooView,
};

/// Arguments of `phasezoo phases`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The zoo folder.
    #[arg(required_unless_present = "summary", conflicts_with = "summary")]
    dir: Option<PathBuf>,
    /// Label the cells of a published PTMZ summary CSV instead (columns: SPEC §2.5).
    #[arg(long, value_name = "FILE.csv")]
    summary: Option<PathBuf>,
    /// With --summary: loss threshold τ_L (PTMZ train loss; default 0.1).
    #[arg(long, default_value_t = 0.1, requires = "summary")]
    train_loss: f64,
    /// With --summary: mc dead zone ε in percentage points of train error (default 1.5).
    #[arg(long, default_value_t = 1.5, requires = "summary")]
    mc_epsilon: f64,
    /// With --summary: CKA split τ_CKA between IV-A and IV-B (default 0.8).
    #[arg(long, default_value_t = 0.8, requires = "summary")]
    cka: f64,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &Args) -> Result<ExitCode> {
    let grid = match (&args.dir, &args.summary) {
        (_, Some(csv)) => label_summary(csv, ptmz_thresholds(args.train_loss, args.mc_epsilon, args.cka))?,
        (Some(dir), None) => {
            let view = ZooView::open(dir)?;
            // A modular-arithmetic zoo has the learning phases of Liu et al. 2022, not Yang's.
            if let Some(learning) = label_learning_zoo(&view)? {
                if args.json {
                    println!("{}", serde_json::to_string_pretty(&learning_json(&learning))?);
                } else {
                    print!("{}", learning_text(&learning));
                }
                return Ok(ExitCode::SUCCESS);
            }
            label_zoo(&view)
        }
        (None, None) => bail!("give a zoo folder or --summary FILE.csv"),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&yang_json(&grid))?);
    } else {
        print!("{}", yang_text(&grid));
    }
    Ok(ExitCode::SUCCESS)
}
