//! Per-layer and per-model results.

use crate::esd::{layer_eigenvalues, layer_matrices, LayerKind, LayerShape, SpectralConfig};
use crate::fit::{fit_power_law, PowerLawFit};

/// One layer's spectrum and its power-law fit (a row of WeightWatcher's `details`).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LayerAlpha {
    /// The state-dict name less its `.weight` suffix, e.g. `layer1.0.conv1`.
    pub name: String,
    /// Dense or conv.
    pub kind: LayerKind,
    /// The weight tensor's dims as stored.
    pub shape: Vec<usize>,
    /// Each matrix's longer side.
    pub n: usize,
    /// Each matrix's shorter side.
    pub m: usize,
    /// How many eigenvalues the spectrum has (`m * kh * kw`).
    pub num_evals: usize,
    /// The largest eigenvalue (WeightWatcher's `lambda_max`, after its conv scaling).
    pub lambda_max: f64,
    /// The tail's fit; `None` when fewer than two eigenvalues exceed 1e-5 (WeightWatcher:
    /// status `failed`, alpha -1).
    pub fit: Option<PowerLawFit>,
}

impl LayerAlpha {
    /// The power-law exponent, if the fit succeeded.
    #[must_use]
    pub fn alpha(&self) -> Option<f64> {
        self.fit.map(|f| f.alpha)
    }

    /// WeightWatcher's `alpha_weighted = alpha * log10(lambda_max)`.
    #[must_use]
    pub fn alpha_weighted(&self) -> Option<f64> {
        self.fit.map(|f| f.alpha * self.lambda_max.log10())
    }
}

/// A model's means over its fitted layers (WeightWatcher's `get_summary`).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelAlpha {
    /// The mean alpha.
    pub alpha: f64,
    /// The mean `alpha_weighted`.
    pub alpha_weighted: f64,
    /// How many layers the means are over.
    pub num_layers: usize,
}

/// The means over the layers whose fit succeeded; `None` if none did. (WeightWatcher's summary
/// would average a failed layer's alpha of -1 in; we leave such layers out.)
#[must_use]
pub fn model_alpha(layers: &[LayerAlpha]) -> Option<ModelAlpha> {
    let fitted: Vec<(f64, f64)> =
        layers.iter().filter_map(|l| Some((l.alpha()?, l.alpha_weighted()?))).collect();
    if fitted.is_empty() {
        return None;
    }
    let n = fitted.len() as f64;
    Some(ModelAlpha {
        alpha: fitted.iter().map(|f| f.0).sum::<f64>() / n,
        alpha_weighted: fitted.iter().map(|f| f.1).sum::<f64>() / n,
        num_layers: fitted.len(),
    })
}

/// The layer of a weight tensor named `name` (its `.weight` suffix removed) with PyTorch dims
/// `dims` and row-major values `data`; `None` if WeightWatcher would skip it (not 2-D or 4-D,
/// or outside `config`'s sizes). Panics if `data.len()` is not the product of `dims`.
#[must_use]
pub fn tensor_layer_alpha(
    name: &str,
    dims: &[usize],
    data: &[f64],
    config: &SpectralConfig,
) -> Option<LayerAlpha> {
    let shape = LayerShape::of(dims).filter(|s| s.is_supported(config))?;
    let evals = layer_eigenvalues(shape.kind, &layer_matrices(dims, data)?);
    Some(LayerAlpha {
        name: name.to_owned(),
        kind: shape.kind,
        shape: dims.to_vec(),
        n: shape.n,
        m: shape.m,
        num_evals: evals.len(),
        lambda_max: evals.last().copied().unwrap_or(0.0),
        fit: fit_power_law(&evals),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::DMatrix;
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};

    /// A random `n x n` orthogonal matrix: Q of the QR of a Gaussian matrix.
    fn orthogonal(rng: &mut impl rand::Rng, n: usize) -> DMatrix<f64> {
        DMatrix::from_fn(n, n, |_, _| StandardNormal.sample(rng)).qr().q()
    }

    #[test]
    fn a_planted_power_law_spectrum_is_recovered_from_the_weights() {
        // W = U diag(sqrt(lambda)) V^T, lambda ~ Pareto(alpha = 2.5, xmin = 1), 600 x 400.
        let (n, m, alpha) = (600, 400, 2.5);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut lambdas: Vec<f64> =
            (0..m).map(|_| (1.0 - rand::Rng::gen::<f64>(&mut rng)).powf(-1.0 / (alpha - 1.0))).collect();
        let u = orthogonal(&mut rng, n).columns(0, m).into_owned();
        let v = orthogonal(&mut rng, m);
        let s =
            DMatrix::from_diagonal(&nalgebra::DVector::from_iterator(m, lambdas.iter().map(|l| l.sqrt())));
        let w = &u * s * v.transpose(); // [n, m]; stored [out = m, in = n] as nn.Linear would
        let data: Vec<f64> =
            (0..m).flat_map(|o| (0..n).map(move |i| (o, i))).map(|(o, i)| w[(i, o)]).collect();
        let layer = tensor_layer_alpha("fc", &[m, n], &data, &SpectralConfig::default()).unwrap();

        lambdas.sort_by(f64::total_cmp);
        assert_eq!(layer.num_evals, m);
        assert!((layer.lambda_max - lambdas[m - 1]).abs() < 1e-9 * lambdas[m - 1]);
        // The SVD returns the planted spectrum, so the fit equals the fit of the spectrum itself.
        let direct = fit_power_law(&lambdas).unwrap();
        let fit = layer.fit.unwrap();
        assert!((fit.alpha - direct.alpha).abs() < 1e-8, "{fit:?} vs {direct:?}");
        // 400 draws: standard error (alpha - 1) / sqrt(n_tail) >= 0.075; 0.3 is 4 of those.
        assert!((fit.alpha - alpha).abs() < 0.3, "{fit:?}");
        let model = model_alpha(std::slice::from_ref(&layer)).unwrap();
        assert_eq!(model.alpha, fit.alpha);
        assert!((model.alpha_weighted - fit.alpha * lambdas[m - 1].log10()).abs() < 1e-9);
    }

    #[test]
    fn skipped_and_failed_layers_stay_out_of_the_model_mean() {
        let config = SpectralConfig::default();
        assert_eq!(tensor_layer_alpha("ln", &[12], &[1.0; 12], &config), None);
        let zeros = tensor_layer_alpha("z", &[12, 10], &[0.0; 120], &config).unwrap();
        assert_eq!(zeros.fit, None);
        assert_eq!(model_alpha(&[zeros]), None);
    }
}
