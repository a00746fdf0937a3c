//! `phasezoo bench resnet`: a ResNet-18 zoo grid (widths × batch sizes, one seed each) trained
//! the way `train` trains it — packed onto the GPU by expected cost, `--jobs` workers each on its
//! own CUDA stream, full batches replaying a captured CUDA graph — without evaluation or files.
//! Every cell trains `--epochs` epochs over the same `--images` random Fashion-MNIST-shaped
//! images made on the device (throughput does not depend on pixel values), last partial batch
//! included. `bench/resnet_zoo_pytorch.py` runs the same protocol in PyTorch, eagerly one cell
//! at a time (the original system) or packed with streams and graphs.
//!
//! One JSON line per cell (seconds from model construction to the end of its last epoch, and the
//! last epoch's images/s) and one for the grid (all images over the wall time of the whole grid).

use std::time::Instant;

use anyhow::Result;
use pz_exec::pack::{GPU_FILLING_MULTIPLY_ADDS, WORKERS_PER_GPU};
use pz_spec::{DeviceRequest, Plan, ZooSpec};
use pz_train::classify::{bench_image_grid, random_fashion, BenchSettings};

const SPEC: &str = include_str!("../../../../examples/fashion-resnet18-small.toml");

#[derive(Debug, clap::Args)]
pub struct Args {
    /// ResNet-18 widths (the load axis).
    #[arg(long, value_delimiter = ',', default_value = "2,4,8,16,32,64,128,256")]
    widths: Vec<u32>,
    /// Batch sizes (the temperature axis).
    #[arg(long, value_delimiter = ',', default_value = "8,16,32,64,128,256,512,1024")]
    batches: Vec<u32>,
    /// Training images of every cell.
    #[arg(long, default_value_t = 4096)]
    images: u32,
    /// Epochs of every cell.
    #[arg(long, default_value_t = 2)]
    epochs: u32,
    /// Arithmetic, as `train.precision`.
    #[arg(long, default_value = "float32", value_parser = ["float32", "bf16_autocast"])]
    precision: String,
    /// Memory layout on CUDA, as `run.layout`.
    #[arg(long, default_value = "auto", value_parser = ["auto", "channels_last", "contiguous"])]
    layout: String,
    /// Launch every kernel eagerly (no CUDA graphs), as `run.graph = false`.
    #[arg(long)]
    eager: bool,
    /// cuDNN autotuning (`cudnn.benchmark`) for every cell: each new convolution shape first
    /// times cuDNN's algorithms. Off in `train` (BENCHMARKS.md says why); here to measure it.
    #[arg(long)]
    cudnn_benchmark: bool,
    /// Multiply-adds of a training step that fills the GPU alone: a cell's share of the GPU
    /// when packing is its step's multiply-adds over this (default: what `train` uses).
    #[arg(long, default_value_t = GPU_FILLING_MULTIPLY_ADDS)]
    fill: f64,
    /// Cells trained at once (worker threads; default 8 on CUDA, packed by cost, 1 on CPU).
    #[arg(long)]
    jobs: Option<usize>,
    /// Device: auto, cpu, cuda:N.
    #[arg(long, default_value = "auto")]
    device: String,
}

#[derive(serde::Serialize)]
struct CellReport {
    system: &'static str,
    width: u32,
    batch_size: u32,
    images: u64,
    seconds: f64,
    images_per_sec: f64,
    /// The last epoch alone: the steady state, after every first-step cost (cuDNN plans,
    /// allocations, the graph capture) is paid.
    last_epoch_images_per_sec: f64,
}

pub fn run(args: &Args) -> Result<()> {
    let device = pz_train::resolve_device(DeviceRequest::parse(&args.device).map_err(anyhow::Error::msg)?);
    tch::Cuda::cudnn_set_benchmark(args.cudnn_benchmark);
    let join = |v: &[u32]| v.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
    let overrides = vec![
        format!("grid.load.values=[{}]", join(&args.widths)),
        format!("grid.temperature.values=[{}]", join(&args.batches)),
        "grid.seeds=[0]".to_string(),
        "problem.augment=true".to_string(),
        "problem.train_subset=0".to_string(),
        format!("train.precision=\"{}\"", args.precision),
        format!("run.layout=\"{}\"", args.layout),
        format!("train.epochs={}", args.epochs),
    ];
    let spec = ZooSpec::parse(SPEC, "examples/fashion-resnet18-small.toml", &overrides)?;
    let plan = Plan::new(&spec)?;
    let data = random_fashion(args.images as usize);
    let jobs = args.jobs.unwrap_or(if device.is_cuda() { WORKERS_PER_GPU } else { 1 }).max(1);
    let settings =
        BenchSettings { device, jobs, fill: args.fill, cuda_graphs: !args.eager, layout: spec.run.layout };
    let started = Instant::now();
    let timings = bench_image_grid(&plan.models, &data, &settings)?;
    let images = u64::from(args.images) * u64::from(args.epochs);
    #[allow(clippy::cast_precision_loss)]
    let reports: Vec<CellReport> = timings
        .iter()
        .map(|t| CellReport {
            system: "phasezoo",
            // The grid's load axis is the ResNet width.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            width: t.model.config.load.value as u32,
            batch_size: t.model.config.train.batch_size,
            images,
            seconds: t.seconds,
            images_per_sec: images as f64 / t.seconds,
            last_epoch_images_per_sec: f64::from(args.images) / t.last_epoch_seconds,
        })
        .collect();
    let wall = started.elapsed().as_secs_f64();
    for cell in &reports {
        println!("{}", serde_json::to_string(cell)?);
    }
    let total: u64 = reports.iter().map(|c| c.images).sum();
    #[allow(clippy::cast_precision_loss)]
    let grid = serde_json::json!({
        "system": "phasezoo", "grid": true, "precision": args.precision, "layout": args.layout,
        "cudnn_benchmark": args.cudnn_benchmark,
        "graphs": !args.eager, "fill": args.fill, "jobs": jobs, "cells": reports.len(), "images": total, "wall_s": wall,
        "images_per_sec": total as f64 / wall, "device": format!("{device:?}"),
    });
    println!("{grid}");
    Ok(())
}
