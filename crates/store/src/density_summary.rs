//! A few numbers of a model's Hessian spectral density (stochastic Lanczos quadrature:
//! `hessian_density_nodes`, `hessian_density_weights`, docs/METRICS.md) for the index, so that a
//! zoo's densities can be compared in one table without drawing each: the mass of negative
//! eigenvalues (how far from a minimum the model sits; Ghorbani, Krishnan & Xiao 2019) and the
//! ends of the spectrum (the most negative and the largest Ritz values: Lanczos finds the ends
//! first, so these are its most accurate nodes).

use std::collections::BTreeMap;

use crate::MetricKey;

/// A Ritz value counts as negative below `-NEGATIVE_CUT × max |θ|`: the near-zero bulk of a
/// network's Hessian gets Ritz values of either sign at the level of rounding, which are not
/// directions of negative curvature.
pub const NEGATIVE_CUT: f64 = 1e-3;

/// Summary of one density.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DensitySummary {
    /// Σ weights of the nodes below `-NEGATIVE_CUT × max |θ|` (a fraction: the weights sum to 1).
    pub negative_mass: f64,
    /// The smallest node.
    pub min: f64,
    /// The largest node.
    pub max: f64,
}

/// The summary of a density given as nodes and weights; `None` when it is empty, the two lists
/// differ in length, or a value is not finite.
#[must_use]
pub fn summarize_density(nodes: &[f64], weights: &[f64]) -> Option<DensitySummary> {
    let finite = |v: &[f64]| v.iter().all(|x| x.is_finite());
    if nodes.is_empty() || nodes.len() != weights.len() || !finite(nodes) || !finite(weights) {
        return None;
    }
    let min = nodes.iter().copied().fold(f64::INFINITY, f64::min);
    let max = nodes.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let cut = -NEGATIVE_CUT * min.abs().max(max.abs());
    let negative_mass = nodes.iter().zip(weights).filter(|(t, _)| **t < cut).map(|(_, w)| w).sum();
    Some(DensitySummary { negative_mass, min, max })
}

/// The density stored in a `metrics.json` line for the loss set with key suffix `suffix` (`""`
/// for the train set, [`crate::TEST_SET_SUFFIX`]): (nodes, weights), `None` when not measured
/// or not a pair of number lists.
#[must_use]
pub fn stored_density(
    values: &BTreeMap<String, serde_json::Value>,
    suffix: &str,
) -> Option<(Vec<f64>, Vec<f64>)> {
    let list = |key: MetricKey| -> Option<Vec<f64>> {
        values.get(&format!("{key}{suffix}"))?.as_array()?.iter().map(serde_json::Value::as_f64).collect()
    };
    Some((list(MetricKey::HessianDensityNodes)?, list(MetricKey::HessianDensityWeights)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_mass_counts_only_nodes_beyond_the_rounding_level() {
        // max |θ| = 100: the cut is -0.1. -2 and -0.5 count (0.1 + 0.05); -1e-4 is rounding.
        let nodes = [-2.0, -0.5, -1e-4, 0.0, 3.0, 100.0];
        let weights = [0.1, 0.05, 0.6, 0.15, 0.05, 0.05];
        let s = summarize_density(&nodes, &weights).unwrap();
        assert!((s.negative_mass - 0.15).abs() < 1e-15, "{s:?}");
        assert_eq!((s.min, s.max), (-2.0, 100.0));
        // A spectrum dominated by its negative end scales the cut the same way.
        let s = summarize_density(&[-10.0, -0.001, 1.0], &[0.2, 0.3, 0.5]).unwrap();
        assert!((s.negative_mass - 0.2).abs() < 1e-15);
    }

    #[test]
    fn a_density_that_is_not_one_gives_no_summary() {
        assert_eq!(summarize_density(&[], &[]), None);
        assert_eq!(summarize_density(&[1.0, 2.0], &[1.0]), None);
        assert_eq!(summarize_density(&[f64::NAN], &[1.0]), None);
    }

    #[test]
    fn the_stored_density_is_read_per_loss_set() {
        let values: BTreeMap<String, serde_json::Value> = serde_json::from_str(
            r#"{"hessian_density_nodes": [1.0, 2.0], "hessian_density_weights": [0.25, 0.75],
                "hessian_density_nodes_val": [3.0], "hessian_density_weights_val": [1.0],
                "hessian_trace": 3.0}"#,
        )
        .unwrap();
        assert_eq!(stored_density(&values, ""), Some((vec![1.0, 2.0], vec![0.25, 0.75])));
        assert_eq!(stored_density(&values, "_val"), Some((vec![3.0], vec![1.0])));
        assert_eq!(stored_density(&values, "_other"), None);
    }
}
