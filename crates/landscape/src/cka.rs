//! Centered kernel alignment (Kornblith, Norouzi, Lee & Hinton 2019, "Similarity of Neural
//! Network Representations Revisited", ICML; their reference notebook `demo.ipynb` in
//! google-research/representation_similarity; SPEC §3.2 and §7), computed in float64.
//!
//! For representations X `[n, p]` and Y `[n, q]` of the same n examples (rows), with Gram
//! matrices K and L and the centring matrix C = I − 11ᵀ/n:
//! * biased HSIC(K, L) = tr(K C L C) / (n − 1)² (Gretton et al. 2005);
//! * unbiased HSIC (Song et al. 2012), via Kornblith's `center_gram(unbiased=True)`: zero the
//!   diagonal, subtract the row/column means computed with the n − 2 and 2(n − 1) corrections,
//!   zero the diagonal again; then ⟨K̃, L̃⟩_F is proportional to the unbiased estimator;
//! * CKA(K, L) = HSIC(K, L) / √(HSIC(K, K) HSIC(L, L)) = ⟨K_c, L_c⟩_F / (‖K_c‖_F ‖L_c‖_F).
//!
//! Linear CKA is invariant to orthogonal transforms and isotropic scaling of the features, not
//! to general invertible linear maps. The biased estimator is positive even for independent
//! features (about √(pq)/n for independent Gaussian columns); the unbiased one is centred on 0.
//! Inputs of rank > 2 are flattened to `[n, −1]` (PTMZ's `flattenHW`). Constant inputs make
//! the normalisation 0 and the result NaN.

use tch::{Kind, Tensor};

/// Which HSIC estimator CKA uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hsic {
    /// tr(KCLC)/(n−1)² (Gretton et al. 2005); Kornblith's `debiased=False`; used by PTMZ and Yang et al.
    Biased,
    /// Song et al. 2012's unbiased estimator; Kornblith's `debiased=True` (needs n ≥ 4).
    Unbiased,
}

/// `[n, f]` in float64.
fn features(x: &Tensor) -> Tensor {
    let n = x.size()[0];
    x.to_kind(Kind::Double).reshape([n, -1])
}

/// Linear-kernel Gram matrix K = X Xᵀ (`gram_linear`), `[n, n]` float64.
pub fn gram_linear(x: &Tensor) -> Tensor {
    let x = features(x);
    x.matmul(&x.tr())
}

/// RBF-kernel Gram matrix (`gram_rbf`): K_ij = exp(−d_ij² / (2 · threshold² · median(d²))),
/// with the median over all n² squared distances including the zero diagonal, averaging the
/// two middle values when n² is even (numpy's `median`). So the bandwidth is σ = threshold ×
/// the median distance ("fraction of the median Euclidean distance"; Kornblith's default 1.0).
pub fn gram_rbf(x: &Tensor, threshold: f64) -> Tensor {
    let x = features(x);
    let dots = x.matmul(&x.tr());
    let sq_norms = dots.diagonal(0, 0, 1);
    let sq_dist = dots * -2.0 + sq_norms.unsqueeze(1) + sq_norms.unsqueeze(0);
    let mut all = Vec::<f64>::try_from(sq_dist.reshape([-1]).to_device(tch::Device::Cpu)).expect("float64");
    all.sort_by(f64::total_cmp);
    let mid = all.len() / 2;
    let median = if all.len() % 2 == 0 { 0.5 * (all[mid - 1] + all[mid]) } else { all[mid] };
    (sq_dist / (-2.0 * threshold * threshold * median)).exp()
}

/// Centre a symmetric Gram matrix (`center_gram`): biased, K C with C on both sides; unbiased,
/// Song et al.'s U-statistic centring with a zero diagonal.
pub fn center_gram(gram: &Tensor, hsic: Hsic) -> Tensor {
    let gram = gram.to_kind(Kind::Double);
    #[allow(clippy::cast_precision_loss)]
    let n = gram.size()[0] as f64;
    match hsic {
        Hsic::Biased => {
            let means = gram.mean_dim(0, false, Kind::Double);
            let means = &means - means.mean(Kind::Double) / 2.0;
            gram - means.unsqueeze(1) - means.unsqueeze(0)
        }
        Hsic::Unbiased => {
            let eye = Tensor::eye(gram.size()[0], (Kind::Double, gram.device()));
            let gram: Tensor = &gram * (1.0 - &eye);
            let means = gram.sum_dim_intlist(0, false, Kind::Double) / (n - 2.0);
            let means = &means - means.sum(Kind::Double) / (2.0 * (n - 1.0));
            (gram - means.unsqueeze(1) - means.unsqueeze(0)) * (1.0 - eye)
        }
    }
}

