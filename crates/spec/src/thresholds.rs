//! The phase labels' thresholds (`[phases]`).

use serde::{Deserialize, Serialize};

/// Thresholds of the phase labels (docs/FORMAT.md, "phases"). SPEC §4: the original has no
/// thresholds (boundaries were drawn by eye); these are phasezoo's documented choices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseThresholds {
    /// A cell whose seed-mean final train loss exceeds this is "high loss".
    #[serde(default = "default_loss_threshold")]
    pub train_loss: f64,
    /// If set, the loss threshold is this factor times the smallest cell loss of the zoo
    /// instead (relative to the zoo, SPEC §4 "τ_L = k·min cell loss").
    #[serde(default)]
    pub train_loss_relative: Option<f64>,
    /// A cell whose seed-mean final test error exceeds this "fails" (first labels).
    #[serde(default = "default_error_threshold")]
    pub test_error: f64,
    /// Metric key of the mode connectivity used by the rules (PTMZ: mc of train error; a PINN
    /// has no train error, so its train loss).
    #[serde(default = "default_mc_metric")]
    pub mc_metric: String,
    /// Dead zone ε: |mc| ≤ ε counts as "no barrier" (PTMZ plots: about 1–2 percentage points
    /// of train error; in the mc metric's units).
    #[serde(default = "default_mc_epsilon")]
    pub mc_epsilon: f64,
    /// If set and `mc_metric` is a loss (`mc_train_loss`, `mc_test_loss`), the dead zone is
    /// this fraction of the cell's seed-mean loss of that kind (the curve's endpoints) instead
    /// of `mc_epsilon`: losses span orders of magnitude across a zoo (7e-5 … 0.5 in the
    /// embedded PINN zoo), so one absolute ε is too wide for some cells and too narrow for
    /// others. PINN zoos default to 0.1 (docs/FORMAT.md).
    #[serde(default)]
    pub mc_epsilon_relative: Option<f64>,
    /// Low-loss, connected cells with seed-mean CKA below this are IV-A (over-fitted), at or
    /// above IV-B (generalizing).
    #[serde(default = "default_cka_threshold")]
    pub cka: f64,
    /// Learning-phase labels (modular-arithmetic zoos; Liu et al. 2022): the accuracy a model
    /// must reach on train and on validation data. Paper: 0.9.
    #[serde(default = "default_learning_accuracy", skip_serializing_if = "is_learning_accuracy")]
    pub learning_accuracy: f64,
    /// Learning-phase labels: steps between reaching it on train and on validation above which a
    /// model groks rather than comprehends. Paper: 10³.
    #[serde(default = "default_learning_gap", skip_serializing_if = "is_learning_gap")]
    pub learning_gap_steps: u64,
    /// Learning-phase labels: the step budget within which the accuracy must be reached (paper:
    /// 10⁵, the steps it trained); default: all steps trained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learning_budget_steps: Option<u64>,
}

fn default_learning_accuracy() -> f64 {
    0.9
}
fn is_learning_accuracy(v: &f64) -> bool {
    *v == 0.9
}
fn default_learning_gap() -> u64 {
    1000
}
fn is_learning_gap(v: &u64) -> bool {
    *v == 1000
}

fn default_loss_threshold() -> f64 {
    1e-3
}
fn default_error_threshold() -> f64 {
    0.1
}
fn default_mc_metric() -> String {
    "mc_train_loss".into()
}
fn default_mc_epsilon() -> f64 {
    1e-3
}
fn default_cka_threshold() -> f64 {
    0.9
}

impl Default for PhaseThresholds {
    fn default() -> Self {
        Self {
            train_loss: default_loss_threshold(),
            train_loss_relative: None,
            test_error: default_error_threshold(),
            mc_metric: default_mc_metric(),
            mc_epsilon: default_mc_epsilon(),
            mc_epsilon_relative: None,
            cka: default_cka_threshold(),
            learning_accuracy: default_learning_accuracy(),
            learning_gap_steps: default_learning_gap(),
            learning_budget_steps: None,
        }
    }
}
