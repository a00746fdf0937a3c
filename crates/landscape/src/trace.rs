//! Hessian trace by Hutchinson's estimator for K members at once, with two stopping rules.
//!
//! With Rademacher probes z (entries ±1 with probability ½), E[zᵀHz] = tr H and
//! Var[zᵀHz] = 2 Σ_{i≠j} H_ij² (Hutchinson 1989; Avron & Toledo 2011).
//!
//! **The target rule** ([`Hutchinson::target`] set; phasezoo's default through
//! [`Hutchinson::from_config`]): Hutch++ (Meyer, Musco, Musco & Woodruff 2021) whose residual
//! probes go on until the standard error of the estimate is at most a set fraction of it
//! (`trace_target.rs` has the algorithm and why its standard error is honest). Every value comes
//! with its standard error and a 95 % interval ([`TraceEstimate`]).
//!
//! **PyHessian's rule** (`target: None`, the [`Default`]; always with `ptmz_compat`; Yao et al.
//! 2020, `PyHessian.trace`; SPEC §3.1). Per member:
//! 1. Draw z, append zᵀHz to the member's samples.
//! 2. Stop when |mean(samples) − m_prev| / (|m_prev| + 1e-6) < tol, where m_prev is the mean
//!    before this sample (starting at 0); otherwise m_prev ← mean. At most `max_iter` samples.
//!
//! The estimate is the mean of the samples. PTMZ's vendored copy has no abs() in the
//! denominator, (m_prev + 1e-6): once the running mean is below −1e-6 the ratio is negative and
//! the loop stops at the next sample. [`Hutchinson::ptmz_compat`] reproduces that; without it
//! the rule is upstream PyHessian's abs(). The rule stops on a small change of the running mean,
//! not on a small error: on exact PINN Hessians it ends after 19-76 probes with a 16-21 %
//! standard deviation (issue 23), which is why it is no longer the default.
//!
//! All members are probed by one Hessian-vector product per iteration; a member that has
//! stopped keeps its samples while the others go on, and draws from its own stream only, so its
//! value does not depend on the members beside it.

use tch::Tensor;

use crate::hvp::{HvpOperator, LossHvp};
use crate::probe::{replica_stream, MemberStreams};
use crate::trace_target::{student_t975, target_trace};
use crate::vector::{member_dot, to_f64s};

/// Settings of the trace estimator. [`Default`] is PyHessian's rule (`maxIter=100, tol=1e-3`);
/// [`Hutchinson::from_config`] gives phasezoo's default, the target rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Hutchinson {
    /// Most probes per member: PyHessian's `maxIter` (100); for the target rule, the cap on its
    /// residual probes (the sketch's 2 × `sketch` products come on top).
    pub max_iter: usize,
    /// PyHessian's rule: relative change of the running mean that stops sampling (1e-3).
    pub tol: f64,
    /// Seed of the Rademacher probes.
    pub seed: u64,
    /// ChaCha8 stream of each member (e.g. [`crate::model_stream`]); empty: member k uses
    /// stream k.
    pub streams: Vec<u64>,
    /// `true`: PyHessian's rule as PTMZ's vendored copy runs it, m_prev + 1e-6 without abs()
    /// (`compat = "ptmz-2024"`), whatever `target` says. `false`: `target` decides; PyHessian's
    /// rule then has upstream's |m_prev| + 1e-6.
    pub ptmz_compat: bool,
    /// `Some`: the target rule (Hutch++ with a sequential stop); `None`: PyHessian's rule.
    pub target: Option<TraceTarget>,
}

impl Default for Hutchinson {
    fn default() -> Self {
        Self { max_iter: 100, tol: 1e-3, seed: 0, streams: Vec::new(), ptmz_compat: false, target: None }
    }
}

impl Hutchinson {
    /// The estimator `[metrics.hessian]` asks for, member k drawing its probes from stream
    /// `streams[k]` (its model's, so that its value does not depend on the other members): the
    /// target rule with `trace_rel_std_err`, `trace_min_probes`, `trace_sketch` and the cap
    /// `trace_max_iter`; with `ptmz_compat`, PyHessian's rule (`trace_tol`, `trace_max_iter`)
    /// exactly as PTMZ ran it.
    #[must_use]
    pub fn from_config(cfg: &pz_spec::HessianConfig, streams: &[u64]) -> Self {
        let target = (!cfg.ptmz_compat).then_some(TraceTarget {
            rel_std_err: cfg.trace_rel_std_err,
            min_probes: cfg.trace_min_probes,
            sketch: cfg.trace_sketch,
        });
        Self {
            max_iter: cfg.trace_max_iter,
            tol: cfg.trace_tol,
            seed: cfg.seed,
            streams: streams.to_vec(),
            ptmz_compat: cfg.ptmz_compat,
            target,
        }
    }
}

