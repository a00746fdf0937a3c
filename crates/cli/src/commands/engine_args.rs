//! How `phasezoo submit` asks its engine for workers: the Slurm and Ray flags (how many
//! workers, GPUs and CPUs each, partition, time), and the [`Engine`] they make.

use pz_exec::Engine;

/// The engine's flags of `phasezoo submit`.
#[derive(Debug, clap::Args)]
pub struct EngineArgs {
    /// Workers (array tasks, Ray jobs) in all. Default: one per unit with work left.
    #[arg(long)]
    pub tasks: Option<u32>,
    /// Slurm: at most this many tasks at once (`--array=0-N%K`).
    #[arg(long)]
    pub array_throttle: Option<u32>,
    /// GPUs per worker: Slurm whole GPUs (`--gres=gpu:N`), Ray fractions too (0.25: four
    /// workers share a GPU); 0 for CPU workers.
    #[arg(long, default_value_t = 1.0)]
    pub gpus_per_task: f64,
    /// Slurm: GPU shards per task instead of whole GPUs (`--gres=shard:N`).
    #[arg(long)]
    pub gpu_shards: Option<u32>,
    /// Ray: CPUs reserved per worker.
    #[arg(long)]
    pub cpus_per_task: Option<f64>,
    /// Slurm partition.
    #[arg(long)]
    pub partition: Option<String>,
    /// Slurm: time limit per task (`--time`, e.g. 04:00:00).
    #[arg(long)]
    pub time: Option<String>,
}

impl EngineArgs {
    /// Ray's jobs at `ray` (the dashboard's address; the program from `PHASEZOO_RAY`, default
    /// `ray`), else a Slurm job array.
    pub fn engine(&self, ray: Option<&str>) -> Engine {
        match ray {
            Some(address) => Engine::Ray {
                address: address.to_string(),
                cpus_per_task: self.cpus_per_task,
                program: std::env::var("PHASEZOO_RAY").unwrap_or_else(|_| "ray".into()),
            },
            None => Engine::Slurm {
                array_throttle: self.array_throttle,
                gpu_shards: self.gpu_shards,
                partition: self.partition.clone(),
                time: self.time.clone(),
            },
        }
    }
}
