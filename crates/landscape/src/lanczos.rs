//! The Lanczos process with full reorthogonalisation, for K members at once (Lanczos 1950;
//! Golub & Van Loan, "Matrix Computations", §10.1; PyHessian's `density` loop, Yao et al. 2020).
//!
//! Per member, from a unit start v₁ (normalised Rademacher, as PyHessian's `density`):
//! α_j = v_jᵀ H v_j,  w_j = H v_j − α_j v_j − β_{j−1} v_{j−1},
//! w_j ← w_j − Σ_{i ≤ j} (w_jᵀ v_i) v_i (twice: "twice is enough", Parlett 1980 / Giraud et al.
//! 2005), β_j = ‖w_j‖, v_{j+1} = w_j / β_j. Then T = tridiag(β, α, β) satisfies
//! V_mᵀ H V_m = T_m with V_m orthonormal, so T's eigenvalues (Ritz values) approximate H's,
//! extreme ones first, and with m = n steps they are H's eigenvalues exactly.
//!
//! Breakdown: when β_j ≤ 1e-10 · max_i ‖H v_i‖ the Krylov space is invariant; like PyHessian
//! (which tests β = 0), the member records β_j = 0 and restarts from a Gaussian vector
//! orthonormalised against all previous v_i, so T splits into blocks whose eigenvalues are
//! still eigenvalues of H. Steps are capped at n (no more than n orthonormal vectors exist).
//!
//! Differences from PyHessian: vectors are normalised exactly (PyHessian's +1e-6 in
//! `normalization` perturbs T by ~1e-6 relative); reorthogonalisation is done twice. Memory:
//! all m vectors are kept (m × the parameter size), as in PyHessian.

use tch::Tensor;

use crate::hvp::HvpOperator;
use crate::probe::MemberStreams;
use crate::tridiagonal::Tridiagonal;
use crate::vector::{
    axpy_members, from_f64s, member_dot, member_norm, member_numel, normalize_members, orthogonalize_members,
    scale_members, select_members, shallow, to_f64s,
};

/// Relative size of β below which the Lanczos iteration counts as broken down.
const BREAKDOWN_RTOL: f64 = 1e-10;

/// Per member, the tridiagonal T of `steps` Lanczos steps (fewer if `steps` > n, the number of
/// parameters per member) from a normalised Rademacher start drawn from `seed` (member k:
/// ChaCha8 stream k).
#[must_use]
pub fn lanczos(op: &impl HvpOperator, params: &[Tensor], steps: usize, seed: u64) -> Vec<Tridiagonal> {
    let mut streams = MemberStreams::new(seed, op.members());
    lanczos_with(op, params, steps, &mut streams)
}

/// Per member, the `top_n` Ritz values of largest magnitude after `steps` Lanczos steps,
/// largest |θ| first (the same order as [`crate::top_eigenvalues`]). The extreme Ritz values
/// converge first (Kaniel–Paige–Saad bounds), typically far faster than power iteration.
#[must_use]
pub fn lanczos_top_eigenvalues(
    op: &impl HvpOperator,
    params: &[Tensor],
    top_n: usize,
    steps: usize,
    seed: u64,
) -> Vec<Vec<f64>> {
    lanczos(op, params, steps, seed)
        .iter()
        .map(|t| {
            let mut values = t.eigenvalues();
            values.sort_by(|a, b| b.abs().total_cmp(&a.abs()));
            values.truncate(top_n);
            values
        })
        .collect()
}