/// The target rule's settings (module doc; `trace_target.rs`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TraceTarget {
    /// Stop once the standard error is at most this fraction of |estimate| (phasezoo: 0.02).
    pub rel_std_err: f64,
    /// Residual probes taken before the rule may stop (phasezoo: 30; at least 2 are needed for
    /// a standard error).
    pub min_probes: usize,
    /// Hutch++ sketch size s: s probes are multiplied by H, their span orthonormalised and the
    /// trace on it taken exactly (2s products); 0 = plain Hutchinson (phasezoo: 10).
    pub sketch: usize,
}

impl Default for TraceTarget {
    /// phasezoo's defaults (`[metrics.hessian]`).
    fn default() -> Self {
        let cfg = pz_spec::HessianConfig::default();
        Self {
            rel_std_err: cfg.trace_rel_std_err,
            min_probes: cfg.trace_min_probes,
            sketch: cfg.trace_sketch,
        }
    }
}

/// One member's trace estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceEstimate {
    /// The reported trace: `deflated` + mean(samples) (PyHessian's rule: mean(samples), PTMZ's
    /// per-model value).
    pub mean: f64,
    /// Standard error of `mean`, s / √N with the samples' standard deviation s (N − 1
    /// denominator) and N samples (`deflated` is exact given the sketch); NaN for one sample.
    pub std_err: f64,
    /// Half-width of the 95 % interval, t₀.₉₇₅(N − 1) · `std_err` (Student's t): the interval
    /// `mean ± ci95` holds the trace with probability about 0.95 (a `std_err` bar: about 0.68).
    pub ci95: f64,
    /// The probes' quadratic forms in order (PyHessian's returned list); for the target rule
    /// those of the residual probes (I − QQᵀ)z.
    pub samples: Vec<f64>,
    /// The trace on the sketched subspace, tr(QᵀHQ) (0 without a sketch).
    pub deflated: f64,
    /// Hessian-vector products spent on this member: 2 × sketch + samples.
    pub products: usize,
    /// Whether the rule stopped on its criterion (target or tolerance) rather than at the cap.
    pub converged: bool,
}

impl TraceEstimate {
    /// Summary of a list of samples (no sketch), `converged` false.
    #[must_use]
    pub fn from_samples(samples: Vec<f64>) -> Self {
        #[allow(clippy::cast_precision_loss)]
        let n = samples.len() as f64;
        let mean = samples.iter().sum::<f64>() / n;
        let var = samples.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / (n - 1.0);
        let std_err = if samples.len() > 1 { (var / n).sqrt() } else { f64::NAN };
        let ci95 = student_t975(samples.len().saturating_sub(1)) * std_err;
        let products = samples.len();
        Self { mean, std_err, ci95, samples, deflated: 0.0, products, converged: false }
    }
}

/// One member's running estimate with PyHessian's stopping rule (module doc).
#[derive(Debug, Default)]
struct Running {
    samples: Vec<f64>,
    previous: f64,
    done: bool,
    /// Stopped by the tolerance, not by the cap.
    converged: bool,
}

impl Running {
    /// Take one more sample unless stopped already.
    fn push(&mut self, value: f64, cfg: &Hutchinson) {
        if self.done || self.samples.len() >= cfg.max_iter {
            self.done = true;
            return;
        }
        self.samples.push(value);
        #[allow(clippy::cast_precision_loss)]
        let mean = self.samples.iter().sum::<f64>() / self.samples.len() as f64;
        let denominator = if cfg.ptmz_compat { self.previous + 1e-6 } else { self.previous.abs() + 1e-6 };
        self.converged = (mean - self.previous).abs() / denominator < cfg.tol;
        if self.converged || self.samples.len() >= cfg.max_iter {
            self.done = true;
        } else {
            self.previous = mean;
        }
    }

    fn finish(self) -> TraceEstimate {
        TraceEstimate { converged: self.converged, ..TraceEstimate::from_samples(self.samples) }
    }
}

