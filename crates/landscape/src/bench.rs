//! The Hessian benchmark workload (BENCHMARKS.md): the SPEC Hessian metric — top eigenvalue by
//! power iteration and trace by Hutchinson, HVPs over 10 batches of 64 training samples — on a
//! deep ReLU MLP classifier with CIFAR-shaped random inputs, until the vision models land.
//!
//! Both sides of the comparison (here and bench/hessian_pytorch.py) run a fixed number of
//! iterations (tolerance 0), so they use the same number of probe vectors; phasezoo computes the
//! Hutchinson probes together ([`hutchinson_trace_replicated`]), PyHessian one by one.

use std::time::Instant;

use serde::Serialize;
use tch::{Device, Kind, Tensor};

use crate::{
    hutchinson_trace_replicated, top_eigenvalues, GraphedHvp, Hutchinson, HvpOperator, LossHvp,
    PowerIteration,
};

/// The workload's size.
#[derive(Debug, Clone)]
pub struct HessianBench {
    /// Hidden width.
    pub width: i64,
    /// Hidden layers.
    pub depth: usize,
    /// Batches of the Hessian loss (SPEC: 10).
    pub batches: usize,
    /// Samples per batch (SPEC: 64).
    pub batch_size: i64,
    /// Power iterations and Hutchinson samples, each.
    pub iterations: usize,
    /// Seed of data and weights.
    pub seed: u64,
    /// On CUDA, replay the power iteration's and the timed products from a CUDA graph
    /// ([`GraphedHvp`]).
    pub graph: bool,
}

/// What one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct HessianBenchReport {
    /// Always "phasezoo".
    pub r#impl: &'static str,
    /// Device name.
    pub device: String,
    /// Whether products were replayed from a CUDA graph.
    pub graph: bool,
    /// Parameters of the model.
    pub params: i64,
    /// Hessian-vector products timed for the rate.
    pub hvps: usize,
    /// HVPs per second (each over all batches), first-backward graphs already built.
    pub hvps_per_s: f64,
    /// Seconds of the whole metric: graphs, power iteration, Hutchinson.
    pub metric_s: f64,
    /// The top eigenvalue found.
    pub top_ev: f64,
    /// The trace estimate.
    pub trace: f64,
}

/// Run the workload once on `device`.
#[must_use]
pub fn run_hessian_bench(cfg: &HessianBench, device: Device) -> HessianBenchReport {
    #[allow(clippy::cast_possible_wrap)]
    tch::manual_seed(cfg.seed as i64);
    if let (Device::Cuda(i), true) = (device, cfg.graph) {
        pz_device::use_own_cuda_stream(i); // a capture needs a non-default stream
    }
    let opts = (Kind::Float, device);
    let mut sizes = vec![3 * 32 * 32];
    sizes.extend(std::iter::repeat_n(cfg.width, cfg.depth));
    sizes.push(10);
    let mut params = Vec::new();
    for pair in sizes.windows(2) {
        #[allow(clippy::cast_precision_loss)]
        let bound = (6.0 / pair[0] as f64).sqrt(); // kaiming_uniform, fan_in
        params.push(
            (Tensor::rand([1, pair[0], pair[1]], opts) * (2.0 * bound) - bound).set_requires_grad(true),
        );
        params.push(Tensor::zeros([1, 1, pair[1]], opts).set_requires_grad(true));
    }
    let data: Vec<(Tensor, Tensor)> = (0..cfg.batches)
        .map(|_| {
            let x = Tensor::randn([1, cfg.batch_size, sizes[0]], opts);
            let y = Tensor::randint(10, [cfg.batch_size], (Kind::Int64, device));
            (x, y)
        })
        .collect();
    // Per-member mean cross-entropy `[K]` of stacked parameters θ on one batch (inputs shared by
    // all members).
    let losses_at = |theta: &[Tensor], x: &Tensor, y: &Tensor| {
        let k = theta[0].size()[0];
        let mut h = x.expand([k, x.size()[1], x.size()[2]], false);
        for l in 0..theta.len() / 2 {
            h = theta[2 * l + 1].baddbmm(&h, &theta[2 * l], 1.0, 1.0);
            if l + 1 < theta.len() / 2 {
                h = h.relu();
            }
        }
        let picked =
            h.log_softmax(-1, Kind::Float).gather(2, &y.view([1, -1, 1]).expand([k, -1, 1], false), false);
        -picked.mean_dim(&[1i64, 2][..], false, Kind::Float)
    };
    #[allow(clippy::cast_precision_loss)]
    let batches_at = |theta: &[Tensor]| -> Vec<(f64, Tensor)> {
        data.iter().map(|(x, y)| (1.0 / cfg.batches as f64, losses_at(theta, x, y))).collect()
    };
    let sync = || {
        if let Device::Cuda(i) = device {
            tch::Cuda::synchronize(i64::try_from(i).expect("small"));
        }
    };
    let run_metric = || {
        let op = GraphedHvp::new(LossHvp::new(&params, batches_at(&params)), device, cfg.graph);
        let power = PowerIteration { max_iter: cfg.iterations, tol: 0.0, ..PowerIteration::default() };
        let top = top_eigenvalues(&op, &params, 1, &power)[0][0];
        // All Hutchinson probes in one product: the model replicated once per probe.
        let hutch = Hutchinson { max_iter: cfg.iterations, tol: 0.0, ..Hutchinson::default() };
        let trace = hutchinson_trace_replicated(batches_at, &params, cfg.iterations, &hutch)[0].mean;
        (op, top, trace)
    };
    let _ = run_metric(); // warm-up: kernels, allocator
    sync();
    let started = Instant::now();
    let (op, top_ev, trace) = run_metric();
    sync();
    let metric_s = started.elapsed().as_secs_f64();
    let v: Vec<Tensor> = params.iter().map(|p| p.detach().randn_like()).collect();
    sync();
    let started = Instant::now();
    for _ in 0..cfg.iterations {
        let _ = op.apply(&v);
    }
    sync();
    #[allow(clippy::cast_precision_loss)]
    let hvps_per_s = cfg.iterations as f64 / started.elapsed().as_secs_f64();
    HessianBenchReport {
        r#impl: "phasezoo",
        graph: op.is_captured(),
        device: format!("{device:?}"),
        params: params.iter().map(Tensor::numel).sum::<usize>() as i64,
        hvps: cfg.iterations,
        hvps_per_s,
        metric_s,
        top_ev,
        trace,
    }
}
