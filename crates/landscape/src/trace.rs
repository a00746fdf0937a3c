//! Hessian trace by Hutchinson's estimator, as PyHessian computes it (Hutchinson 1989; Avron &
//! Toledo 2011; Yao et al. 2020, `PyHessian.trace`; SPEC §3.1), for K members at once.
//!
//! With Rademacher probes z (entries ±1 with probability ½), E[zᵀHz] = tr H and
//! Var[zᵀHz] = 2 Σ_{i≠j} H_ij². Per member:
//! 1. Draw z, append zᵀHz to the member's samples.
//! 2. Stop when |mean(samples) − m_prev| / (|m_prev| + 1e-6) < tol, where m_prev is the mean
//!    before this sample (starting at 0); otherwise m_prev ← mean. At most `max_iter` samples.
//!
//! The estimate is the mean of the samples. PTMZ's vendored copy has no abs() in the
//! denominator, (m_prev + 1e-6): once the running mean is below −1e-6 the ratio is negative and
//! the loop stops at the next sample. [`Hutchinson::ptmz_compat`] reproduces that; the default
//! is upstream PyHessian's abs().
//!
//! All members are probed by one Hessian-vector product per iteration; a member that has
//! stopped keeps its samples while the others go on.

use tch::Tensor;

use crate::hvp::HvpOperator;
use crate::probe::MemberStreams;
use crate::vector::{member_dot, to_f64s};

/// Settings of the Hutchinson estimator. Defaults are PyHessian's (`maxIter=100, tol=1e-3`).
#[derive(Debug, Clone, PartialEq)]
pub struct Hutchinson {
    /// Most probes per member (PyHessian: 100).
    pub max_iter: usize,
    /// Relative change of the running mean that stops sampling (PyHessian: 1e-3).
    pub tol: f64,
    /// Seed of the Rademacher probes (member k uses ChaCha8 stream k).
    pub seed: u64,
    /// `false` (default): |m_prev| + 1e-6 in the tolerance denominator, as upstream PyHessian.
    /// `true`: m_prev + 1e-6 without abs(), as PTMZ's vendored copy (`compat = "ptmz-2024"`).
    pub ptmz_compat: bool,
}

impl Default for Hutchinson {
    fn default() -> Self {
        Self { max_iter: 100, tol: 1e-3, seed: 0, ptmz_compat: false }
    }
}

/// One member's trace estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceEstimate {
    /// mean(samples): the reported trace (PTMZ's per-model value).
    pub mean: f64,
    /// Standard error of the mean, s / √N with the sample standard deviation s (N − 1
    /// denominator); NaN for a single sample.
    pub std_err: f64,
    /// The probes' zᵀHz values in order (PyHessian's returned list).
    pub samples: Vec<f64>,
}

impl TraceEstimate {
    /// Summary of a list of samples.
    #[must_use]
    pub fn from_samples(samples: Vec<f64>) -> Self {
        #[allow(clippy::cast_precision_loss)]
        let n = samples.len() as f64;
        let mean = samples.iter().sum::<f64>() / n;
        let var = samples.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / (n - 1.0);
        let std_err = if samples.len() > 1 { (var / n).sqrt() } else { f64::NAN };
        Self { mean, std_err, samples }
    }
}

/// Per member, Hutchinson's trace estimate with PyHessian's stopping rule (module doc).
///
/// `params` gives the shapes, kind and device of the probes (`[K, …]` per tensor).
#[must_use]
pub fn hutchinson_trace(op: &impl HvpOperator, params: &[Tensor], cfg: &Hutchinson) -> Vec<TraceEstimate> {
    let k = op.members();
    let mut streams = MemberStreams::new(cfg.seed, k);
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); k];
    let mut previous = vec![0.0f64; k];
    let mut done = vec![false; k];
    for _ in 0..cfg.max_iter {
        let z = streams.rademacher(params);
        let zhz = to_f64s(&member_dot(&op.apply(&z), &z));
        for m in 0..k {
            if done[m] {
                continue;
            }
            samples[m].push(zhz[m]);
            #[allow(clippy::cast_precision_loss)]
            let mean = samples[m].iter().sum::<f64>() / samples[m].len() as f64;
            let denominator = if cfg.ptmz_compat { previous[m] + 1e-6 } else { previous[m].abs() + 1e-6 };
            if (mean - previous[m]).abs() / denominator < cfg.tol {
                done[m] = true;
            } else {
                previous[m] = mean;
            }
        }
        if done.iter().all(|&d| d) {
            break;
        }
    }
    samples.into_iter().map(TraceEstimate::from_samples).collect()
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
        let cfg = Hutchinson { max_iter: 2000, tol: 0.0, seed: 5, ptmz_compat: false };
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
