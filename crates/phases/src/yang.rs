//! The Yang et al. (2021) phases from a cell's seed means (SPEC §4).
//!
//! Rule, with τ_L the loss threshold, ε the mode-connectivity dead zone and τ_CKA the CKA split:
//!
//! ε is absolute (`mc_epsilon`) or, for loss metrics with `mc_epsilon_relative`, that fraction
//! of the cell's loss ([`mc_dead_zone`]).
//!
//! | train loss | mc | CKA | phase |
//! |---|---|---|---|
//! | > τ_L (high) | < −ε (barrier) | – | I: under-fitted and under-sized |
//! | > τ_L | > +ε (under-trained ends) | – | II: under-fitted |
//! | ≤ τ_L (low) | < −ε | – | III: under-sized |
//! | ≤ τ_L | within ±ε (connected) | < τ_CKA | IV-A: over-fitted |
//! | ≤ τ_L | within ±ε | ≥ τ_CKA | IV-B: generalizing |
//!
//! The two remaining combinations (high loss but connected; low loss with under-trained ends)
//! are not in the taxonomy: they get no phase and a reason. The Hessian is reported beside the
//! label as a consistency check (large for I/II, small for III/IV), not used by the rule.

use pz_spec::PhaseThresholds;
use serde::Serialize;

/// A cell's seed means (`None`: not measured).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CellMetrics {
    /// Final train loss.
    pub train_loss: f64,
    /// Mode connectivity of the configured metric (`[phases] mc_metric`).
    pub mc: Option<f64>,
    /// CKA between seeds.
    pub cka: Option<f64>,
    /// The seed-mean loss of the kind `mc_metric` measures (train or test loss), the scale of a
    /// relative dead zone ([`mc_dead_zone`]); `None` for error metrics or when unknown.
    pub mc_scale: Option<f64>,
}

/// The loss whose seed mean scales a relative dead zone for `mc_metric`: `Some("train_loss")`
/// for `mc_train_loss`, `Some("test_loss")` for `mc_test_loss`, `None` for errors.
#[must_use]
pub fn mc_scale_field(mc_metric: &str) -> Option<&'static str> {
    match mc_metric {
        "mc_train_loss" => Some("train_loss"),
        "mc_test_loss" => Some("test_loss"),
        _ => None,
    }
}

/// The dead zone ε of a cell: `mc_epsilon_relative` × its loss scale where that applies and is
/// known, else the absolute `mc_epsilon`.
#[must_use]
pub fn mc_dead_zone(t: &PhaseThresholds, mc_scale: Option<f64>) -> f64 {
    match (t.mc_epsilon_relative, mc_scale_field(&t.mc_metric), mc_scale) {
        (Some(k), Some(_), Some(scale)) if scale.is_finite() => k * scale.abs(),
        _ => t.mc_epsilon,
    }
}

/// A Yang et al. phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Phase {
    /// Under-fitted and under-sized: high loss, barrier.
    #[serde(rename = "I")]
    I,
    /// Under-fitted: high loss, under-trained ends (mc > 0).
    #[serde(rename = "II")]
    II,
    /// Under-sized: low loss, barrier.
    #[serde(rename = "III")]
    III,
    /// Over-fitted: low loss, connected, dissimilar seeds.
    #[serde(rename = "IV-A")]
    IVA,
    /// Generalizing: low loss, connected, similar seeds.
    #[serde(rename = "IV-B")]
    IVB,
}

impl Phase {
    /// All five, in the taxonomy's order.
    pub const ALL: [Self; 5] = [Self::I, Self::II, Self::III, Self::IVA, Self::IVB];

    /// The phase's name as in the paper.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::I => "I",
            Self::II => "II",
            Self::III => "III",
            Self::IVA => "IV-A",
            Self::IVB => "IV-B",
        }
    }

    /// The phase's place in the taxonomy, 1 (I) … 5 (IV-B): the phase map's colour scale.
    #[must_use]
    pub fn number(self) -> u8 {
        self as u8 + 1
    }
}

