//! The power-law fit of an eigenvalue spectrum's tail, as WeightWatcher 0.7.7 does it.
//!
//! Clauset, Shalizi & Newman (2009, "Power-law distributions in empirical data", SIAM Review
//! 51(4), eqs. 3.1 and 3.9-3.10): for each candidate `xmin` the continuous maximum-likelihood
//! exponent of the tail `x >= xmin`,
//!
//! ```text
//! alpha = 1 + n / sum_i ln(x_i / xmin)
//! ```
//!
//! and the Kolmogorov-Smirnov distance between the tail's empirical CDF and the fitted one,
//! `F(x) = 1 - (x / xmin)^(1 - alpha)`; the `xmin` with the smallest distance wins.
//!
//! Details follow WeightWatcher's own fitter (`WWFit` in `weightwatcher/WW_powerlaw.py`, its
//! default `pl_package="ww"`, which replicates the `powerlaw` package's continuous `Fit`):
//! - candidates are every sorted value but the largest (`data[:-1]`);
//! - the empirical CDF at the k-th tail point (0-based, ascending) is `k / n`, the lower step,
//!   as `powerlaw`'s `cdf` gives for distinct values; D is `max_k |F(x_k) - k / n|`;
//! - a candidate with `alpha <= 1` gets D = 1 (it cannot be a normalisable power law);
//! - ties in D go to the smallest `xmin` (numpy's `argmin`);
//! - fewer than [`SMALL_N_CUTOFF`] values (0.7.7's small-N rule): only candidates with at least
//!   8 tail points count, alpha takes the bias-corrected `1 + (n - 1) / sum ln(x_i / xmin)`,
//!   and if no candidate qualifies the whole set is the tail. (0.7.7 also computes an objective
//!   `D - 0.868 / sqrt(n)` there, but `WWFit.__init__` then re-picks by the smallest D, which is
//!   what its results show; we follow the results.)
//!
//! Not followed: `fix_fingers` (off by default), `xmax` (default `None`: no upper cut-off) and
//! the truncated power law (`fit="TPL"`).

/// Eigenvalues at or below this are dropped before the fit (WeightWatcher `EVALS_THRESH`, its
/// CPU value; with CUDA, WeightWatcher rounds weights to f16 and uses 1e-4).
pub const EVALS_THRESH: f64 = 1e-5;

/// Below this many values WeightWatcher 0.7.7 switches to its small-N rule.
pub const SMALL_N_CUTOFF: usize = 20;

/// The small-N rule's least tail size (`k_min` in `fit_powerlaw_smallN`).
const SMALL_N_MIN_TAIL: usize = 8;

/// A fitted power-law tail.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PowerLawFit {
    /// The exponent of the density `p(x) ~ x^-alpha` on `x >= xmin`.
    pub alpha: f64,
    /// The tail's lower bound, one of the eigenvalues.
    pub xmin: f64,
    /// The Kolmogorov-Smirnov distance between the tail and the fit.
    #[serde(rename = "D")]
    pub d: f64,
    /// The standard error `(alpha - 1) / sqrt(n_tail)` (CSN eq. 3.2).
    pub sigma: f64,
    /// How many eigenvalues are `>= xmin` (WeightWatcher's `num_pl_spikes`).
    pub num_pl_spikes: usize,
}

