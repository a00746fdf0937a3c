//! `phasezoo bench resnet`: images/s of the image recipe's training step per (width, batch)
//! cell, and of the whole grid with `--jobs` models training at once on the device. Data:
//! random Fashion-MNIST-shaped uint8 images made on the device (throughput does not depend on
//! pixel values). Each cell trains one epoch of `steps` batches as warm-up, then a timed one.

use std::collections::VecDeque;
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::Result;
use pz_data::vision::{DatasetName, ImageSet, VisionData};
use pz_spec::{DeviceRequest, Plan, ProblemConfig, ZooSpec};
use pz_train::classify::{ImageTask, ImageTrainer};

const SPEC: &str = include_str!("../../../../examples/fashion-resnet18-small.toml");

#[derive(Debug, clap::Args)]
pub struct Args {
    /// ResNet-18 widths (the load axis).
    #[arg(long, value_delimiter = ',', default_value = "4,16,64")]
    widths: Vec<u32>,
    /// Batch sizes (the temperature axis).
    #[arg(long, value_delimiter = ',', default_value = "32,128,512")]
    batches: Vec<u32>,
    /// Timed optimizer steps per cell (after as many warm-up steps).
    #[arg(long, default_value_t = 30)]
    steps: u32,
    /// float32 or bf16_autocast.
    #[arg(long, default_value = "float32")]
    precision: String,
    /// Channels-last memory format (CUDA).
    #[arg(long)]
    channels_last: bool,
    /// Launch every kernel eagerly (no CUDA graphs), as `run.graph = false`.
    #[arg(long)]
    eager: bool,
    /// Cells trained at once on the device (threads).
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Device: auto, cpu, cuda:N.
    #[arg(long, default_value = "auto")]
    device: String,
}

#[derive(serde::Serialize)]
struct CellReport {
    width: u32,
    batch_size: u32,
    precision: String,
    channels_last: bool,
    graphs: bool,
    jobs: usize,
    images_per_sec: f64,
}

pub fn run(args: &Args) -> Result<()> {
    let device = pz_train::resolve_device(DeviceRequest::parse(&args.device).map_err(anyhow::Error::msg)?);
    let widths = args.widths.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
    let batches = args.batches.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
    let overrides = vec![
        format!("grid.load.values=[{widths}]"),
        format!("grid.temperature.values=[{batches}]"),
        "problem.augment=true".to_string(),
        // The example trains on a 10,000-image subset; the bench's set is exactly its batches.
        "problem.train_subset=0".to_string(),
        format!("train.precision=\"{}\"", args.precision),
        format!("train.channels_last={}", args.channels_last),
        "train.epochs=2".to_string(),
    ];
    let spec = ZooSpec::parse(SPEC, "examples/fashion-resnet18-small.toml", &overrides)?;
    let plan = Plan::new(&spec)?;
    let queue = Mutex::new(plan.models.iter().collect::<VecDeque<_>>());
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let images = Mutex::new(0u64);
    let reports: Vec<Result<Vec<CellReport>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..args.jobs.max(1))
            .map(|_| {
                s.spawn(|| -> Result<Vec<CellReport>> {
                    if let tch::Device::Cuda(index) = device {
                        pz_device::use_own_cuda_stream(index); // as `train` workers do
                    }
                    let mut out = Vec::new();
                    while let Some(model) = queue.lock().expect("queue").pop_front() {
                        let batch = model.config.train.batch_size;
                        let ProblemConfig::Image(image) = &model.config.problem else { unreachable!() };
                        let task = ImageTask::new(&random_fashion(batch, args.steps), image, device);
                        let mut trainer =
                            ImageTrainer::new(&model.config, &task, device)?.with_cuda_graphs(!args.eager);
                        trainer.train_epoch(&task, 1, &stop, &mut || {})?;
                        let t0 = Instant::now();
                        trainer.train_epoch(&task, 2, &stop, &mut || {})?; // reads the loss: synchronizes
                        let secs = t0.elapsed().as_secs_f64();
                        let n = u64::from(batch) * u64::from(args.steps);
                        *images.lock().expect("count") += 2 * n;
                        #[allow(clippy::cast_precision_loss)]
                        let images_per_sec = n as f64 / secs;
                        out.push(CellReport {
                            width: width_of(&model.config.model),
                            batch_size: batch,
                            precision: args.precision.clone(),
                            channels_last: args.channels_last,
                            graphs: !args.eager,
                            jobs: args.jobs,
                            images_per_sec,
                        });
                    }
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a bench thread panicked"))))
            .collect()
    });
    let wall = started.elapsed().as_secs_f64();
    for r in reports {
        for cell in r? {
            println!("{}", serde_json::to_string(&cell)?);
        }
    }
    let total = *images.lock().expect("count");
    #[allow(clippy::cast_precision_loss)]
    let grid = serde_json::json!({
        "grid": true, "precision": args.precision, "channels_last": args.channels_last, "graphs": !args.eager, "jobs": args.jobs,
        "cells": plan.models.len(), "images": total, "wall_s": wall, "images_per_sec": total as f64 / wall,
        "device": format!("{device:?}"),
    });
    println!("{grid}");
    Ok(())
}

fn width_of(model: &pz_spec::ModelConfig) -> u32 {
    match model {
        pz_spec::ModelConfig::Resnet18(r) | pz_spec::ModelConfig::Resnet50(r) => r.width,
        pz_spec::ModelConfig::Vit(v) => v.width,
        pz_spec::ModelConfig::Mlp(_) => 0,
    }
}

/// `steps` batches of random 1×28×28 images with labels 0..9 (and a 1,000-image test set, unused).
fn random_fashion(batch: u32, steps: u32) -> VisionData {
    let n = batch as usize * steps as usize;
    let set = |n: usize| {
        let mut x: u32 = 0x9E37_79B9;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        #[allow(clippy::cast_possible_truncation)]
        let images = (0..n * 784).map(|_| next() as u8).collect();
        let labels = (0..n).map(|_| i64::from(next() % 10)).collect();
        ImageSet { images, labels, n, channels: 1, height: 28, width: 28 }
    };
    VisionData { name: DatasetName::FashionMnist, classes: 10, train: set(n), test: set(1000) }
}