/// Distances to the thresholds. Positive = on the "more" side.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Margins {
    /// log10(train loss / τ_L): > 0 high loss; |margin| < 0.3 is within a factor of 2.
    pub train_loss: f64,
    /// |mc| − ε: > 0 outside the dead zone (barrier or under-trained ends) by that much.
    pub mc: Option<f64>,
    /// CKA − τ_CKA.
    pub cka: Option<f64>,
}

/// A cell's phase, or why it has none, with its margins.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseLabel {
    /// The phase, when the rule gives one.
    pub phase: Option<Phase>,
    /// Why there is no phase (empty when there is one).
    pub reason: String,
    /// The loss threshold used (absolute, or relative to the zoo).
    pub loss_threshold: f64,
    /// The mode-connectivity dead zone ε used (absolute, or relative to the cell's loss).
    pub mc_epsilon: f64,
    /// Distances to the thresholds.
    pub margins: Margins,
}

/// τ_L: `[phases] train_loss`, or `train_loss_relative` × the smallest finite cell loss.
#[must_use]
pub fn loss_threshold(t: &PhaseThresholds, cell_losses: &[f64]) -> f64 {
    match t.train_loss_relative {
        Some(k) => k * cell_losses.iter().copied().filter(|l| l.is_finite()).fold(f64::INFINITY, f64::min),
        None => t.train_loss,
    }
}