/// Per member, the trace estimate by the rule `cfg` selects (module doc): the target rule when
/// `cfg.target` is set and `cfg.ptmz_compat` is not, else PyHessian's.
///
/// `params` gives the shapes, kind and device of the probes (`[K, …]` per tensor).
#[must_use]
pub fn hutchinson_trace(op: &impl HvpOperator, params: &[Tensor], cfg: &Hutchinson) -> Vec<TraceEstimate> {
    if let (Some(target), false) = (&cfg.target, cfg.ptmz_compat) {
        return target_trace(op, params, cfg, target);
    }
    let k = op.members();
    let mut streams = MemberStreams::for_members(cfg.seed, &cfg.streams, k);
    let mut running: Vec<Running> = (0..k).map(|_| Running::default()).collect();
    while !running.iter().all(|r| r.done) {
        let z = streams.rademacher(params);
        let zhz = to_f64s(&member_dot(&op.apply(&z), &z));
        for (r, v) in running.iter_mut().zip(zhz) {
            r.push(v, cfg);
        }
    }
    running.into_iter().map(Running::finish).collect()
}

/// [`hutchinson_trace`] with PyHessian's rule and `replicas` probes per Hessian-vector product:
/// each member is replicated into `replicas` identical members (member-major: rows k·R …
/// k·R + R − 1), every replica gets its own probe, and one double backward serves them all. The
/// samples are then taken in replica order with the same stopping rule, so the estimate is
/// PyHessian's, computed with fewer, larger products — worth it when products are bound by
/// kernel launches (one large model, small batches), as the issue's "several probe vectors per
/// backward".
///
/// `losses(θ)` must return the weighted batch losses (as for [`LossHvp::new`]) of a population
/// with stacked parameters θ, `[K·R]` each. Probes come from streams k·R + r of `cfg.seed`.
///
/// # Panics
/// If `cfg` asks for the target rule (`target` set without `ptmz_compat`): it is not offered
/// here.
#[must_use]
pub fn hutchinson_trace_replicated(
    losses: impl Fn(&[Tensor]) -> Vec<(f64, Tensor)>,
    params: &[Tensor],
    replicas: usize,
    cfg: &Hutchinson,
) -> Vec<TraceEstimate> {
    assert!(cfg.target.is_none() || cfg.ptmz_compat, "the replicated estimator has PyHessian's rule only");
    let k = crate::vector::members_of(params);
    let r = i64::try_from(replicas.max(1)).expect("small");
    let replicated: Vec<Tensor> = params
        .iter()
        .map(|p| p.detach().repeat_interleave_self_int(r, 0, None).set_requires_grad(true))
        .collect();
    let op = LossHvp::new(&replicated, losses(&replicated));
    let keys: Vec<u64> = if cfg.streams.is_empty() {
        (0..(k * replicas.max(1)) as u64).collect()
    } else {
        assert_eq!(cfg.streams.len(), k, "{} stream keys for {k} members", cfg.streams.len());
        cfg.streams
            .iter()
            .flat_map(|&key| (0..replicas.max(1) as u64).map(move |r| replica_stream(key, r)))
            .collect()
    };
    let mut streams = MemberStreams::keyed(cfg.seed, &keys);
    let mut running: Vec<Running> = (0..k).map(|_| Running::default()).collect();
    while !running.iter().all(|s| s.done) {
        let z = streams.rademacher(&replicated);
        let zhz = to_f64s(&member_dot(&op.apply(&z), &z));
        for (m, chunk) in zhz.chunks(replicas.max(1)).enumerate() {
            for &v in chunk {
                running[m].push(v, cfg);
            }
        }
    }
    running.into_iter().map(Running::finish).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{explicit_hessian, quadratic, rows, traces, Tiny};
    use crate::vector::flatten_members;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use tch::{Device, Kind};

    #[test]
    fn many_samples_land_within_three_standard_errors_of_the_exact_trace() {
        let tiny = Tiny::new(3, 12, 21);
        let op = tiny.hvp(&[12]);
        let h = explicit_hessian(&op, &tiny.params);
        let exact = traces(&h);
        // tol = 0 never stops early: 2000 probes per member.
        let cfg = Hutchinson { max_iter: 2000, tol: 0.0, seed: 5, ..Hutchinson::default() };
        let est = hutchinson_trace(&op, &tiny.params, &cfg);
        for (k, (e, t)) in est.iter().zip(&exact).enumerate() {
            assert_eq!(e.samples.len(), 2000);
            let z = (e.mean - t) / e.std_err;
            assert!(z.abs() < 3.0, "member {k}: {} vs {t} ({z:.2} standard errors)", e.mean);
            // The sample variance estimates 2 Σ_{i≠j} H_ij² (Rademacher probes).
            let hk = rows(&h, i64::try_from(k).unwrap());
            let off: f64 = (0..hk.len())
                .flat_map(|i| (0..hk.len()).map(move |j| (i, j)))
                .filter(|(i, j)| i != j)
                .map(|(i, j)| hk[i][j].powi(2))
                .sum();
            let var = e.std_err.powi(2) * 2000.0;
            assert!((var / (2.0 * off) - 1.0).abs() < 0.15, "member {k}: variance {var} vs {}", 2.0 * off);
        }
    }

    #[test]
    fn replicated_probes_estimate_the_exact_trace_with_the_same_stopping_rule() {
        let tiny = Tiny::new(3, 12, 23);
        let exact = traces(&explicit_hessian(&tiny.hvp(&[12]), &tiny.params));
        // Each replica sees its member's data: repeat the data the way the parameters are.
        let losses = |theta: &[Tensor]| {
            let x = tiny.x.repeat_interleave_self_int(8, 0, None);
            let y = tiny.y.repeat_interleave_self_int(8, 0, None);
            vec![(1.0, Tiny::loss_of(theta, &x, &y))]
        };
        let cfg = Hutchinson { max_iter: 2000, tol: 0.0, seed: 8, ..Hutchinson::default() };
        let est = hutchinson_trace_replicated(losses, &tiny.params, 8, &cfg);
        for (k, (e, t)) in est.iter().zip(&exact).enumerate() {
            assert_eq!(e.samples.len(), 2000, "2000 samples from 250 products of 8 probes");
            let z = (e.mean - t) / e.std_err;
            assert!(z.abs() < 3.0, "member {k}: {} vs {t} ({z:.2} standard errors)", e.mean);
        }
        // PyHessian's tolerance still stops each member on its own.
        let default = hutchinson_trace_replicated(losses, &tiny.params, 8, &Hutchinson::default());
        assert!(default.iter().all(|e| e.samples.len() < 2000));
    }

    #[test]
    fn samples_are_the_quadratic_forms_of_the_seeded_rademacher_probes() {
        let tiny = Tiny::new(3, 12, 22);
        let op = tiny.hvp(&[12]);
        let h = explicit_hessian(&op, &tiny.params);
        let cfg = Hutchinson { seed: 9, ..Hutchinson::default() };
        let est = hutchinson_trace(&op, &tiny.params, &cfg);
        let mut streams = MemberStreams::new(9, 3);
        let longest = est.iter().map(|e| e.samples.len()).max().unwrap();
        for i in 0..longest {
            let z = flatten_members(&streams.rademacher(&tiny.params)); // [K, n]
            let zhz =
                h.bmm(&z.unsqueeze(2)).squeeze_dim(2).multiply(&z).sum_dim_intlist(1, false, Kind::Double);
            let zhz = Vec::<f64>::try_from(zhz).unwrap();
            for (k, e) in est.iter().enumerate() {
                if let Some(s) = e.samples.get(i) {
                    assert!((s - zhz[k]).abs() < 1e-12 * zhz[k].abs().max(1.0), "member {k} sample {i}");
                }
            }
        }
    }

    #[test]
    fn ptmz_compat_stops_after_two_samples_when_the_trace_is_negative() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let n = 6;
        let b = crate::testkit::randn(&[2, n, n], &mut rng);
        let a = -(b.bmm(&b.transpose(1, 2)) + Tensor::eye(n, (Kind::Double, Device::Cpu)));
        let (params, op) = quadratic(&a, &mut rng);
        let compat =
            hutchinson_trace(&op, &params, &Hutchinson { ptmz_compat: true, ..Hutchinson::default() });
        let upstream = hutchinson_trace(&op, &params, &Hutchinson::default());
        for (c, u) in compat.iter().zip(&upstream) {
            assert_eq!(c.samples.len(), 2);
            assert!(u.samples.len() > 2);
            assert_eq!(c.samples[..], u.samples[..2]);
        }
    }
}
