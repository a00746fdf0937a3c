//! Fitting the bend of a Bézier curve between pairs of models, and evaluating along the curve
//! (Garipov et al. 2018, §3; PTMZ `curve_fitting.py`; SPEC §3.3), for P pairs at once.
//!
//! Training minimises E_{t~U(0,1)} [L(φ(t)) + ½·wd·‖φ(t)‖²] over the bend θ₁ only, with the
//! endpoints frozen: each step draws one t per pair, evaluates the caller's per-pair loss at
//! φ(t), adds the L2 term **at the sampled t** over every curve tensor (Garipov's
//! `l2_regularizer`, BN γ/β included when passed), and takes one SGD step with momentum on θ₁
//! (PyTorch `SGD(momentum, dampening=0, nesterov=False, weight_decay=0)`:
//! b ← μ b + g, θ₁ ← θ₁ − lr · b, with b = g at the first step). θ₁ starts at the midpoint
//! ½(θ₀ + θ₂) (Garipov's `init_linear`).

use tch::Tensor;

use crate::curve::{bezier_point, bezier_point_per_member, curve_lr};
use crate::curve_converged::{converged_under_schedule, EpochLoss};
use crate::probe::MemberStreams;
use crate::vector::{detach_members, member_dot, members_of, to_f64s};

/// Settings of curve training. [`CurveTraining::ptmz`] gives SPEC §3.3's values.
#[derive(Debug, Clone, PartialEq)]
pub struct CurveTraining {
    /// Optimiser steps per epoch (one per mini-batch: ⌈50000/128⌉ = 391 for CIFAR at batch 128).
    pub steps_per_epoch: usize,
    /// Epochs (PTMZ: 10; Yang et al.: 50).
    pub epochs: usize,
    /// Base learning rate (PTMZ: 0.1; Yang et al.: 0.01).
    pub lr: f64,
    /// SGD momentum (0.9).
    pub momentum: f64,
    /// wd of the ½·wd·‖φ(t)‖² term (5e-4); the optimiser itself has no weight decay.
    pub weight_decay: f64,
    /// Seed of the t draws.
    pub seed: u64,
    /// ChaCha8 stream of each pair (e.g. [`crate::pair_stream`] of its models' streams);
    /// empty: pair p uses stream p.
    pub streams: Vec<u64>,
    /// `false`: base_lr × factor each epoch (Garipov). `true`: PTMZ's compounding schedule.
    pub ptmz_compat: bool,
    /// Adam (β 0.9, 0.999, ε 1e-8; `momentum` unused) instead of SGD with momentum: for stiff
    /// losses such as a PINN's, where SGD's bend stops moving while the barrier is still far
    /// above the endpoints' loss (docs/METRICS.md, "Curve diagnostics").
    pub adam: bool,
}

impl CurveTraining {
    /// SPEC §3.3: 10 epochs, lr 0.1, momentum 0.9, wd 5e-4, seed 0, correct schedule.
    #[must_use]
    pub fn ptmz(steps_per_epoch: usize) -> Self {
        Self {
            steps_per_epoch,
            epochs: 10,
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 5e-4,
            seed: 0,
            streams: Vec::new(),
            ptmz_compat: false,
            adam: false,
        }
    }
}