/// The phase of one cell (module doc), with τ_L already resolved by [`loss_threshold`].
#[must_use]
pub fn label_cell_yang(cell: &CellMetrics, t: &PhaseThresholds, loss_threshold: f64) -> PhaseLabel {
    let epsilon = mc_dead_zone(t, cell.mc_scale);
    let margins = Margins {
        train_loss: (cell.train_loss / loss_threshold).log10(),
        mc: cell.mc.map(|mc| mc.abs() - epsilon),
        cka: cell.cka.map(|c| c - t.cka),
    };
    let label = |phase: Option<Phase>, reason: &str| PhaseLabel {
        phase,
        reason: reason.to_string(),
        loss_threshold,
        mc_epsilon: epsilon,
        margins,
    };
    if !cell.train_loss.is_finite() {
        return label(None, "train loss is not finite (a failed seed)");
    }
    let Some(mc) = cell.mc else {
        return label(None, "mode connectivity not measured (run phasezoo metrics)");
    };
    let high_loss = cell.train_loss > loss_threshold;
    let barrier = mc < -epsilon;
    let under_trained = mc > epsilon;
    match (high_loss, barrier, under_trained) {
        (true, true, _) => label(Some(Phase::I), ""),
        (true, false, true) => label(Some(Phase::II), ""),
        (true, false, false) => label(None, "high loss but connected (|mc| <= epsilon): between I and II"),
        (false, true, _) => label(Some(Phase::III), ""),
        (false, false, true) => {
            label(None, "low loss with under-trained ends (mc > epsilon): not in the taxonomy")
        }
        (false, false, false) => match cell.cka {
            None => label(None, "phase IV, but CKA not measured to split IV-A / IV-B"),
            Some(cka) if cka < t.cka => label(Some(Phase::IVA), ""),
            Some(_) => label(Some(Phase::IVB), ""),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> PhaseThresholds {
        PhaseThresholds { train_loss: 0.1, mc_epsilon: 1.5, cka: 0.8, ..PhaseThresholds::default() }
    }

    fn phase(train_loss: f64, mc: f64, cka: f64) -> Option<Phase> {
        let cell = CellMetrics { train_loss, mc: Some(mc), cka: Some(cka), mc_scale: None };
        label_cell_yang(&cell, &t(), 0.1).phase
    }

    #[test]
    fn the_five_phases() {
        assert_eq!(phase(0.9, -20.0, 0.7), Some(Phase::I));
        assert_eq!(phase(0.9, 12.0, 0.7), Some(Phase::II));
        assert_eq!(phase(0.01, -15.0, 0.9), Some(Phase::III));
        assert_eq!(phase(0.001, 0.5, 0.7), Some(Phase::IVA));
        assert_eq!(phase(0.001, -0.5, 0.9), Some(Phase::IVB));
    }

    #[test]
    fn boundaries_belong_to_the_lower_side_and_the_dead_zone() {
        // Loss exactly τ_L is low; mc exactly ±ε is connected; CKA exactly τ_CKA is IV-B.
        assert_eq!(phase(0.1, 1.5, 0.8), Some(Phase::IVB));
        assert_eq!(phase(0.1, -1.5, 0.79), Some(Phase::IVA));
        assert_eq!(phase(0.1 + 1e-12, -1.5 - 1e-9, 0.8), Some(Phase::I));
        assert_eq!(phase(0.1, -1.5 - 1e-9, 0.8), Some(Phase::III));
    }

    #[test]
    fn combinations_outside_the_taxonomy_get_a_reason() {
        let cell = CellMetrics { train_loss: 0.9, mc: Some(0.0), cka: Some(0.9), mc_scale: None };
        let l = label_cell_yang(&cell, &t(), 0.1);
        assert_eq!(l.phase, None);
        assert!(l.reason.contains("between I and II"), "{}", l.reason);
        let cell = CellMetrics { train_loss: 0.01, mc: Some(5.0), cka: Some(0.9), mc_scale: None };
        assert!(label_cell_yang(&cell, &t(), 0.1).reason.contains("under-trained ends"));
        let cell = CellMetrics { train_loss: 0.01, mc: None, cka: None, mc_scale: None };
        assert!(label_cell_yang(&cell, &t(), 0.1).reason.contains("run phasezoo metrics"));
        let cell = CellMetrics { train_loss: 0.01, mc: Some(0.0), cka: None, mc_scale: None };
        assert!(label_cell_yang(&cell, &t(), 0.1).reason.contains("CKA not measured"));
    }

    #[test]
    fn margins_measure_the_distance_to_each_threshold() {
        let cell = CellMetrics { train_loss: 1.0, mc: Some(-3.5), cka: Some(0.5), mc_scale: None };
        let m = label_cell_yang(&cell, &t(), 0.1).margins;
        assert!((m.train_loss - 1.0).abs() < 1e-12);
        assert!((m.mc.unwrap() - 2.0).abs() < 1e-12);
        assert!((m.cka.unwrap() + 0.3).abs() < 1e-12);
    }

    #[test]
    fn a_relative_dead_zone_scales_with_the_cells_loss_for_loss_metrics_only() {
        let rel = PhaseThresholds {
            mc_metric: "mc_train_loss".into(),
            mc_epsilon: 1e-3,
            mc_epsilon_relative: Some(0.1),
            ..t()
        };
        // Loss 1e-4, mc -5e-5: a barrier of half the loss is beyond 10 % (ε = 1e-5) → III,
        // where the absolute ε = 1e-3 would call it connected.
        let cell = CellMetrics { train_loss: 1e-4, mc: Some(-5e-5), cka: Some(0.9), mc_scale: Some(1e-4) };
        let l = label_cell_yang(&cell, &rel, 0.1);
        assert_eq!(l.phase, Some(Phase::III));
        assert!((l.mc_epsilon - 1e-5).abs() < 1e-18 && (l.margins.mc.unwrap() - 4e-5).abs() < 1e-15);
        let absolute = PhaseThresholds { mc_epsilon_relative: None, ..rel.clone() };
        assert_eq!(label_cell_yang(&cell, &absolute, 0.1).phase, Some(Phase::IVB));
        // Unknown scale, or an error metric: the absolute ε.
        assert_eq!(mc_dead_zone(&rel, None), 1e-3);
        let errors = PhaseThresholds { mc_metric: "mc_train_error".into(), ..rel };
        assert_eq!(mc_dead_zone(&errors, Some(0.5)), 1e-3);
    }

    #[test]
    fn a_relative_loss_threshold_scales_the_smallest_cell_loss() {
        let rel = PhaseThresholds { train_loss_relative: Some(10.0), ..t() };
        assert!((loss_threshold(&rel, &[0.5, 0.002, f64::NAN, 0.03]) - 0.02).abs() < 1e-15);
        assert_eq!(loss_threshold(&t(), &[0.5]), 0.1);
    }
}
