//! Hessian spectral density by stochastic Lanczos quadrature (Ubaru, Chen & Saad 2017, "Fast
//! estimation of tr(f(A)) via stochastic Lanczos quadrature"; Ghorbani, Krishnan & Xiao 2019;
//! PyHessian's `density`, Yao et al. 2020). PTMZ does not use it (SPEC §3.1, "Not used").
//!
//! For each probe p (a normalised Rademacher vector v = z/√n) m Lanczos steps give T_p with
//! eigenpairs (θ_i, u_i). Gauss quadrature (Golub & Welsch 1969) gives
//! vᵀ f(H) v ≈ Σ_i τ_i f(θ_i) with τ_i = u_{1i}², exact for polynomials f of degree ≤ 2m − 1.
//! Since E[zᵀ f(H) z] = tr f(H), the density
//! φ(λ) = (1/P) Σ_p Σ_i τ_{p,i} δ(λ − θ_{p,i})
//! is an unbiased estimate of the normalised spectral density (1/n) Σ_j δ(λ − λ_j) for such f;
//! its weights sum to 1 and its moments Σ w θ^k estimate tr(H^k)/n.

use tch::Tensor;

use crate::hvp::HvpOperator;
use crate::lanczos::lanczos_with;
use crate::probe::MemberStreams;

/// Settings of SLQ. Defaults are PyHessian's `density(iter=100, n_v=1)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slq {
    /// Number of Rademacher probes P (PyHessian `n_v`: 1).
    pub probes: usize,
    /// Lanczos steps m per probe (PyHessian `iter`: 100), capped at the parameter count.
    pub steps: usize,
    /// Seed of the probes (each member draws all its probes in turn from its stream).
    pub seed: u64,
    /// ChaCha8 stream of each member (e.g. [`crate::model_stream`]); empty: member k uses
    /// stream k.
    pub streams: Vec<u64>,
}

impl Default for Slq {
    fn default() -> Self {
        Self { probes: 1, steps: 100, seed: 0, streams: Vec::new() }
    }
}

/// A discrete spectral density: point masses `weights[i]` at `nodes[i]` (all probes' Ritz
/// values, each probe's weights divided by the number of probes, so Σ weights = 1).
#[derive(Debug, Clone, PartialEq)]
pub struct SpectralDensity {
    /// Ritz values θ_{p,i}, probe after probe, ascending within a probe.
    pub nodes: Vec<f64>,
    /// τ_{p,i} / P.
    pub weights: Vec<f64>,
}

impl SpectralDensity {
    /// The k-th moment Σ_i w_i θ_i^k, an estimate of tr(H^k)/n (exact per probe for
    /// k ≤ 2m − 1; k = 0 gives Σ w = 1).
    #[must_use]
    pub fn moment(&self, k: i32) -> f64 {
        self.nodes.iter().zip(&self.weights).map(|(t, w)| w * t.powi(k)).sum()
    }

    /// The density convolved with a Gaussian of standard deviation `sigma`, evaluated on `grid`:
    /// ρ(x) = Σ_i w_i exp(−(x − θ_i)² / 2σ²) / (σ √(2π)). It integrates to 1 over the real
    /// line. PyHessian's `get_esd` uses σ² = 1e-5 on a grid padded by 1 around [θ_min, θ_max]
    /// and renormalises the result to sum to 1 over its grid; do that on the result if needed.
    #[must_use]
    pub fn smoothed(&self, grid: &[f64], sigma: f64) -> Vec<f64> {
        let norm = 1.0 / (sigma * (2.0 * std::f64::consts::PI).sqrt());
        grid.iter()
            .map(|x| {
                self.nodes
                    .iter()
                    .zip(&self.weights)
                    .map(|(t, w)| w * (-(x - t).powi(2) / (2.0 * sigma * sigma)).exp())
                    .sum::<f64>()
                    * norm
            })
            .collect()
    }
}

