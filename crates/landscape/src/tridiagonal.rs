//! Symmetric tridiagonal matrices from Lanczos, and their eigen-decomposition in f64.
//!
//! The solver is the implicit QL algorithm with Wilkinson shifts (Bowdler, Martin, Reinsch &
//! Wilkinson 1968, "The QR and QL algorithms for symmetric matrices"; `tqli` in Numerical
//! Recipes §11.3). Only the **first row** of the eigenvector matrix Z is carried: the Givens
//! rotations act as Z ← Z G on columns, so every row of Z updates independently, and Gauss
//! quadrature needs only z_{1i} (Golub & Welsch 1969): the weights of stochastic Lanczos
//! quadrature are z_{1i}².

/// T = tridiag(β, α, β): diagonal `alpha` (length m) and off-diagonal `beta` (length m − 1).
#[derive(Debug, Clone, PartialEq)]
pub struct Tridiagonal {
    /// Diagonal α_1 … α_m (Lanczos: α_j = v_jᵀ H v_j).
    pub alpha: Vec<f64>,
    /// Off-diagonal β_1 … β_{m−1} (Lanczos: β_j = ‖w_j‖; 0 where the iteration restarted).
    pub beta: Vec<f64>,
}

/// Sweeps allowed per eigenvalue before the QL iteration gives up on deflating it (it
/// converges cubically; LAPACK's `dsteqr` allows 30 per eigenvalue).
const MAX_SWEEPS: usize = 60;

impl Tridiagonal {
    /// Size m of the matrix.
    #[must_use]
    pub fn len(&self) -> usize {
        self.alpha.len()
    }

    /// Whether m = 0.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.alpha.is_empty()
    }

    /// Eigenvalues θ_1 ≤ … ≤ θ_m.
    #[must_use]
    pub fn eigenvalues(&self) -> Vec<f64> {
        self.ritz().0
    }

    /// Ritz pairs for quadrature: eigenvalues θ_i ascending and τ_i = z_{1i}², the squared
    /// first components of the unit eigenvectors (Σ τ_i = 1, and Σ τ_i θ_i^p = (T^p)_{11}).
    #[must_use]
    pub fn ritz(&self) -> (Vec<f64>, Vec<f64>) {
        let m = self.len();
        assert_eq!(self.beta.len(), m.saturating_sub(1), "beta must have length alpha.len() − 1");
        let mut d = self.alpha.clone();
        let mut e = self.beta.clone();
        e.push(0.0); // e[i] couples i and i+1; e[m−1] is scratch
        let mut z = vec![0.0; m];
        if m > 0 {
            z[0] = 1.0;
        }
        implicit_ql(&mut d, &mut e, &mut z);
        let mut order: Vec<usize> = (0..m).collect();
        order.sort_by(|&a, &b| d[a].total_cmp(&d[b]));
        (order.iter().map(|&i| d[i]).collect(), order.iter().map(|&i| z[i] * z[i]).collect())
    }
}

/// In place: `d` becomes the eigenvalues, `z` (first row of Z, starting as e₁ᵀ) the first
/// components of the matching eigenvectors. `e[i]` is the (i, i+1) entry; `e` is destroyed.
fn implicit_ql(d: &mut [f64], e: &mut [f64], z: &mut [f64]) {
    let n = d.len();
    for l in 0..n {
        let mut sweeps = 0;
        loop {
            // Find a negligible off-diagonal element e[m] to split the matrix at.
            let mut m = l;
            while m + 1 < n {
                let dd = d[m].abs() + d[m + 1].abs();
                if e[m].abs() <= f64::EPSILON * dd {
                    break;
                }
                m += 1;
            }
            if m == l {
                break;
            }
            sweeps += 1;
            if sweeps > MAX_SWEEPS {
                tracing::warn!(l, "implicit QL did not converge; keeping the current diagonal");
                break;
            }
            // Wilkinson shift from the leading 2×2 block.
            let mut g = (d[l + 1] - d[l]) / (2.0 * e[l]);
            let mut r = g.hypot(1.0);
            g = d[m] - d[l] + e[l] / (g + r.copysign(g));
            let (mut s, mut c, mut p) = (1.0, 1.0, 0.0);
            let mut underflow = false;
            for i in (l..m).rev() {
                let f = s * e[i];
                let b = c * e[i];
                r = f.hypot(g);
                e[i + 1] = r;
                if r == 0.0 {
                    // Recover from underflow: split here and sweep again.
                    d[i + 1] -= p;
                    e[m] = 0.0;
                    underflow = true;
                    break;
                }
                s = f / r;
                c = g / r;
                g = d[i + 1] - p;
                r = (d[i] - g) * s + 2.0 * c * b;
                p = s * r;
                d[i + 1] = g + p;
                g = c * r - b;
                let zf = z[i + 1];
                z[i + 1] = s * z[i] + c * zf;
                z[i] = c * z[i] - s * zf;
            }
            if underflow {
                continue;
            }
            d[l] -= p;
            e[l] = g;
            e[m] = 0.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use tch::{Kind, Tensor};

    fn dense(t: &Tridiagonal) -> Tensor {
        let m = t.len() as i64;
        let a = Tensor::from_slice(&t.alpha).diag_embed(0, 0, 1);
        if m < 2 {
            return a;
        }
        let b = Tensor::from_slice(&t.beta);
        a + b.diag_embed(1, 0, 1) + b.diag_embed(-1, 0, 1)
    }

    fn random(m: usize, seed: u64) -> Tridiagonal {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Tridiagonal {
            alpha: (0..m).map(|_| rng.gen_range(-3.0..3.0)).collect(),
            beta: (1..m).map(|_| rng.gen_range(-2.0..2.0)).collect(),
        }
    }

    #[test]
    fn eigenvalues_and_first_components_match_lapack() {
        for (m, seed) in [(1, 0), (2, 1), (7, 2), (40, 3)] {
            let t = random(m, seed);
            let (values, weights) = t.ritz();
            let (lv, lz) = dense(&t).linalg_eigh("L");
            let lv = Vec::<f64>::try_from(lv).unwrap();
            let lw = Vec::<f64>::try_from(lz.get(0).square()).unwrap();
            for i in 0..m {
                assert!((values[i] - lv[i]).abs() < 1e-12 * (1.0 + lv[i].abs()), "m={m} λ{i}");
                assert!((weights[i] - lw[i]).abs() < 1e-10, "m={m} τ{i}: {} vs {}", weights[i], lw[i]);
            }
            assert!((weights.iter().sum::<f64>() - 1.0).abs() < 1e-13);
        }
    }

    #[test]
    fn quadrature_reproduces_powers_of_t() {
        let t = random(12, 9);
        let (values, weights) = t.ritz();
        let d = dense(&t);
        let mut power = Tensor::eye(12, (Kind::Double, tch::Device::Cpu));
        for p in 1..=6 {
            power = power.matmul(&d);
            let exact = f64::try_from(power.get(0).get(0)).unwrap();
            let quad: f64 = values.iter().zip(&weights).map(|(v, w)| w * v.powi(p)).sum();
            assert!((quad - exact).abs() < 1e-11 * exact.abs().max(1.0), "p={p}: {quad} vs {exact}");
        }
    }

    #[test]
    fn a_zero_off_diagonal_splits_the_matrix() {
        let t = Tridiagonal { alpha: vec![1.0, 5.0, 2.0], beta: vec![0.0, 0.0] };
        let (values, weights) = t.ritz();
        assert_eq!(values, vec![1.0, 2.0, 5.0]);
        assert_eq!(weights, vec![1.0, 0.0, 0.0]);
    }
}