/// CKA of two Gram matrices (`cka`): ⟨K_c, L_c⟩_F / (‖K_c‖_F ‖L_c‖_F) after [`center_gram`].
#[must_use]
pub fn cka_from_grams(gram_x: &Tensor, gram_y: &Tensor, hsic: Hsic) -> f64 {
    let gx = center_gram(gram_x, hsic);
    let gy = center_gram(gram_y, hsic);
    let scaled_hsic = f64::try_from((&gx * &gy).sum(Kind::Double)).expect("scalar");
    let nx = f64::try_from(gx.square().sum(Kind::Double).sqrt()).expect("scalar");
    let ny = f64::try_from(gy.square().sum(Kind::Double).sqrt()).expect("scalar");
    scaled_hsic / (nx * ny)
}

/// Linear CKA in Gram form (Kornblith's `cka(gram_linear(x), gram_linear(y), debiased)`;
/// Yang et al. 2021's metric). `x`: `[n, p]`, `y`: `[n, q]`, rows are the same examples.
#[must_use]
pub fn linear_cka(x: &Tensor, y: &Tensor, hsic: Hsic) -> f64 {
    cka_from_grams(&gram_linear(x), &gram_linear(y), hsic)
}

/// Linear CKA in feature space (`feature_space_linear_cka`, biased; PTMZ's form, SPEC §3.2):
/// centre each column, then ‖XᵀY‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F). Equal to
/// [`linear_cka`] with [`Hsic::Biased`] (Kornblith et al. 2019, eq. 5: ‖YᵀX‖²_F =
/// tr(XXᵀYYᵀ)), but costs O(n p q) instead of O(n²(p + q)).
#[must_use]
pub fn feature_space_linear_cka(x: &Tensor, y: &Tensor) -> f64 {
    let x = features(x);
    let y = features(y);
    let x = &x - x.mean_dim(0, true, Kind::Double);
    let y = &y - y.mean_dim(0, true, Kind::Double);
    let fro = |t: Tensor| f64::try_from(t.square().sum(Kind::Double).sqrt()).expect("scalar");
    let xy = fro(x.tr().matmul(&y));
    xy * xy / (fro(x.tr().matmul(&x)) * fro(y.tr().matmul(&y)))
}