/// Per member, the SLQ spectral density of H from `cfg.probes` probes of `cfg.steps` Lanczos
/// steps each (module doc). `params` gives the shapes, kind and device of the probes.
#[must_use]
pub fn slq_density(op: &impl HvpOperator, params: &[Tensor], cfg: &Slq) -> Vec<SpectralDensity> {
    let k = op.members();
    let mut streams = MemberStreams::for_members(cfg.seed, &cfg.streams, k);
    let mut out = vec![SpectralDensity { nodes: Vec::new(), weights: Vec::new() }; k];
    #[allow(clippy::cast_precision_loss)]
    let per_probe = 1.0 / cfg.probes as f64;
    for _ in 0..cfg.probes {
        for (density, t) in out.iter_mut().zip(lanczos_with(op, params, cfg.steps, &mut streams)) {
            let (nodes, weights) = t.ritz();
            density.nodes.extend(nodes);
            density.weights.extend(weights.iter().map(|w| w * per_probe));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{explicit_hessian, rows, Tiny};
    use crate::vector::{flatten_members, member_numel};

    #[test]
    fn each_probes_quadrature_reproduces_its_quadratic_forms_of_powers_of_h() {
        // One probe, m = 5 steps: Σ τ θ^k = vᵀH^k v exactly for k ≤ 2m − 1 = 9.
        let tiny = Tiny::new(3, 12, 31);
        let op = tiny.hvp(&[12]);
        let h = explicit_hessian(&op, &tiny.params);
        let dens = slq_density(&op, &tiny.params, &Slq { probes: 1, steps: 5, seed: 2, streams: Vec::new() });
        let z = flatten_members(&MemberStreams::new(2, 3).rademacher(&tiny.params));
        #[allow(clippy::cast_precision_loss)]
        let n = member_numel(&tiny.params) as f64;
        for (k, d) in dens.iter().enumerate() {
            assert!((d.moment(0) - 1.0).abs() < 1e-13);
            let mut hkz = z.get(k as i64).unsqueeze(1); // H^p z
            for p in 1..=9 {
                hkz = h.get(k as i64).matmul(&hkz);
                let exact = f64::try_from(z.get(k as i64).dot(&hkz.squeeze_dim(1))).unwrap() / n;
                let got = d.moment(p);
                assert!((got - exact).abs() < 1e-9 * exact.abs(), "member {k} p={p}: {got} vs {exact}");
            }
        }
    }

    #[test]
    fn weights_sum_to_one_and_moments_estimate_normalised_traces_of_powers() {
        let tiny = Tiny::new(3, 12, 32);
        let op = tiny.hvp(&[12]);
        let h = explicit_hessian(&op, &tiny.params);
        let n_usize = member_numel(&tiny.params);
        #[allow(clippy::cast_precision_loss)]
        let n = n_usize as f64;
        let probes = 200;
        // Full steps: every probe's moments are exact quadratic forms zᵀH^p z / n; the average
        // over P Rademacher probes is then tr(H^p)/n up to the Hutchinson error, whose variance
        // is 2 Σ_{i≠j} (H^p)_ij² / (n² P). Tolerance: 4 of those standard errors.
        let dens =
            slq_density(&op, &tiny.params, &Slq { probes, steps: n_usize, seed: 7, streams: Vec::new() });
        for (k, d) in dens.iter().enumerate() {
            assert_eq!(d.nodes.len(), probes * n_usize);
            assert!((d.weights.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            let hk = h.get(k as i64);
            for p in 1..=2 {
                let hp = if p == 1 { hk.shallow_clone() } else { hk.matmul(&hk) };
                let exact = f64::try_from(hp.trace()).unwrap() / n;
                let m = rows(&hp.unsqueeze(0), 0);
                let off: f64 = (0..m.len())
                    .flat_map(|i| (0..m.len()).map(move |j| (i, j)))
                    .filter(|(i, j)| i != j)
                    .map(|(i, j)| m[i][j].powi(2))
                    .sum();
                #[allow(clippy::cast_precision_loss)]
                let se = (2.0 * off / probes as f64).sqrt() / n;
                let got = d.moment(p);
                assert!((got - exact).abs() < 4.0 * se, "member {k} p={p}: {got} vs {exact} (se {se:e})");
            }
        }
    }

    #[test]
    fn the_smoothed_density_integrates_to_one_and_keeps_the_mean() {
        let d = SpectralDensity { nodes: vec![-1.0, 0.5, 3.0], weights: vec![0.2, 0.5, 0.3] };
        let grid: Vec<f64> = (0..=8000).map(|i| -5.0 + f64::from(i) * 0.001 * 1.5).collect();
        let rho = d.smoothed(&grid, 0.1);
        let dx = 0.0015;
        let mass: f64 = rho.iter().sum::<f64>() * dx;
        let mean: f64 = rho.iter().zip(&grid).map(|(r, x)| r * x).sum::<f64>() * dx;
        assert!((mass - 1.0).abs() < 1e-9, "{mass}");
        assert!((mean - d.moment(1)).abs() < 1e-9, "{mean}");
    }
}
