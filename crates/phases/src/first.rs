//! First labels from train loss and test error alone (before any landscape metric exists).

use pz_spec::PhaseThresholds;
use serde::Serialize;

/// A first label from train loss and test error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FirstLabel {
    /// Low train loss and low test error: trained and generalizing (a PINN that solves the PDE).
    #[serde(rename = "fit+solved")]
    FitSolved,
    /// Low train loss, high test error: fits its loss but not the task (a PINN stuck in a
    /// trivial or wrong solution).
    #[serde(rename = "fit+failed")]
    FitFailed,
    /// High train loss, low test error.
    #[serde(rename = "underfit+solved")]
    UnderfitSolved,
    /// High train loss and high test error: under-fitted, failed.
    #[serde(rename = "underfit+failed")]
    UnderfitFailed,
}

impl FirstLabel {
    /// Short code for grids printed in a terminal.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::FitSolved => "fit+solved",
            Self::FitFailed => "fit+failed",
            Self::UnderfitSolved => "underfit+solved",
            Self::UnderfitFailed => "underfit+failed",
        }
    }
}

/// A cell's label with the numbers behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CellLabel {
    /// The label.
    pub label: FirstLabel,
    /// Seed-mean train loss.
    pub train_loss: f64,
    /// Seed-mean test error.
    pub test_error: f64,
    /// log10(train_loss / threshold).
    pub train_loss_margin: f64,
    /// log10(test_error / threshold).
    pub test_error_margin: f64,
}

/// Label a cell from its seed means. `None` when a mean is not finite (a failed seed).
#[must_use]
pub fn label_cell(train_loss: f64, test_error: f64, thresholds: &PhaseThresholds) -> Option<CellLabel> {
    if !(train_loss.is_finite() && test_error.is_finite()) {
        return None;
    }
    let high_loss = train_loss > thresholds.train_loss;
    let fails = test_error > thresholds.test_error;
    let label = match (high_loss, fails) {
        (false, false) => FirstLabel::FitSolved,
        (false, true) => FirstLabel::FitFailed,
        (true, false) => FirstLabel::UnderfitSolved,
        (true, true) => FirstLabel::UnderfitFailed,
    };
    Some(CellLabel {
        label,
        train_loss,
        test_error,
        train_loss_margin: (train_loss / thresholds.train_loss).log10(),
        test_error_margin: (test_error / thresholds.test_error).log10(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> PhaseThresholds {
        PhaseThresholds { train_loss: 1e-3, test_error: 0.1, ..PhaseThresholds::default() }
    }

    #[test]
    fn four_quadrants_and_margins() {
        assert_eq!(label_cell(1e-4, 0.01, &t()).unwrap().label, FirstLabel::FitSolved);
        assert_eq!(label_cell(1e-4, 0.9, &t()).unwrap().label, FirstLabel::FitFailed);
        assert_eq!(label_cell(1e-1, 0.05, &t()).unwrap().label, FirstLabel::UnderfitSolved);
        let c = label_cell(1e-1, 1.0, &t()).unwrap();
        assert_eq!(c.label, FirstLabel::UnderfitFailed);
        assert!((c.train_loss_margin - 2.0).abs() < 1e-12 && (c.test_error_margin - 1.0).abs() < 1e-12);
    }

    #[test]
    fn thresholds_are_inclusive_below() {
        assert_eq!(label_cell(1e-3, 0.1, &t()).unwrap().label, FirstLabel::FitSolved);
        assert_eq!(label_cell(f64::NAN, 0.1, &t()), None);
    }
}