/// Train the bends θ₁ of P curves and return them (detached, `[P, …]` per tensor).
///
/// `loss(φ)` gets the stacked curve points `[P, …]` (graph attached to θ₁) and returns the
/// per-pair losses `[P]`, pair p depending only on slice p; the closure owns the data (e.g.
/// the next mini-batch per call) and the model's forward. `theta0`, `theta2`: the frozen
/// endpoints, `[P, …]` per tensor (detached here). The learning rate of epoch e (1-based,
/// as PTMZ) is [`curve_lr`].
pub fn train_bezier_middle(
    mut loss: impl FnMut(&[Tensor]) -> Tensor,
    theta0: &[Tensor],
    theta2: &[Tensor],
    cfg: &CurveTraining,
) -> CurveFit {
    let theta0 = detach_members(theta0);
    let theta2 = detach_members(theta2);
    let pairs = members_of(&theta0);
    let device = theta0[0].device();
    let mut theta1: Vec<Tensor> =
        theta0.iter().zip(&theta2).map(|(a, c)| ((a + c) * 0.5).detach().set_requires_grad(true)).collect();
    let mut momentum: Option<Vec<Tensor>> = None;
    let mut adam = cfg.adam.then(|| CurveAdam::new(&theta1));
    let mut streams = MemberStreams::for_members(cfg.seed, &cfg.streams, pairs);
    let mut lr = cfg.lr;
    let mut epoch_losses = Vec::with_capacity(cfg.epochs);
    let mut epoch_data = Vec::with_capacity(cfg.epochs);
    for epoch in 1..=cfg.epochs {
        lr = curve_lr(cfg.lr, epoch, cfg.epochs, cfg.ptmz_compat, lr);
        let mut epoch_loss = vec![0.0; pairs];
        let mut step_data: Vec<Vec<f64>> = vec![Vec::with_capacity(cfg.steps_per_epoch); pairs];
        for _ in 0..cfg.steps_per_epoch {
            let t = Tensor::from_slice(&streams.uniform()).to_device(device);
            let phi = bezier_point_per_member(&theta0, &theta1, &theta2, &t);
            let data = loss(&phi); // [P]
            let per_pair = &data + member_dot(&phi, &phi) * (0.5 * cfg.weight_decay);
            // One copy to the host for both: [2, P].
            let both = to_f64s(&Tensor::stack(&[data.detach(), per_pair.detach()], 0));
            for p in 0..pairs {
                step_data[p].push(both[p]);
                epoch_loss[p] += both[pairs + p];
            }
            let grads = Tensor::run_backward(&[per_pair.sum(per_pair.kind())], &theta1, false, false);
            if let Some(adam) = adam.as_mut() {
                adam.step(&mut theta1, &grads, lr);
                continue;
            }
            let buffers = match momentum.take() {
                None => grads,
                Some(b) => b.iter().zip(&grads).map(|(b, g)| b * cfg.momentum + g).collect(),
            };
            tch::no_grad(|| {
                for (p, b) in theta1.iter_mut().zip(&buffers) {
                    let _ = p.g_sub_(&(b * lr));
                }
            });
            momentum = Some(buffers);
        }
        tracing::debug!(epoch, lr, ?epoch_loss, "curve training epoch (summed regularised loss per pair)");
        #[allow(clippy::cast_precision_loss)]
        let steps = cfg.steps_per_epoch.max(1) as f64;
        epoch_losses.push(epoch_loss.iter().map(|s| s / steps).collect());
        epoch_data.push(step_data.iter().map(|v| EpochLoss::of(v)).collect());
    }
    CurveFit { middle: detach_members(&theta1), epoch_losses, epoch_data, adam: cfg.adam }
}

/// Adam's state for the bends (every pair's slice updated on its own: the update is
/// element-wise).
struct CurveAdam {
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    steps: i32,
}

impl CurveAdam {
    const BETAS: (f64, f64) = (0.9, 0.999);
    const EPS: f64 = 1e-8;

    fn new(like: &[Tensor]) -> Self {
        let zeros = || like.iter().map(|t| t.detach().zeros_like()).collect();
        Self { m: zeros(), v: zeros(), steps: 0 }
    }

    /// `p ← p − lr · m̂ / (√v̂ + ε)`, as `torch.optim.Adam` without weight decay.
    fn step(&mut self, params: &mut [Tensor], grads: &[Tensor], lr: f64) {
        let (b1, b2) = Self::BETAS;
        self.steps += 1;
        let (c1, c2) = (1.0 - b1.powi(self.steps), 1.0 - b2.powi(self.steps));
        tch::no_grad(|| {
            for (((p, g), m), v) in params.iter_mut().zip(grads).zip(&mut self.m).zip(&mut self.v) {
                *m = &*m * b1 + g * (1.0 - b1);
                *v = &*v * b2 + g * g * (1.0 - b2);
                let denom = (&*v / c2).sqrt() + Self::EPS;
                let _ = p.g_sub_(&(&*m / denom * (lr / c1)));
            }
        });
    }
}

