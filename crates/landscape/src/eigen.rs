//! Top Hessian eigenvalues by power iteration with deflation, exactly as PyHessian computes them
//! (Yao, Gholami, Keutzer & Mahoney 2020, "PyHessian: Neural Networks Through the Lens of the
//! Hessian", `PyHessian.eigenvalues`; SPEC §3.1), for K members at once.
//!
//! Per member, for each of the `top_n` eigenvalues:
//! 1. v ← g / (‖g‖ + ε), g ~ N(0, I), ε = 1e-6 (PyHessian's `normalization`).
//! 2. Each iteration: v ← orthnormal(v, found) (modified Gram–Schmidt against the eigenvectors
//!    found so far, then normalisation with the same +ε); Hv; estimate λ = vᵀHv with this
//!    pre-update v; v ← Hv / (‖Hv‖ + ε).
//! 3. The first estimate is stored. Later: if |λ_prev − λ| / (|λ_prev| + 1e-6) < tol, stop and
//!    report **λ_prev** (the new estimate is discarded); otherwise λ_prev ← λ.
//! 4. After `max_iter` iterations without convergence the last estimate is reported.
//! 5. The eigenvector kept for deflation is the last v = Hv/(‖Hv‖ + ε).
//!
//! Power iteration converges to the eigenvalue of largest **magnitude** in the subspace
//! orthogonal to the eigenvectors found so far, so `top_n` values are the largest |λ| in
//! order (for trained networks, whose spectra are dominated by a few large positive outliers,
//! this is λ_max). The error of the reported value shrinks like (λ₂/λ₁)^{2i} after i
//! iterations, and the stopping rule only bounds the *change* of the estimate: with PyHessian's
//! tol = 1e-3 the reported value is typically within ~1e-3 relative but can be further off when
//! λ₂ ≈ λ₁. The +ε normalisation also biases every estimate by the factor (1 + ε/‖v‖)^{-2},
//! about 1 − 2·10⁻⁶; [`PowerIteration::norm_eps`] = 0 removes it for exactness checks.
//!
//! Members converge independently: a converged member keeps its value and eigenvector while
//! the others go on (its products are still computed, since the operator acts on all members).

use tch::Tensor;

use crate::hvp::HvpOperator;
use crate::probe::MemberStreams;
use crate::vector::{member_dot, normalize_members, orthogonalize_members, select_members, to_f64s};

/// Settings of the power iteration. Defaults are PyHessian's (`maxIter=100, tol=1e-3`).
#[derive(Debug, Clone, PartialEq)]
pub struct PowerIteration {
    /// Iterations per eigenvalue (PyHessian: 100).
    pub max_iter: usize,
    /// Relative change of the estimate that stops the iteration (PyHessian: 1e-3).
    pub tol: f64,
    /// Seed of the Gaussian start vectors.
    pub seed: u64,
    /// ChaCha8 stream of each member (e.g. [`crate::model_stream`]); empty: member k uses
    /// stream k.
    pub streams: Vec<u64>,
    /// ε in v / (‖v‖ + ε) (PyHessian's `normalization`: 1e-6). 0 gives exact unit vectors.
    pub norm_eps: f64,
}

impl Default for PowerIteration {
    fn default() -> Self {
        Self { max_iter: 100, tol: 1e-3, seed: 0, streams: Vec::new(), norm_eps: 1e-6 }
    }
}

/// The result of [`power_iteration`], per member.
#[derive(Debug)]
pub struct TopEigen {
    /// `values[k][i]`: member k's i-th eigenvalue, in the order found (largest |λ| first).
    pub values: Vec<Vec<f64>>,
    /// `iterations[k][i]`: iterations (Hessian-vector products) member k spent on value i.
    pub iterations: Vec<Vec<usize>>,
    /// `vectors[i]`: the i-th eigenvectors of all members, shaped like the parameters.
    pub vectors: Vec<Vec<Tensor>>,
}

/// Per member, the `top_n` eigenvalues of largest magnitude (PyHessian semantics, see the
/// module doc): `result[k]` has `top_n` values.
///
/// `params` gives the shapes, kind and device of the vectors (`[K, …]` per tensor).
#[must_use]
pub fn top_eigenvalues(
    op: &impl HvpOperator,
    params: &[Tensor],
    top_n: usize,
    cfg: &PowerIteration,
) -> Vec<Vec<f64>> {
    power_iteration(op, params, top_n, cfg).values
}

