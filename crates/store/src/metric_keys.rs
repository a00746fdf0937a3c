//! The keys of `metrics.json` (docs/METRICS.md defines each metric, docs/FORMAT.md the file): one
//! typed list, so the code that writes a metric and the code that reads it name it the same way.
//! The strings are the on-disk format: renaming one is a format change.

use std::fmt;
use std::str::FromStr;

/// A key of a `metrics.json` line.
///
/// Image zoos measure the Hessian on the train set under the plain key and on the test set under
/// the key with [`TEST_SET_SUFFIX`] appended ([`MetricKey::on_test_set`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MetricKey {
    /// `hessian_top_ev`: the largest Hessian eigenvalue (power iteration).
    HessianTopEv,
    /// `hessian_top_evs`: the top-n eigenvalues, when `[metrics.hessian] top_n` > 1.
    HessianTopEvs,
    /// `hessian_trace`: the Hessian trace (Hutchinson's estimator, mean of the samples).
    HessianTrace,
    /// `hessian_trace_std_err`: the standard error of [`MetricKey::HessianTrace`].
    HessianTraceStdErr,
    /// `hessian_trace_ci95`: half-width of the 95 % interval of [`MetricKey::HessianTrace`]
    /// (Student's t times the standard error; docs/METRICS.md).
    HessianTraceCi95,
    /// `hessian_trace_samples`: how many probes the trace averages (with a Hutch++ sketch, the
    /// residual probes; the sketch's products are not counted).
    HessianTraceSamples,
    /// `hessian_density_nodes`: eigenvalue nodes of the spectral density (SLQ).
    HessianDensityNodes,
    /// `hessian_density_weights`: the weights of those nodes.
    HessianDensityWeights,
    /// `cka`: the cell's CKA between seeds, mean over seed pairs.
    Cka,
    /// `cka_pairs`: the CKA of each seed pair.
    CkaPairs,
    /// `mc_train_loss`: mode connectivity of the train loss along the Bezier curve.
    McTrainLoss,
    /// `mc_test_loss`: mode connectivity of the test loss.
    McTestLoss,
    /// `mc_train_error`: mode connectivity of the train error (classifiers, in percentage
    /// points: PTMZ's published `curve_mc_train_error`).
    McTrainError,
    /// `mc_test_error`: mode connectivity of the test error.
    McTestError,
    /// `curve_train_loss`: the train loss along the curve, mean over seed pairs.
    CurveTrainLoss,
    /// `curve_test_loss`: the test loss along the curve.
    CurveTestLoss,
    /// `curve_train_error`: the train error along the curve (classifiers).
    CurveTrainError,
    /// `curve_test_error`: the test error along the curve.
    CurveTestError,
    /// `curve_converged`: the fraction of the cell's seed pairs whose curve training stopped
    /// falling (last epoch's mean loss within 1 % of the previous epoch's; docs/METRICS.md).
    CurveConverged,
    /// `curve_diagnostics`: per seed pair, the values at every evaluated t of the curve and of
    /// the straight line, and the curve's training loss per epoch (an object, docs/FORMAT.md).
    CurveDiagnostics,
    /// `ww_alpha`: the mean over a model's weight matrices of the power-law exponent of their
    /// eigenvalue spectra (WeightWatcher's alpha; docs/METRICS.md, "Heavy-tail metrics").
    WwAlpha,
    /// `ww_alpha_weighted`: the mean of alpha × log10 λ_max.
    WwAlphaWeighted,
    /// `ww_layers`: per layer its name, alpha, xmin, KS distance D, tail size and λ_max.
    WwLayers,
    /// `llc`: the local learning coefficient λ̂ by SGLD on the training loss, mean over chains
    /// (docs/METRICS.md, "Local learning coefficient"; only with `[metrics.llc]`).
    Llc,
    /// `llc_std`: the standard deviation of λ̂ over chains.
    LlcStd,
    /// `llc_r_hat`: split-R̂ of the loss trace (near 1: chains agree and are stationary).
    LlcRHat,
    /// `llc_nbeta`: the inverse temperature nβ used.
    LlcNbeta,
    /// `llc_trace`: the recorded SGLD losses, chains × draws (at most 100 per chain).
    LlcTrace,
}

/// Appended to a Hessian key for the value measured on the test set (image zoos).
pub const TEST_SET_SUFFIX: &str = "_val";