/// A trained curve: its middle point and how its training went.
#[derive(Debug)]
pub struct CurveFit {
    /// θ₁, `[P, …]` per tensor, detached.
    pub middle: Vec<Tensor>,
    /// `epoch_losses[e][p]`: pair p's mean regularised training loss over epoch e (0-based).
    pub epoch_losses: Vec<Vec<f64>>,
    /// `epoch_data[e][p]`: pair p's data loss (without the L2 term) over epoch e's steps.
    pub epoch_data: Vec<Vec<EpochLoss>>,
    /// Whether Adam trained it (convergence is then judged at the end only).
    pub adam: bool,
}

impl CurveFit {
    /// Per pair: whether its training converged ([`converged_under_schedule`] on its data loss).
    #[must_use]
    pub fn converged(&self) -> Vec<bool> {
        let pairs = self.epoch_data.first().map_or(0, Vec::len);
        (0..pairs)
            .map(|p| {
                converged_under_schedule(&self.epoch_data.iter().map(|e| e[p]).collect::<Vec<_>>(), self.adam)
            })
            .collect()
    }
}

/// The straight line between the endpoints as a Bézier curve: its middle point is the
/// endpoints' midpoint ((1−t)²θ₀ + 2t(1−t)·½(θ₀+θ₂) + t²θ₂ = (1−t)θ₀ + tθ₂).
#[must_use]
pub fn straight_middle(theta0: &[Tensor], theta2: &[Tensor]) -> Vec<Tensor> {
    theta0.iter().zip(theta2).map(|(a, c)| (a.detach() + c.detach()) * 0.5).collect()
}