/// [`lanczos`] drawing from given streams (SLQ draws several probes from one set of streams).
pub(crate) fn lanczos_with(
    op: &impl HvpOperator,
    params: &[Tensor],
    steps: usize,
    streams: &mut MemberStreams,
) -> Vec<Tridiagonal> {
    let k = op.members();
    let steps = steps.min(member_numel(params));
    let mut alphas = vec![Vec::with_capacity(steps); k];
    let mut betas = vec![Vec::with_capacity(steps); k];
    if steps == 0 {
        return alphas.into_iter().zip(betas).map(|(alpha, beta)| Tridiagonal { alpha, beta }).collect();
    }
    let mut v = normalize_members(&streams.rademacher(params), 0.0);
    let mut basis: Vec<Vec<Tensor>> = vec![shallow(&v)];
    let mut v_prev: Option<Vec<Tensor>> = None;
    let mut beta_prev = vec![0.0; k];
    let mut scale = vec![0.0f64; k];
    for j in 0..steps {
        let hv = op.apply(&v);
        let alpha = to_f64s(&member_dot(&hv, &v));
        for (a, x) in alphas.iter_mut().zip(&alpha) {
            a.push(*x);
        }
        if j + 1 == steps {
            break;
        }
        for (s, x) in scale.iter_mut().zip(to_f64s(&member_norm(&hv))) {
            *s = s.max(x);
        }
        let neg = |x: &[f64]| from_f64s(&x.iter().map(|a| -a).collect::<Vec<_>>(), &params[0]);
        let mut w = axpy_members(&hv, &neg(&alpha), &v);
        if let Some(p) = &v_prev {
            w = axpy_members(&w, &neg(&beta_prev), p);
        }
        w = orthogonalize_members(&orthogonalize_members(&w, &basis), &basis);
        let mut beta = to_f64s(&member_norm(&w));
        let broken: Vec<bool> = beta.iter().zip(&scale).map(|(b, s)| *b <= BREAKDOWN_RTOL * s).collect();
        let inv: Vec<f64> = beta.iter().zip(&broken).map(|(b, &x)| if x { 0.0 } else { 1.0 / b }).collect();
        let mut next = scale_members(&w, &from_f64s(&inv, &params[0]));
        if broken.iter().any(|&b| b) {
            tracing::debug!(step = j, ?broken, "Lanczos breakdown: restarting those members");
            let fresh = streams.gaussian_masked(params, &broken);
            let fresh = orthogonalize_members(&orthogonalize_members(&fresh, &basis), &basis);
            let norms = to_f64s(&member_norm(&fresh));
            let inv: Vec<f64> =
                norms.iter().zip(&broken).map(|(n, &x)| if x { 1.0 / n } else { 0.0 }).collect();
            next = select_members(&broken, &scale_members(&fresh, &from_f64s(&inv, &params[0])), &next);
            for (b, &x) in beta.iter_mut().zip(&broken) {
                if x {
                    *b = 0.0;
                }
            }
        }
        for (bs, x) in betas.iter_mut().zip(&beta) {
            bs.push(*x);
        }
        basis.push(shallow(&next));
        v_prev = Some(std::mem::replace(&mut v, next));
        beta_prev = beta;
    }
    alphas.into_iter().zip(betas).map(|(alpha, beta)| Tridiagonal { alpha, beta }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{eigvalsh, explicit_hessian, quadratic, Tiny};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use tch::{Device, Kind};

    #[test]
    fn full_lanczos_recovers_every_eigenvalue_of_the_explicit_hessian() {
        let tiny = Tiny::new(3, 12, 11);
        let op = tiny.hvp(&[12]);
        let exact = eigvalsh(&explicit_hessian(&op, &tiny.params));
        let n = member_numel(&tiny.params);
        let tri = lanczos(&op, &tiny.params, n + 10, 3); // capped at n
        for (k, (t, exact)) in tri.iter().zip(&exact).enumerate() {
            assert_eq!(t.len(), n);
            let scale = exact.iter().fold(0.0f64, |a, b| a.max(b.abs()));
            for (a, b) in t.eigenvalues().iter().zip(exact) {
                assert!((a - b).abs() < 1e-9 * scale, "member {k}: {a} vs {b}");
            }
        }
        let top = lanczos_top_eigenvalues(&op, &tiny.params, 3, n, 3);
        for (k, exact) in exact.into_iter().enumerate() {
            let mut want = exact;
            want.sort_by(|a, b| b.abs().total_cmp(&a.abs()));
            for i in 0..3 {
                let rel = (top[k][i] - want[i]).abs() / want[i].abs();
                assert!(rel < 1e-8, "member {k} λ{i}: {} vs {} ({rel:e})", top[k][i], want[i]);
            }
        }
    }

    #[test]
    fn ritz_values_of_a_short_run_lie_inside_the_spectrum() {
        let tiny = Tiny::new(3, 12, 12);
        let op = tiny.hvp(&[12]);
        let exact = eigvalsh(&explicit_hessian(&op, &tiny.params));
        for (t, exact) in lanczos(&op, &tiny.params, 8, 5).iter().zip(&exact) {
            let ritz = t.eigenvalues();
            assert_eq!(ritz.len(), 8);
            // Cauchy interlacing: λ_min ≤ θ_1 and θ_m ≤ λ_max.
            assert!(ritz[0] >= exact[0] - 1e-12 && ritz[7] <= exact[exact.len() - 1] + 1e-12);
        }
    }

    #[test]
    fn a_breakdown_restarts_and_still_recovers_every_eigenvalue() {
        // Two distinct eigenvalues: the Krylov space of any start has dimension 2.
        let diag = Tensor::from_slice(&[2.0, 2.0, 2.0, -1.0, -1.0, -1.0]);
        let a = diag.diag_embed(0, 0, 1).unsqueeze(0).repeat([2, 1, 1]).to_kind(Kind::Double);
        let (params, op) = quadratic(&a.to_device(Device::Cpu), &mut ChaCha8Rng::seed_from_u64(2));
        for t in lanczos(&op, &params, 6, 8) {
            assert_eq!(t.beta[1], 0.0, "breakdown after two steps: {:?}", t.beta);
            let values = t.eigenvalues();
            for (v, want) in values.iter().zip([-1.0, -1.0, -1.0, 2.0, 2.0, 2.0]) {
                assert!((v - want).abs() < 1e-12, "{values:?}");
            }
        }
    }
}
