//! The local learning coefficient over training time (issue 21): each model's `llc` at every
//! measured epoch, each cell's seed mean, and the epochs where a curve jumps, the points
//! singular learning theory reads as phase transitions along SGD time.
//!
//! # Jumps
//! With λ_i the curve at its i-th measured epoch and se_i its standard error, the increment
//! Δ_i = λ_i − λ_{i−1} is a jump (marked at epoch i) when both hold:
//! - it is significant against the estimator's own noise: |Δ_i| > [`SIGNIFICANCE`] ×
//!   √(se_i² + se_{i−1}²);
//! - it stands out from the curve's usual change: |Δ_i| ≥ [`STANDS_OUT`] × the median |Δ_j|.
//!
//! A curve with fewer than [`MIN_INCREMENTS`] increments has no jumps (there is no usual change
//! to stand out from). A model's se is `llc_std` / √chains (chains: the stored trace's length);
//! a cell's combines the seeds' spread and their own errors: se² = s²/n + Σ se_k²/n² (s the
//! seeds' standard deviation, 0 for one seed).

use pz_store::{MetricKey, MetricsRecord};
use serde::Serialize;

use crate::{Result, ZooView};

/// Standard errors an increment must exceed to count as significant.
pub const SIGNIFICANCE: f64 = 2.0;
/// How many times the median increment a jump must be.
pub const STANDS_OUT: f64 = 3.0;
/// Fewest increments for which jumps are looked for.
pub const MIN_INCREMENTS: usize = 3;

/// An LLC curve: one point per measured epoch, ascending.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LlcCurve {
    /// Measured epochs.
    pub epochs: Vec<u32>,
    /// λ̂ at each.
    pub llc: Vec<f64>,
    /// Its standard error at each (NaN when unknown).
    pub se: Vec<f64>,
    /// The epochs where it jumps (see the module notes).
    pub jumps: Vec<u32>,
}

impl LlcCurve {
    /// The curve of points (epoch, λ̂, se), sorted by epoch, its jumps found.
    #[must_use]
    pub fn new(mut points: Vec<(u32, f64, f64)>) -> Self {
        points.sort_by_key(|p| p.0);
        let llc: Vec<f64> = points.iter().map(|p| p.1).collect();
        let se: Vec<f64> = points.iter().map(|p| p.2).collect();
        let epochs: Vec<u32> = points.iter().map(|p| p.0).collect();
        let jumps = jump_indices(&llc, &se).into_iter().map(|i| epochs[i]).collect();
        Self { epochs, llc, se, jumps }
    }
}

/// Indices i ≥ 1 of the points where the curve jumps (see the module notes). A NaN se counts
/// as 0 (no noise known); non-finite values never jump.
#[must_use]
pub fn jump_indices(llc: &[f64], se: &[f64]) -> Vec<usize> {
    let deltas: Vec<f64> = llc.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
    if deltas.len() < MIN_INCREMENTS {
        return Vec::new();
    }
    let mut sorted: Vec<f64> = deltas.iter().copied().filter(|d| d.is_finite()).collect();
    if sorted.is_empty() {
        return Vec::new();
    }
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let median = if n % 2 == 1 { sorted[n / 2] } else { 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]) };
    let known = |s: f64| if s.is_finite() { s } else { 0.0 };
    deltas
        .iter()
        .enumerate()
        .filter(|&(i, &d)| {
            let noise = (known(se[i]).powi(2) + known(se[i + 1]).powi(2)).sqrt();
            d.is_finite() && d > SIGNIFICANCE * noise && d >= STANDS_OUT * median && d > 0.0
        })
        .map(|(i, _)| i + 1)
        .collect()
}

/// A model's LLC curve from its `metrics.json` lines (`None` when none holds `llc`).
#[must_use]
pub fn model_llc_curve(records: &[MetricsRecord]) -> Option<LlcCurve> {
    let number =
        |r: &MetricsRecord, k: MetricKey| r.values.get(k.as_str()).and_then(serde_json::Value::as_f64);
    let points: Vec<(u32, f64, f64)> = records
        .iter()
        .filter_map(|r| {
            let llc = number(r, MetricKey::Llc)?;
            let chains = r.values.get(MetricKey::LlcTrace.as_str()).and_then(serde_json::Value::as_array);
            #[allow(clippy::cast_precision_loss)] // a few chains
            let se = match (number(r, MetricKey::LlcStd), chains.map(Vec::len)) {
                (Some(std), Some(c)) if c > 0 => std / (c as f64).sqrt(),
                _ => f64::NAN,
            };
            Some((r.epoch, llc, se))
        })
        .collect();
    (!points.is_empty()).then(|| LlcCurve::new(points))
}

/// Every model's curve (plan order) and every cell's seed-mean curve (rows = temperature,
/// columns = load).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ZooLlcCurves {
    /// Per planned model.
    pub models: Vec<Option<LlcCurve>>,
    /// Per cell: at each epoch where every model of the cell with a curve has a point, their
    /// mean (see the module notes for its se).
    pub cells: Vec<Vec<Option<LlcCurve>>>,
}

impl ZooLlcCurves {
    /// Whether any model has an LLC.
    #[must_use]
    pub fn any(&self) -> bool {
        self.models.iter().any(Option::is_some)
    }
}

/// The LLC curves of `view`'s zoo.
///
/// # Errors
/// A `metrics.json` that cannot be read.
pub fn zoo_llc_curves(view: &ZooView) -> Result<ZooLlcCurves> {
    let mut models = Vec::with_capacity(view.plan.models.len());
    for m in &view.plan.models {
        models.push(model_llc_curve(&view.zoo.model(m.id()).read_metrics()?));
    }
    let g = &view.zoo.spec.grid;
    let mut cells = vec![vec![None; g.load.values.len()]; g.temperature.values.len()];
    for (t, row) in cells.iter_mut().enumerate() {
        for (l, slot) in row.iter_mut().enumerate() {
            let members: Vec<&LlcCurve> = view
                .plan
                .models
                .iter()
                .zip(&models)
                .filter(|(m, _)| m.cell.load == l && m.cell.temperature == t)
                .filter_map(|(_, c)| c.as_ref())
                .collect();
            *slot = cell_curve(&members);
        }
    }
    Ok(ZooLlcCurves { models, cells })
}

/// The seed mean of `members` at the epochs they all have.
fn cell_curve(members: &[&LlcCurve]) -> Option<LlcCurve> {
    let first = members.first()?;
    let at = |c: &LlcCurve, e: u32| c.epochs.iter().position(|&x| x == e).map(|i| (c.llc[i], c.se[i]));
    let mut points = Vec::new();
    for &epoch in &first.epochs {
        let values: Option<Vec<(f64, f64)>> = members.iter().map(|c| at(c, epoch)).collect();
        let Some(values) = values else { continue };
        #[allow(clippy::cast_precision_loss)] // a few seeds
        let n = values.len() as f64;
        let mean = values.iter().map(|v| v.0).sum::<f64>() / n;
        let spread = if values.len() > 1 {
            values.iter().map(|v| (v.0 - mean).powi(2)).sum::<f64>() / (n - 1.0)
        } else {
            0.0
        };
        let own: f64 = values.iter().map(|v| if v.1.is_finite() { v.1 * v.1 } else { 0.0 }).sum();
        points.push((epoch, mean, (spread / n + own / (n * n)).sqrt()));
    }
    (!points.is_empty()).then(|| LlcCurve::new(points))
}

#[cfg(test)]
#[path = "llc_curves_tests.rs"]
mod tests;
