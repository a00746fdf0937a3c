//! A model's Hessian spectral density (stochastic Lanczos quadrature: `hessian_density_nodes`,
//! `hessian_density_weights`, docs/METRICS.md) as the curve the report draws beside its training
//! curves. SLQ gives point masses at Ritz values; like PyHessian's `get_esd` they are smoothed by
//! a Gaussian, but of a width relative to the spectrum (PyHessian's fixed σ² = 1e-5 is a spike
//! on a ResNet's spectrum of width ~100 and a blur on a small PINN's).

use pz_phases::ZooView;
use pz_spec::ModelId;
use pz_store::{stored_density, summarize_density, TEST_SET_SUFFIX};

use crate::{DensityCurve, Error};

/// Points of a drawn density.
const POINTS: usize = 200;
/// The Gaussian's standard deviation as a fraction of the spectrum's width (largest − smallest
/// node): the bulk and each outlier stay apart, and the grid has ~2 points per σ.
const SIGMA_OF_WIDTH: f64 = 0.01;
/// The smallest value drawn, as a fraction of the peak: the chart's log axis spans 7 decades
/// (PyHessian's plot adds 1e-7 for the same reason).
const FLOOR: f64 = 1e-7;

/// The densities of the model's newest `metrics.json` line: train set, then test set, each
/// where measured.
///
/// # Errors
/// An unreadable `metrics.json`.
pub(super) fn density_curves(view: &ZooView, id: &ModelId) -> Result<Vec<DensityCurve>, Error> {
    let Some(newest) = view.zoo.model(id).read_metrics()?.pop() else { return Ok(Vec::new()) };
    let mut curves = Vec::new();
    for (set, suffix) in [("train set", ""), ("test set", TEST_SET_SUFFIX)] {
        let Some((nodes, weights)) = stored_density(&newest.values, suffix) else { continue };
        let Some(summary) = summarize_density(&nodes, &weights) else { continue };
        let (x, y) = smoothed(&nodes, &weights, summary.min, summary.max);
        curves.push(DensityCurve {
            set: set.to_string(),
            epoch: newest.epoch,
            negative_mass: summary.negative_mass,
            x,
            y,
        });
    }
    Ok(curves)
}