/// [`top_eigenvalues`] with the eigenvectors and iteration counts.
#[must_use]
pub fn power_iteration(
    op: &impl HvpOperator,
    params: &[Tensor],
    top_n: usize,
    cfg: &PowerIteration,
) -> TopEigen {
    let k = op.members();
    let mut streams = MemberStreams::for_members(cfg.seed, &cfg.streams, k);
    let mut values = vec![Vec::with_capacity(top_n); k];
    let mut iterations = vec![Vec::with_capacity(top_n); k];
    let mut vectors: Vec<Vec<Tensor>> = Vec::with_capacity(top_n);
    for _ in 0..top_n {
        let mut v = normalize_members(&streams.gaussian(params), cfg.norm_eps);
        let mut estimate: Vec<Option<f64>> = vec![None; k];
        let mut done = vec![false; k];
        let mut count = vec![0usize; k];
        for _ in 0..cfg.max_iter {
            let w = orthogonalize_members(&v, &vectors);
            let w = normalize_members(&w, cfg.norm_eps);
            let hv = op.apply(&w);
            let lambda = to_f64s(&member_dot(&hv, &w));
            let next = normalize_members(&hv, cfg.norm_eps);
            let was_done = done.clone();
            for m in (0..k).filter(|&m| !was_done[m]) {
                count[m] += 1;
                match estimate[m] {
                    None => estimate[m] = Some(lambda[m]),
                    Some(prev) => {
                        if (prev - lambda[m]).abs() / (prev.abs() + 1e-6) < cfg.tol {
                            done[m] = true; // report prev, as PyHessian's `break` does
                        } else {
                            estimate[m] = Some(lambda[m]);
                        }
                    }
                }
            }
            // Members that had converged before this iteration keep their eigenvector.
            v = select_members(&was_done, &v, &next);
            if done.iter().all(|&d| d) {
                break;
            }
        }
        tracing::debug!(?count, "power iteration finished an eigenvalue");
        for m in 0..k {
            values[m].push(estimate[m].unwrap_or(f64::NAN));
            iterations[m].push(count[m]);
        }
        vectors.push(v);
    }
    TopEigen { values, iterations, vectors }
}