/// Evaluate P curves at t ∈ linspace(0, 1, points): `result[i][j][p]` is metric j of pair p
/// at t_i. `eval(φ)` gets the stacked points `[P, …]` and returns per-pair metrics, each `[P]`
/// (e.g. [regularised loss, NLL, error %]; PTMZ recomputes BN statistics at each t inside
/// its evaluation). Runs under `no_grad`.
#[must_use]
pub fn evaluate_curve(
    mut eval: impl FnMut(&[Tensor]) -> Vec<Tensor>,
    theta0: &[Tensor],
    theta1: &[Tensor],
    theta2: &[Tensor],
    points: usize,
) -> Vec<Vec<Vec<f64>>> {
    tch::no_grad(|| {
        (0..points)
            .map(|i| {
                #[allow(clippy::cast_precision_loss)]
                let t = if points > 1 { i as f64 / (points - 1) as f64 } else { 0.0 };
                let phi = detach_members(&bezier_point(theta0, theta1, theta2, t));
                eval(&phi).iter().map(to_f64s).collect()
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::curve::mode_connectivity;
    use tch::Kind;

    /// Two pairs of endpoints on the unit circle, 120° apart.
    fn ends() -> (Vec<Tensor>, Vec<Tensor>) {
        let s = 3f64.sqrt() / 2.0;
        let a = Tensor::from_slice(&[-1.0, 0.0, 1.0, 0.0]).reshape([2, 2]);
        let b = Tensor::from_slice(&[0.5, s, -0.5, -s]).reshape([2, 2]);
        (vec![a], vec![b])
    }

    /// A ring valley (|x|² − 1)² plus 0.05 |x − a|² |x − b|², which makes the two endpoints
    /// its isolated minima. The straight segment cuts through the ring's inside (a ridge of
    /// height up to 1 at the origin); the arc of the ring stays below 0.05.
    fn ring_loss(phi: &[Tensor]) -> Tensor {
        let (a, b) = ends();
        let x = &phi[0];
        let r2 = x.square().sum_dim_intlist(1, false, Kind::Double);
        let da = (x - &a[0]).square().sum_dim_intlist(1, false, Kind::Double);
        let db = (x - &b[0]).square().sum_dim_intlist(1, false, Kind::Double);
        (r2 - 1.0).square() + da * db * 0.05
    }

    fn max_along(theta1: &[Tensor]) -> (Vec<f64>, Vec<f64>) {
        let (a, b) = ends();
        let curve = evaluate_curve(|phi| vec![ring_loss(phi)], &a, theta1, &b, 41);
        let per_pair = |p: usize| curve.iter().map(|m| m[0][p]).collect::<Vec<f64>>();
        let maxes = (0..2).map(|p| per_pair(p).into_iter().fold(f64::MIN, f64::max)).collect();
        let mcs = (0..2).map(|p| mode_connectivity(&per_pair(p))).collect();
        (maxes, mcs)
    }

    #[test]
    fn a_trained_bend_goes_around_the_ridge_and_lowers_the_curves_maximum() {
        let (a, b) = ends();
        let straight: Vec<Tensor> = vec![(&a[0] + &b[0]) * 0.5];
        let cfg = CurveTraining { steps_per_epoch: 50, ..CurveTraining::ptmz(50) };
        let fit = train_bezier_middle(ring_loss, &a, &b, &cfg);
        let bend = &fit.middle;
        assert_eq!(straight_middle(&a, &b)[0], straight[0]);
        let (line_max, line_mc) = max_along(&straight);
        let (bend_max, bend_mc) = max_along(bend);
        for p in 0..2 {
            assert!(line_max[p] > 0.5, "pair {p}: straight max {}", line_max[p]);
            assert!(bend_max[p] < 0.2 * line_max[p], "pair {p}: {} vs straight {}", bend_max[p], line_max[p]);
            assert!(
                line_mc[p] < -0.5 && bend_mc[p] > 0.2 * line_mc[p],
                "pair {p}: mc {} → {}",
                line_mc[p],
                bend_mc[p]
            );
        }
        // PTMZ's 10 epochs of 50 steps: one mean loss per epoch and pair, falling.
        assert_eq!(fit.epoch_losses.len(), cfg.epochs);
        for p in 0..2 {
            let (first, last) = (fit.epoch_losses[0][p], fit.epoch_losses[cfg.epochs - 1][p]);
            assert!(last < 0.5 * first, "pair {p}: {:?}", fit.epoch_losses);
        }
    }

    /// Adam (lr 0.05, 10 epochs of 50 steps) finds the way round the ridge too, and its update
    /// is element-wise: each pair still trains as if alone.
    #[test]
    fn an_adam_trained_bend_goes_around_the_ridge_too() {
        let (a, b) = ends();
        let cfg = CurveTraining { steps_per_epoch: 50, lr: 0.05, adam: true, ..CurveTraining::ptmz(50) };
        let fit = train_bezier_middle(ring_loss, &a, &b, &cfg);
        let (line_max, _) = max_along(&[(&a[0] + &b[0]) * 0.5]);
        let (bend_max, bend_mc) = max_along(&fit.middle);
        for p in 0..2 {
            assert!(bend_max[p] < 0.2 * line_max[p], "pair {p}: {} vs straight {}", bend_max[p], line_max[p]);
            assert!(bend_mc[p] > -0.1, "pair {p}: mc {}", bend_mc[p]);
        }
        alone_as_in_pairs(&CurveTraining {
            steps_per_epoch: 10,
            epochs: 3,
            lr: 0.05,
            adam: true,
            ..CurveTraining::ptmz(10)
        });
    }

    #[test]
    fn each_pair_trains_as_if_it_were_alone() {
        alone_as_in_pairs(&CurveTraining { steps_per_epoch: 10, epochs: 3, ..CurveTraining::ptmz(10) });
    }

    fn alone_as_in_pairs(cfg: &CurveTraining) {
        let (a, b) = ends();
        let cfg = cfg.clone();
        let both = train_bezier_middle(ring_loss, &a, &b, &cfg).middle;
        let first = |v: &[Tensor]| vec![v[0].narrow(0, 0, 1)];
        let alone = train_bezier_middle(
            |phi: &[Tensor]| {
                // Pad to two pairs so ring_loss sees its endpoints; keep only pair 0.
                let padded = Tensor::cat(&[&phi[0], &b[0].narrow(0, 1, 1)], 0);
                ring_loss(&[padded]).narrow(0, 0, 1)
            },
            &first(&a),
            &first(&b),
            &cfg,
        )
        .middle;
        let diff = f64::try_from((both[0].narrow(0, 0, 1) - &alone[0]).abs().max()).unwrap();
        assert!(diff < 1e-14, "{diff}");
        // The bend moved away from the midpoint.
        let mid = (&a[0] + &b[0]) * 0.5;
        assert!(f64::try_from((&both[0] - mid).abs().max()).unwrap() > 0.1);
    }

    #[test]
    fn evaluation_walks_linspace_from_end_to_end() {
        let (a, b) = ends();
        let mid = vec![Tensor::zeros([2, 2], (Kind::Double, tch::Device::Cpu))];
        let out = evaluate_curve(|phi| vec![phi[0].select(1, 0), phi[0].select(1, 1)], &a, &mid, &b, 3);
        assert_eq!(out.len(), 3);
        assert_eq!(out[0], vec![vec![-1.0, 1.0], vec![0.0, 0.0]]);
        assert_eq!(out[1][0], vec![-0.25 + 0.25 * 0.5, 0.25 - 0.25 * 0.5]);
        assert_eq!(out[2][0], vec![0.5, -0.5]);
    }

    /// mc of a trained curve between `a` and `b` on the 2-parameter loss `f` (one pair).
    fn trained_mc(f: impl Fn(&Tensor) -> Tensor, a: [f64; 2], b: [f64; 2]) -> f64 {
        let point = |p: [f64; 2]| vec![Tensor::from_slice(&p).reshape([1, 2])];
        let (theta0, theta2) = (point(a), point(b));
        let loss = |theta: &[Tensor]| f(&theta[0]);
        let cfg = CurveTraining {
            steps_per_epoch: 50,
            epochs: 10,
            lr: 0.05,
            momentum: 0.9,
            weight_decay: 0.0,
            seed: 1,
            streams: Vec::new(),
            ptmz_compat: false,
            adam: false,
        };
        let theta1 = train_bezier_middle(loss, &theta0, &theta2, &cfg).middle;
        let series = evaluate_curve(|t| vec![f(&t[0])], &theta0, &theta1, &theta2, 5);
        mode_connectivity(&series.iter().map(|at_t| at_t[0][0]).collect::<Vec<_>>())
    }

    #[test]
    fn constructed_landscapes_give_the_three_signs_of_mc() {
        let x = |t: &Tensor| t.select(1, 0);
        let y = |t: &Tensor| t.select(1, 1);
        // Convex bowl, ends near its bottom: connected, mc ≈ 0.
        let bowl = |t: &Tensor| (x(t) - 0.3).square() + (y(t) + 0.2).square();
        let mc = trained_mc(bowl, [0.31, -0.2], [0.29, -0.2]);
        assert!(mc.abs() < 1e-3, "bowl: {mc}");
        // The same bowl, ends high on its walls (under-trained): the curve finds lower points.
        let mc = trained_mc(bowl, [1.3, -0.2], [0.3, 0.8]);
        assert!(mc > 0.3, "under-trained ends: {mc}");
        // Two wells separated by a ridge every path must cross (height 1 at x = 0): a barrier.
        let wells = |t: &Tensor| (x(t).square() - 1.0).square() + y(t).square();
        let mc = trained_mc(wells, [-1.0, 0.0], [1.0, 0.0]);
        assert!(mc < -0.5, "barrier: {mc}");
    }
}