/// ρ(x) = Σ wᵢ N(x; θᵢ, σ²) with σ = [`SIGMA_OF_WIDTH`] × (max − min) (of |max| for a single
/// value, 1 for zero), on [`POINTS`] points from min − 5σ to max + 5σ, floored at [`FLOOR`] ×
/// its peak. It integrates to Σ wᵢ = 1.
fn smoothed(nodes: &[f64], weights: &[f64], min: f64, max: f64) -> (Vec<f64>, Vec<f64>) {
    let width = if max > min { max - min } else { max.abs().max(min.abs()) };
    let sigma = SIGMA_OF_WIDTH * if width > 0.0 { width } else { 1.0 };
    let (lo, hi) = (min - 5.0 * sigma, max + 5.0 * sigma);
    let norm = 1.0 / (sigma * (2.0 * std::f64::consts::PI).sqrt());
    #[allow(clippy::cast_precision_loss)] // 200 points
    let x: Vec<f64> = (0..POINTS).map(|i| lo + (hi - lo) * i as f64 / (POINTS - 1) as f64).collect();
    let mut y: Vec<f64> = x
        .iter()
        .map(|x| {
            let mass: f64 = nodes
                .iter()
                .zip(weights)
                .map(|(t, w)| w * (-(x - t).powi(2) / (2.0 * sigma * sigma)).exp())
                .sum();
            mass * norm
        })
        .collect();
    let floor = FLOOR * y.iter().copied().fold(0.0, f64::max);
    for v in &mut y {
        *v = v.max(floor);
    }
    (x, y)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use pz_spec::{Plan, ZooSpec};
    use pz_store::{EpochRecord, ModelState, ModelStatus, ZooDir};
    use serde_json::json;

    use super::*;
    use crate::{render_html, zoo_page};

    /// The embedded default with two models (beta 1, seeds 0 and 1), the first measured with
    /// `metrics` at epoch 1, the second not measured.
    fn zoo(dir: &Path, metrics: &serde_json::Value) {
        let o =
            ["grid.load.values=[1]", "grid.temperature.values=[1e-2]", "grid.seeds=[0,1]"].map(String::from);
        let spec = ZooSpec::parse(pz_spec::EMBEDDED_DEFAULT, "test", &o).unwrap();
        let zoo = ZooDir::create_or_open(dir, &spec).unwrap();
        for (k, m) in Plan::new(&spec).unwrap().models.iter().enumerate() {
            let d = zoo.model(m.id());
            fs_err::create_dir_all(d.status_path().parent().unwrap()).unwrap();
            d.write_status(&ModelStatus { state: ModelState::Done, epoch: Some(1), message: None }).unwrap();
            let record = |epoch| EpochRecord {
                epoch,
                train_loss: 0.5,
                test_loss: 1.0,
                test_error: 0.25,
                step: u64::from(epoch) * 10,
                extra: BTreeMap::new(),
            };
            d.write_results(&[record(0), record(1)]).unwrap();
            if k == 0 {
                d.merge_metrics(1, serde_json::from_value(metrics.clone()).unwrap()).unwrap();
            }
        }
    }

    /// ∫ y dx by the trapezoid rule.
    fn integral(c: &DensityCurve) -> f64 {
        c.x.windows(2).zip(c.y.windows(2)).map(|(x, y)| 0.5 * (y[0] + y[1]) * (x[1] - x[0])).sum()
    }

    #[test]
    fn a_measured_models_densities_reach_the_page_as_curves_of_unit_mass() {
        let tmp = tempfile::tempdir().unwrap();
        // Train set: -1 (0.25), 0 (0.5), 4 (0.25): width 5, σ 0.05, negative mass 0.25. Test set:
        // one node at 2 (σ = 0.02).
        let metrics = json!({
            "hessian_top_ev": 4.0,
            "hessian_density_nodes": [-1.0, 0.0, 4.0], "hessian_density_weights": [0.25, 0.5, 0.25],
            "hessian_density_nodes_val": [2.0], "hessian_density_weights_val": [1.0],
        });
        zoo(tmp.path(), &metrics);
        let page = zoo_page(&ZooView::open(tmp.path()).unwrap()).unwrap();
        let measured = page.table.rows.iter().find(|r| !r.density.is_empty()).unwrap();
        let sets: Vec<(&str, u32, f64)> =
            measured.density.iter().map(|c| (c.set.as_str(), c.epoch, c.negative_mass)).collect();
        assert_eq!(sets, [("train set", 1, 0.25), ("test set", 1, 0.0)]);
        for c in &measured.density {
            assert_eq!((c.x.len(), c.y.len()), (POINTS, POINTS));
            assert!((integral(c) - 1.0).abs() < 1e-3, "{}: ∫ = {}", c.set, integral(c));
        }
        let train = &measured.density[0];
        assert!((train.x[0] + 1.25).abs() < 1e-12 && (train.x[POINTS - 1] - 4.25).abs() < 1e-12);
        // The peak is at the heaviest node, 0, to the grid spacing; between 0 and 4 (40 σ from
        // either) the curve sits on the floor.
        let peak = train.y.iter().copied().fold(0.0, f64::max);
        let at = train.x[train.y.iter().position(|v| *v == peak).unwrap()];
        assert!(at.abs() <= 5.5 / 199.0, "peak at {at}");
        let gap = train.x.iter().position(|x| *x >= 2.0).unwrap();
        assert_eq!(train.y[gap], FLOOR * peak);
        assert!(train.y.iter().all(|v| *v >= FLOOR * peak));
        // The other model has none; the page carries the curves in its data.
        assert_eq!(page.table.rows.iter().filter(|r| r.density.is_empty()).count(), 1);
        let html = render_html(&page);
        assert!(html.contains("\"set\":\"test set\""));
    }

    #[test]
    fn a_zoo_without_densities_draws_none() {
        let tmp = tempfile::tempdir().unwrap();
        zoo(tmp.path(), &json!({"hessian_top_ev": 4.0}));
        let page = zoo_page(&ZooView::open(tmp.path()).unwrap()).unwrap();
        assert!(page.table.rows.iter().all(|r| r.density.is_empty()));
    }
}