/// Rayleigh quotients vᵀHv / vᵀv of a population vector, per member (a check on eigenvectors).
#[must_use]
pub fn rayleigh_quotients(op: &impl HvpOperator, v: &[Tensor]) -> Vec<f64> {
    let hv = op.apply(v);
    let num = to_f64s(&member_dot(&hv, v));
    let den = to_f64s(&member_dot(v, v));
    num.iter().zip(&den).map(|(a, b)| a / b).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{eigvalsh, explicit_hessian, quadratic, rows, Tiny};
    use crate::vector::{flatten_members, member_numel};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use tch::{Device, Kind};

    fn by_magnitude(mut v: Vec<f64>) -> Vec<f64> {
        v.sort_by(|a, b| b.abs().total_cmp(&a.abs()));
        v
    }

    /// PyHessian's `eigenvalues` transcribed to plain f64 loops on an explicit matrix.
    fn reference(h: &[Vec<f64>], start: &[Vec<f64>], cfg: &PowerIteration) -> (Vec<f64>, Vec<usize>) {
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        let norm = |a: &[f64]| {
            let s = dot(a, a).sqrt() + cfg.norm_eps;
            a.iter().map(|x| x / s).collect::<Vec<f64>>()
        };
        let (mut found, mut values, mut counts) = (Vec::<Vec<f64>>::new(), vec![], vec![]);
        for s in start {
            let mut v = norm(s);
            let (mut eig, mut count) = (None::<f64>, 0);
            for _ in 0..cfg.max_iter {
                for b in &found {
                    let c = dot(&v, b);
                    v = v.iter().zip(b).map(|(x, y)| x - c * y).collect();
                }
                v = norm(&v);
                let hv: Vec<f64> = h.iter().map(|row| dot(row, &v)).collect();
                let tmp = dot(&hv, &v);
                v = norm(&hv);
                count += 1;
                match eig {
                    None => eig = Some(tmp),
                    Some(e) if (e - tmp).abs() / (e.abs() + 1e-6) < cfg.tol => break,
                    Some(_) => eig = Some(tmp),
                }
            }
            values.push(eig.unwrap());
            counts.push(count);
            found.push(v);
        }
        (values, counts)
    }

    #[test]
    fn default_settings_follow_pyhessian_step_by_step() {
        let tiny = Tiny::new(3, 12, 11);
        let op = tiny.hvp(&[12]);
        let h = explicit_hessian(&op, &tiny.params);
        let cfg = PowerIteration { seed: 4, ..PowerIteration::default() };
        let got = power_iteration(&op, &tiny.params, 2, &cfg);
        let mut streams = MemberStreams::new(4, 3);
        let starts: Vec<Tensor> = (0..2).map(|_| flatten_members(&streams.gaussian(&tiny.params))).collect();
        for k in 0..3 {
            let s: Vec<Vec<f64>> = starts.iter().map(|t| Vec::<f64>::try_from(t.get(k)).unwrap()).collect();
            let (values, counts) = reference(&rows(&h, k), &s, &cfg);
            let k = usize::try_from(k).unwrap();
            assert_eq!(got.iterations[k], counts, "member {k}");
            for (a, b) in got.values[k].iter().zip(&values) {
                assert!((a - b).abs() < 1e-12 * b.abs(), "member {k}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn power_iteration_finds_the_largest_magnitude_eigenvalues_of_the_explicit_hessian() {
        let tiny = Tiny::new(3, 12, 11);
        let op = tiny.hvp(&[12]);
        let exact = eigvalsh(&explicit_hessian(&op, &tiny.params));
        // tol far below PyHessian's 1e-3 and no +ε bias, so the estimate converges to 1e-8.
        let cfg =
            PowerIteration { max_iter: 20_000, tol: 1e-14, seed: 1, streams: Vec::new(), norm_eps: 0.0 };
        let top = 3;
        let got = power_iteration(&op, &tiny.params, top, &cfg);
        for (k, exact) in exact.into_iter().enumerate() {
            let want = by_magnitude(exact);
            for (i, (g, w)) in got.values[k].iter().zip(&want).enumerate() {
                let rel = (g - w).abs() / w.abs();
                assert!(rel < 1e-8, "member {k} λ{i}: {g} vs {w} ({rel:e})");
            }
        }
        // The kept eigenvectors are eigenvectors: their Rayleigh quotients are the values.
        let rq = rayleigh_quotients(&op, &got.vectors[0]);
        for (q, values) in rq.iter().zip(&got.values) {
            assert!((q - values[0]).abs() < 1e-8 * q.abs());
        }
    }

    #[test]
    fn pyhessians_normalisation_biases_the_estimate_by_about_two_parts_per_million() {
        let tiny = Tiny::new(3, 12, 11);
        let op = tiny.hvp(&[12]);
        let exact = eigvalsh(&explicit_hessian(&op, &tiny.params));
        let cfg =
            PowerIteration { max_iter: 20_000, tol: 1e-14, seed: 1, streams: Vec::new(), norm_eps: 1e-6 };
        let got = top_eigenvalues(&op, &tiny.params, 1, &cfg);
        for (k, exact) in exact.into_iter().enumerate() {
            let want = by_magnitude(exact)[0];
            let rel = (got[k][0] - want) / want; // −2ε/‖v‖ with ‖v‖ ≈ 1
            assert!((rel + 2e-6).abs() < 1e-8, "member {k}: relative bias {rel:e}");
        }
    }

    #[test]
    fn a_multiple_of_the_identity_converges_at_the_second_iteration() {
        let (k, n) = (2, 5);
        let a = Tensor::eye(n, (Kind::Double, Device::Cpu)).unsqueeze(0).repeat([k, 1, 1]) * 3.0;
        let (params, op) = quadratic(&a, &mut ChaCha8Rng::seed_from_u64(0));
        assert_eq!(member_numel(&params), 5);
        let cfg = PowerIteration { norm_eps: 0.0, ..PowerIteration::default() };
        let got = power_iteration(&op, &params, 2, &cfg);
        for m in 0..2 {
            assert_eq!(got.iterations[m], vec![2, 2]);
            for v in &got.values[m] {
                assert!((v - 3.0).abs() < 1e-14);
            }
        }
    }
}