/// Fits a power law to the tail of `evals` (any order). `None` when fewer than two values are
/// above [`EVALS_THRESH`] (WeightWatcher marks such a layer `failed`).
#[must_use]
pub fn fit_power_law(evals: &[f64]) -> Option<PowerLawFit> {
    let mut data: Vec<f64> = evals.iter().copied().filter(|&x| x > EVALS_THRESH).collect();
    data.sort_by(f64::total_cmp);
    if data.len() < 2 {
        return None;
    }
    let ln: Vec<f64> = data.iter().map(|x| x.ln()).collect();
    // suffix[i] = sum of ln(data[i..]); the candidates' sums in one pass.
    let mut suffix = vec![0.0; data.len() + 1];
    for i in (0..data.len()).rev() {
        suffix[i] = suffix[i + 1] + ln[i];
    }
    let small = data.len() < SMALL_N_CUTOFF;
    let mut best: Option<(usize, f64, f64)> = None; // (i, alpha, D)
    for i in 0..data.len() - 1 {
        let n = data.len() - i;
        if small && n < SMALL_N_MIN_TAIL {
            continue;
        }
        let s = suffix[i] - n as f64 * ln[i];
        let Some((alpha, d)) = candidate(&data[i..], s, small) else { continue };
        if best.is_none_or(|(_, _, d_best)| d < d_best) {
            best = Some((i, alpha, d));
        }
    }
    if small && best.is_none() {
        // 0.7.7's fallback: the whole set as the tail, whatever its alpha.
        let n = data.len() as f64;
        let s = suffix[0] - n * ln[0];
        if s <= 1e-12 {
            return None;
        }
        let alpha = 1.0 + (n - 1.0) / s;
        best = Some((0, alpha, ks_distance(&data, alpha)));
    }
    let (i, alpha, d) = best?;
    Some(finish(&data, evals, i, alpha, d))
}

/// One candidate's alpha and D; `None` when the small-N rule skips it. `tail` is sorted and
/// starts at the candidate `xmin`; `s = sum ln(tail / xmin)`.
fn candidate(tail: &[f64], s: f64, small: bool) -> Option<(f64, f64)> {
    let n = tail.len() as f64;
    if small {
        if s <= 1e-12 {
            return None;
        }
        let alpha = 1.0 + (n - 1.0) / s;
        return (alpha > 1.0).then(|| (alpha, ks_distance(tail, alpha)));
    }
    let alpha = 1.0 + n / s;
    let d = if alpha > 1.0 { ks_distance(tail, alpha) } else { 1.0 };
    Some((alpha, d))
}

fn finish(data: &[f64], evals: &[f64], i: usize, alpha: f64, d: f64) -> PowerLawFit {
    let xmin = data[i];
    let n_tail = data.len() - i;
    PowerLawFit {
        alpha,
        xmin,
        d,
        sigma: (alpha - 1.0) / (n_tail as f64).sqrt(),
        num_pl_spikes: evals.iter().filter(|&&x| x >= xmin).count(),
    }
}

