//! `phasezoo`: the command line. Parses, wires and reports; the science lives in the crates.
#![allow(clippy::print_stdout, clippy::print_stderr)] // the binary is where printing belongs

mod cells;
mod commands;
mod devices;
mod interrupt;
mod logging;
mod progress;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Build, measure and serve phase-labelled model zoos.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// More log output on stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Hide progress bars (also: PHASEZOO_NO_PROGRESS=1, or stderr not a terminal).
    #[arg(long, global = true)]
    no_progress: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train a zoo (the embedded default when no SPEC is given), resuming what exists.
    Train(commands::train::Args),
    /// Get a dataset into the cache image zoos train from (download or import a local copy).
    Data(commands::data::Args),
    /// Run a benchmark workload and print one JSON line (see BENCHMARKS.md).
    Bench(commands::bench::Args),
    /// Compute loss-landscape metrics (Hessian, CKA, mode connectivity) that are missing.
    Metrics(commands::metrics::Args),
    /// Print done/running/failed/pending models per grid cell.
    Status {
        /// The zoo folder.
        dir: PathBuf,
    },
    /// Draw heatmaps of final test error and train loss over the grid (PNG and SVG).
    Plot(commands::plot::Args),
    /// Write the zoo's report: one self-contained HTML page (spec, phase map, panels, models).
    Report(commands::report::Args),
    /// Print the phase of every grid cell (Yang et al. once measured; thresholds: [phases]).
    Phases(commands::phases::Args),
    /// Average, interpolate or ensemble a trained zoo's models per cell (applications.json).
    Apply(commands::apply::Args),
    /// Import a PTMZ experiment folder (Ray Tune trials, torch.save checkpoints) as a zoo.
    Import(commands::import::Args),
    /// Export a ResNet zoo as PTMZ trial folders with torch.load-able checkpoints.
    Export(commands::export::Args),
    /// Work on a shared zoo: claim units, train them, until none is left (docs/CLUSTER.md).
    Work(commands::work::Args),
    /// Submit workers of a zoo as a Slurm job array or Ray jobs (docs/CLUSTER.md).
    Submit(commands::submit::Args),
}

fn main() -> ExitCode {
    end_quietly_on_a_closed_pipe();
    let cli = Cli::parse();
    let model_logs = logging::init(cli.verbose);
    let progress = progress::enabled(cli.no_progress);
    let result = match cli.command {
        Command::Train(args) => commands::train::run(&args, &model_logs, progress),
        Command::Bench(args) => commands::bench::run(&args),
        Command::Data(args) => commands::data::run(&args, progress),
        Command::Metrics(args) => commands::metrics::run(&args, &model_logs, progress),
        Command::Status { dir } => commands::status::run(&dir),
        Command::Plot(args) => commands::plot::run_args(&args),
        Command::Phases(args) => commands::phases::run(&args),
        Command::Apply(args) => commands::apply::run(&args),
        Command::Import(args) => commands::import::run(&args, progress),
        Command::Export(args) => commands::export::run(&args, progress),
        Command::Work(args) => commands::work::run(&args, &model_logs),
        Command::Submit(args) => commands::submit::run(&args),
        Command::Report(args) => commands::report::run(&args).map(|path| {
            let _ = writeln!(std::io::stdout(), "wrote {}", path.display());
            ExitCode::SUCCESS
        }),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            report_error(&e);
            ExitCode::FAILURE
        }
    }
}

/// `error: <what>: <cause>: …` then any `hint:` lines the causes carry.
fn report_error(e: &anyhow::Error) {
    let text = format!("{e:#}");
    let (main, hints): (Vec<&str>, Vec<&str>) =
        text.lines().partition(|l| !l.trim_start().starts_with("hint:"));
    eprintln!("error: {}", main.join("\n  "));
    for h in hints {
        eprintln!("{}", h.trim_start());
    }
}

/// Rust ignores SIGPIPE, so `phasezoo phases DIR | head` would panic at its next print once
/// `head` has exited; with the signal's default action the process ends quietly instead, as
/// other command-line tools do (a training run cut off this way resumes on the next start).
#[allow(unsafe_code)]
fn end_quietly_on_a_closed_pipe() {
    // SAFETY: restoring a signal's default disposition at start-up, before any other thread
    // exists; no handler code is installed.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