impl MetricKey {
    /// Every key, in the order above.
    pub const ALL: [MetricKey; 28] = [
        Self::HessianTopEv,
        Self::HessianTopEvs,
        Self::HessianTrace,
        Self::HessianTraceStdErr,
        Self::HessianTraceCi95,
        Self::HessianTraceSamples,
        Self::HessianDensityNodes,
        Self::HessianDensityWeights,
        Self::Cka,
        Self::CkaPairs,
        Self::McTrainLoss,
        Self::McTestLoss,
        Self::McTrainError,
        Self::McTestError,
        Self::CurveTrainLoss,
        Self::CurveTestLoss,
        Self::CurveTrainError,
        Self::CurveTestError,
        Self::CurveConverged,
        Self::CurveDiagnostics,
        Self::WwAlpha,
        Self::WwAlphaWeighted,
        Self::WwLayers,
        Self::Llc,
        Self::LlcStd,
        Self::LlcRHat,
        Self::LlcNbeta,
        Self::LlcTrace,
    ];

    /// Per quantity evaluated along a mode-connectivity curve (train loss, test loss, test
    /// error, in that order): its `mc_*` key and its `curve_*` key. What every family measures
    /// (the PINN's "error" is its relative L2 error on the test grid; its training set has no
    /// error of its own).
    pub const MODE_CONNECTIVITY: [(MetricKey, MetricKey); 3] = [
        (Self::McTrainLoss, Self::CurveTrainLoss),
        (Self::McTestLoss, Self::CurveTestLoss),
        (Self::McTestError, Self::CurveTestError),
    ];

    /// A classifier's quantities along a curve (train loss, test loss, train error, test error,
    /// in that order; SPEC §3.3): [`MetricKey::MODE_CONNECTIVITY`] and the train error, the
    /// quantity PTMZ published and the phase rule reads.
    pub const CLASSIFIER_MODE_CONNECTIVITY: [(MetricKey, MetricKey); 4] = [
        (Self::McTrainLoss, Self::CurveTrainLoss),
        (Self::McTestLoss, Self::CurveTestLoss),
        (Self::McTrainError, Self::CurveTrainError),
        (Self::McTestError, Self::CurveTestError),
    ];

    /// The key as written in `metrics.json` and as the index's column name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::HessianTopEv => "hessian_top_ev",
            Self::HessianTopEvs => "hessian_top_evs",
            Self::HessianTrace => "hessian_trace",
            Self::HessianTraceStdErr => "hessian_trace_std_err",
            Self::HessianTraceCi95 => "hessian_trace_ci95",
            Self::HessianTraceSamples => "hessian_trace_samples",
            Self::HessianDensityNodes => "hessian_density_nodes",
            Self::HessianDensityWeights => "hessian_density_weights",
            Self::Cka => "cka",
            Self::CkaPairs => "cka_pairs",
            Self::McTrainLoss => "mc_train_loss",
            Self::McTestLoss => "mc_test_loss",
            Self::McTrainError => "mc_train_error",
            Self::McTestError => "mc_test_error",
            Self::CurveTrainLoss => "curve_train_loss",
            Self::CurveTestLoss => "curve_test_loss",
            Self::CurveTrainError => "curve_train_error",
            Self::CurveTestError => "curve_test_error",
            Self::CurveConverged => "curve_converged",
            Self::CurveDiagnostics => "curve_diagnostics",
            Self::WwAlpha => "ww_alpha",
            Self::WwAlphaWeighted => "ww_alpha_weighted",
            Self::WwLayers => "ww_layers",
            Self::Llc => "llc",
            Self::LlcStd => "llc_std",
            Self::LlcRHat => "llc_r_hat",
            Self::LlcNbeta => "llc_nbeta",
            Self::LlcTrace => "llc_trace",
        }
    }

    /// The key of the value measured on the test set: `hessian_trace` → `hessian_trace_val`.
    #[must_use]
    pub fn on_test_set(self) -> String {
        format!("{}{TEST_SET_SUFFIX}", self.as_str())
    }
}

impl fmt::Display for MetricKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AsRef<str> for MetricKey {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// A string that is no [`MetricKey`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown metric key `{0}`")]
pub struct UnknownMetricKey(pub String);

impl FromStr for MetricKey {
    type Err = UnknownMetricKey;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| UnknownMetricKey(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_round_trips_through_its_string() {
        for k in MetricKey::ALL {
            assert_eq!(k.as_str().parse::<MetricKey>(), Ok(k));
            assert_eq!(k.to_string(), k.as_str());
        }
        assert_eq!("hessian".parse::<MetricKey>(), Err(UnknownMetricKey("hessian".into())));
    }

    #[test]
    fn keys_are_distinct_and_mode_connectivity_pairs_share_their_quantity() {
        let mut names: Vec<&str> = MetricKey::ALL.iter().map(|k| k.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), MetricKey::ALL.len());
        for (mc, curve) in
            MetricKey::MODE_CONNECTIVITY.into_iter().chain(MetricKey::CLASSIFIER_MODE_CONNECTIVITY)
        {
            assert_eq!(mc.as_str().strip_prefix("mc_"), curve.as_str().strip_prefix("curve_"));
        }
        assert_eq!(MetricKey::HessianTrace.on_test_set(), "hessian_trace_val");
    }
}