/// The Kolmogorov-Smirnov distance of a sorted tail (its first value is `xmin`) from the
/// power law with exponent `alpha` on `[xmin, inf)`: `max_k |1 - (x_k/xmin)^(1-alpha) - k/n|`.
#[must_use]
pub fn ks_distance(tail: &[f64], alpha: f64) -> f64 {
    let xmin = tail[0];
    let n = tail.len() as f64;
    tail.iter()
        .enumerate()
        .map(|(k, &x)| (1.0 - (x / xmin).powf(1.0 - alpha) - k as f64 / n).abs())
        .fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// `n` draws of a continuous power law with exponent `alpha` on `[xmin, inf)` (inverse CDF).
    fn pareto(rng: &mut impl Rng, n: usize, alpha: f64, xmin: f64) -> Vec<f64> {
        (0..n).map(|_| xmin * (1.0 - rng.gen::<f64>()).powf(-1.0 / (alpha - 1.0))).collect()
    }

    /// The fit written the slow, obvious way: for every candidate, the tail by filtering, the
    /// sum of logs by a loop, the empirical CDF by counting values strictly below each point.
    fn brute_force(evals: &[f64]) -> (f64, f64, f64) {
        let mut data: Vec<f64> = evals.iter().copied().filter(|&x| x > EVALS_THRESH).collect();
        data.sort_by(f64::total_cmp);
        let mut best = (f64::NAN, f64::NAN, f64::INFINITY);
        for &xmin in &data[..data.len() - 1] {
            let tail: Vec<f64> = data.iter().copied().filter(|&x| x >= xmin).collect();
            let n = tail.len() as f64;
            let alpha = 1.0 + n / tail.iter().map(|x| (x / xmin).ln()).sum::<f64>();
            let mut d: f64 = 0.0;
            for &x in &tail {
                let below = tail.iter().filter(|&&y| y < x).count() as f64;
                let fitted = 1.0 - (x / xmin).powf(1.0 - alpha);
                d = d.max((fitted - below / n).abs());
            }
            if alpha <= 1.0 {
                d = 1.0;
            }
            if d < best.2 {
                best = (alpha, xmin, d);
            }
        }
        best
    }

    #[test]
    fn recovers_the_exponent_of_pareto_samples() {
        // 5000 draws: CSN's standard error (alpha - 1) / sqrt(n) is 0.021 at alpha = 2.5, and the
        // xmin search (which may cut the tail) widens it; 0.1 is about 4 standard errors.
        for (seed, alpha) in [(1, 2.0), (2, 2.5), (3, 4.0)] {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let fit = fit_power_law(&pareto(&mut rng, 5000, alpha, 0.5)).unwrap();
            assert!((fit.alpha - alpha).abs() < 0.1 * (alpha - 1.0), "alpha {alpha}: fit {fit:?}");
            assert!(fit.d < 0.05, "{fit:?}");
        }
    }

    #[test]
    fn xmin_lands_where_a_uniform_bulk_meets_a_power_law_tail() {
        // 2000 values uniform on [0.01, 1) below 1000 Pareto(alpha = 3) values above 1: the
        // bulk is far from a power law, so the fit must start the tail near 1.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut evals: Vec<f64> = (0..2000).map(|_| rng.gen_range(0.01..1.0)).collect();
        evals.extend(pareto(&mut rng, 1000, 3.0, 1.0));
        let fit = fit_power_law(&evals).unwrap();
        assert!((0.9..1.3).contains(&fit.xmin), "{fit:?}");
        assert!((fit.alpha - 3.0).abs() < 0.25, "{fit:?}");
        assert!((900..=1200).contains(&fit.num_pl_spikes), "{fit:?}");
    }

    #[test]
    fn ks_distance_and_xmin_match_a_brute_force_search() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        for trial in 0..5 {
            let mut evals: Vec<f64> = (0..150).map(|_| rng.gen_range(0.0..2.0)).collect();
            evals.extend(pareto(&mut rng, 80, 2.0 + f64::from(trial) * 0.5, 2.0));
            let fit = fit_power_law(&evals).unwrap();
            let (alpha, xmin, d) = brute_force(&evals);
            assert_eq!(fit.xmin, xmin, "trial {trial}");
            assert!((fit.alpha - alpha).abs() < 1e-9 * alpha, "trial {trial}: {} vs {alpha}", fit.alpha);
            assert!((fit.d - d).abs() < 1e-12, "trial {trial}: {} vs {d}", fit.d);
        }
    }

    #[test]
    fn ks_distance_of_a_sample_at_the_fitted_quantiles_is_zero() {
        // x_k at the fitted CDF's quantile k/n: F(x_k) - k/n = 0 for every k but rounding.
        let (alpha, n) = (3.0, 50);
        let tail: Vec<f64> = (0..n).map(|k| (1.0 - k as f64 / n as f64).powf(-1.0 / (alpha - 1.0))).collect();
        assert!(ks_distance(&tail, alpha) < 1e-12);
    }

    #[test]
    fn small_spectra_use_the_bias_corrected_exponent_and_eight_point_tails() {
        let evals: Vec<f64> = (1..=12).map(|k| f64::from(k).powi(2)).collect();
        let fit = fit_power_law(&evals).unwrap();
        assert!(fit.num_pl_spikes >= SMALL_N_MIN_TAIL, "{fit:?}");
        let tail: Vec<f64> = evals.iter().copied().filter(|&x| x >= fit.xmin).collect();
        let n = tail.len() as f64;
        let s: f64 = tail.iter().map(|x| (x / fit.xmin).ln()).sum();
        assert!((fit.alpha - (1.0 + (n - 1.0) / s)).abs() < 1e-12, "{fit:?}");
    }

    #[test]
    fn near_zero_eigenvalues_are_dropped_and_tiny_spectra_fail() {
        assert_eq!(fit_power_law(&[0.0, 1e-6, 3.0]), None);
        let with_zeros = fit_power_law(&[0.0, 0.0, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0, 34.0]);
        let without = fit_power_law(&[1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0, 34.0]);
        assert_eq!(with_zeros.map(|f| f.alpha), without.map(|f| f.alpha));
    }
}
