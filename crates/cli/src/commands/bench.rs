//! `phasezoo bench WORKLOAD`: benchmark workloads; one JSON line on stdout (BENCHMARKS.md).

use std::process::ExitCode;

use anyhow::Result;
use pz_landscape::{run_hessian_bench, HessianBench};
use pz_spec::DeviceRequest;

/// Arguments of `phasezoo bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    workload: Workload,
}

#[derive(Debug, clap::Subcommand)]
enum Workload {
    /// The SPEC Hessian metric (power iteration + Hutchinson over 10 batches of 64) on a deep
    /// ReLU MLP with CIFAR-shaped inputs; compare with bench/hessian_pytorch.py.
    Hessian {
        /// Hidden width.
        #[arg(long, default_value_t = 1024)]
        width: i64,
        /// Hidden layers.
        #[arg(long, default_value_t = 8)]
        depth: usize,
        /// Power iterations and Hutchinson samples (each; fixed, tolerance 0).
        #[arg(long, default_value_t = 20)]
        iterations: usize,
        /// Device: auto, cpu, cuda:N.
        #[arg(long, default_value = "auto")]
        device: String,
        /// On CUDA, replay Hessian-vector products from a CUDA graph.
        #[arg(long)]
        graph: bool,
    },
    /// A ResNet-18 zoo grid (widths × batch sizes) trained with the image recipe on
    /// Fashion-MNIST-shaped random data, packed onto the GPU as `train` does: seconds per cell
    /// and images/s of the grid; compare with bench/resnet_zoo_pytorch.py (bench/zoo-gpu.sh).
    Resnet(crate::commands::bench_resnet::Args),
}

pub fn run(args: &Args) -> Result<ExitCode> {
    match &args.workload {
        Workload::Hessian { width, depth, iterations, device, graph } => {
            let device = pz_train::resolve_device(DeviceRequest::parse(device).map_err(anyhow::Error::msg)?);
            let cfg = HessianBench {
                width: *width,
                depth: *depth,
                batches: 10,
                batch_size: 64,
                iterations: *iterations,
                seed: 0,
                graph: *graph,
            };
            let report = run_hessian_bench(&cfg, device);
            println!("{}", serde_json::to_string(&report)?);
        }
        Workload::Resnet(args) => crate::commands::bench_resnet::run(args)?,
    }
    Ok(ExitCode::SUCCESS)
}