/// RBF CKA (`cka(gram_rbf(x, threshold), gram_rbf(y, threshold), debiased)`), bandwidth
/// σ = threshold × median pairwise distance of each representation (Kornblith default 1.0).
#[must_use]
pub fn rbf_cka(x: &Tensor, y: &Tensor, threshold: f64, hsic: Hsic) -> f64 {
    cka_from_grams(&gram_rbf(x, threshold), &gram_rbf(y, threshold), hsic)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::randn;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn orthogonal(p: i64, rng: &mut ChaCha8Rng) -> Tensor {
        Tensor::linalg_qr(&randn(&[p, p], rng), "reduced").0
    }

    fn to_rows(t: &Tensor) -> Vec<Vec<f64>> {
        (0..t.size()[0]).map(|i| Vec::<f64>::try_from(t.get(i)).unwrap()).collect()
    }

    /// CKA from HSIC written out in loops: biased tr(KCLC)/(n−1)², unbiased Song et al. 2012
    /// eq. 5: [tr(K̃L̃) + 1ᵀK̃1·1ᵀL̃1/((n−1)(n−2)) − 2/(n−2)·1ᵀK̃L̃1] / (n(n−3)).
    fn reference_cka(x: &[Vec<f64>], y: &[Vec<f64>], hsic: Hsic) -> f64 {
        let n = x.len();
        let gram = |a: &[Vec<f64>]| -> Vec<Vec<f64>> {
            (0..n)
                .map(|i| (0..n).map(|j| a[i].iter().zip(&a[j]).map(|(u, v)| u * v).sum()).collect())
                .collect()
        };
        #[allow(clippy::cast_precision_loss)]
        let nf = n as f64;
        let h = |k: &[Vec<f64>], l: &[Vec<f64>]| -> f64 {
            match hsic {
                Hsic::Biased => {
                    let c = |i: usize, j: usize| f64::from(u8::from(i == j)) - 1.0 / nf;
                    let mut kc = vec![vec![0.0; n]; n]; // K C
                    let mut lc = vec![vec![0.0; n]; n]; // L C
                    for i in 0..n {
                        for j in 0..n {
                            kc[i][j] = (0..n).map(|m| k[i][m] * c(m, j)).sum();
                            lc[i][j] = (0..n).map(|m| l[i][m] * c(m, j)).sum();
                        }
                    }
                    (0..n)
                        .flat_map(|i| (0..n).map(move |j| (i, j)))
                        .map(|(i, j)| kc[i][j] * lc[j][i])
                        .sum::<f64>()
                        / (nf - 1.0).powi(2)
                }
                Hsic::Unbiased => {
                    let t = |a: &[Vec<f64>], i: usize, j: usize| if i == j { 0.0 } else { a[i][j] };
                    let (mut tr, mut sk, mut sl, mut kl1) = (0.0, 0.0, 0.0, 0.0);
                    for i in 0..n {
                        for j in 0..n {
                            tr += t(k, i, j) * t(l, j, i);
                            sk += t(k, i, j);
                            sl += t(l, i, j);
                            kl1 += (0..n).map(|m| t(k, i, m) * t(l, m, j)).sum::<f64>();
                        }
                    }
                    (tr + sk * sl / ((nf - 1.0) * (nf - 2.0)) - 2.0 / (nf - 2.0) * kl1) / (nf * (nf - 3.0))
                }
            }
        };
        let (k, l) = (gram(x), gram(y));
        h(&k, &l) / (h(&k, &k) * h(&l, &l)).sqrt()
    }

    #[test]
    fn linear_cka_is_one_under_orthogonal_maps_and_isotropic_scaling() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let x = randn(&[50, 8], &mut rng);
        let y = x.matmul(&orthogonal(8, &mut rng)) * 3.7;
        for hsic in [Hsic::Biased, Hsic::Unbiased] {
            let c = linear_cka(&x, &y, hsic);
            assert!((c - 1.0).abs() < 1e-12, "{hsic:?}: {c}");
        }
        assert!((feature_space_linear_cka(&x, &y) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn linear_cka_equals_a_direct_loop_formula() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let x = randn(&[7, 3], &mut rng);
        let y = randn(&[7, 4], &mut rng) + x.narrow(1, 0, 1) * 0.8;
        for hsic in [Hsic::Biased, Hsic::Unbiased] {
            let got = linear_cka(&x, &y, hsic);
            let want = reference_cka(&to_rows(&x), &to_rows(&y), hsic);
            assert!((got - want).abs() < 1e-12, "{hsic:?}: {got} vs {want}");
        }
    }

    #[test]
    fn independent_features_have_small_cka_and_the_biased_estimate_is_positive() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let x = randn(&[1000, 10], &mut rng);
        let y = randn(&[1000, 10], &mut rng);
        let biased = linear_cka(&x, &y, Hsic::Biased);
        let unbiased = linear_cka(&x, &y, Hsic::Unbiased);
        // Biased ≈ √(pq)/n = 0.01 for independent Gaussian columns; unbiased ≈ 0 ± O(1/n).
        assert!(biased > 0.0 && biased < 0.1, "{biased}");
        assert!(unbiased.abs() < biased, "{unbiased} vs {biased}");
    }

    #[test]
    fn feature_space_linear_cka_equals_the_biased_gram_form() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let x = randn(&[64, 5], &mut rng);
        let y = x.narrow(1, 0, 3).tanh() + randn(&[64, 3], &mut rng) * 0.5;
        let a = feature_space_linear_cka(&x, &y);
        let b = linear_cka(&x, &y, Hsic::Biased);
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }

    #[test]
    fn rbf_cka_is_one_for_identical_inputs_and_invariant_to_orthogonal_maps() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let x = randn(&[40, 6], &mut rng);
        let z = randn(&[40, 4], &mut rng) + x.narrow(1, 0, 4).sin();
        let q = orthogonal(6, &mut rng);
        for hsic in [Hsic::Biased, Hsic::Unbiased] {
            assert!((rbf_cka(&x, &x, 1.0, hsic) - 1.0).abs() < 1e-12);
            assert!((rbf_cka(&x, &x.matmul(&q), 0.5, hsic) - 1.0).abs() < 1e-12);
            let a = rbf_cka(&x, &z, 1.0, hsic);
            let b = rbf_cka(&x.matmul(&q), &z, 1.0, hsic);
            assert!((a - b).abs() < 1e-12, "{hsic:?}: {a} vs {b}");
            assert!(a > 0.0 && a < 1.0);
        }
    }
}
