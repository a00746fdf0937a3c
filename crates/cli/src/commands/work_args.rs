//! The command line of `phasezoo work` (apart from what it does, commands/work.rs; the flags it
//! shares with `phasezoo submit` are commands/worker_args.rs).

use std::path::PathBuf;

use crate::commands::worker_args::WorkerArgs;

/// Arguments of `phasezoo work`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The zoo folder (made by `phasezoo train` or `phasezoo submit`).
    pub dir: PathBuf,
    /// Device: auto, cpu, cuda or cuda:N (the first device of the request). Default: the
    /// spec's run.device.
    #[arg(long)]
    pub device: Option<String>,
    /// Name shown in claims and `phasezoo status` (default: <host>-<pid>).
    #[arg(long)]
    pub worker_id: Option<String>,
    /// Seconds a claim lasts unless renewed (renewed every quarter of it); a dead worker's unit
    /// is taken over this long after its last renewal.
    #[arg(long, default_value_t = 120)]
    pub lease_secs: u64,
    /// Folder of the image dataset caches and text corpora (as for `train`).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    #[command(flatten)]
    pub work: WorkerArgs,
}
