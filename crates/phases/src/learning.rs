//! Learning phases of Liu et al. 2022 ("Towards Understanding Grokking: An Effective Theory of
//! Representation Learning", arXiv 2205.10343, §5 and the phase-diagram notebook of its code,
//! `phase_diagram_plot/simple_phase_diagram.ipynb`): from the steps a model needs to reach the
//! accuracy threshold (0.9) on its training pairs (t_train) and on its validation pairs (t_val),
//! within a step budget (the paper's 10⁵),
//!
//! - **comprehension**: both reached, and t_val − t_train < the gap (10³ steps);
//! - **grokking**: both reached, t_val − t_train ≥ the gap;
//! - **memorization**: t_train reached, t_val not;
//! - **confusion**: t_train not reached (the notebook asks neither to be reached; a model that
//!   reaches validation but never its own training pairs does not occur there and is counted
//!   here as confused: it does not fit its data).
//!
//! The steps are read from `result.json` lines, which are written every `train.steps_per_epoch`
//! steps: t is the first logged step at or above the threshold, so each is known to within one
//! logging interval (and the gap to within two). Pure functions, no files.

use serde::Serialize;

/// The four phases, in the paper's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LearningPhase {
    /// Generalizes as it fits.
    Comprehension,
    /// Generalizes long after it fits.
    Grokking,
    /// Fits, never generalizes within the budget.
    Memorization,
    /// Does not fit within the budget.
    Confusion,
}

impl LearningPhase {
    /// All four, in the paper's order (the order ties are broken in).
    pub const ALL: [Self; 4] = [Self::Comprehension, Self::Grokking, Self::Memorization, Self::Confusion];

    /// The phase's name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Comprehension => "comprehension",
            Self::Grokking => "grokking",
            Self::Memorization => "memorization",
            Self::Confusion => "confusion",
        }
    }
}

/// The rule's constants (spec `[phases] learning_*`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LearningRule {
    /// Accuracy to reach (paper: 0.9).
    pub accuracy: f64,
    /// Steps between t_train and t_val from which a model groks (paper: 10³).
    pub gap_steps: u64,
    /// Steps within which a threshold counts as reached (paper: 10⁵).
    pub budget_steps: u64,
}

/// One model's label with the numbers that decided it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LearningLabel {
    /// First logged step with train accuracy ≥ the threshold, within the budget.
    pub train_steps: Option<u64>,
    /// First logged step with validation accuracy ≥ the threshold, within the budget.
    pub val_steps: Option<u64>,
    /// Best train and validation accuracy logged within the budget.
    pub best_train_acc: f64,
    /// See `best_train_acc`.
    pub best_val_acc: f64,
    /// The phase.
    pub phase: LearningPhase,
    /// How firm the label is: the steps to the nearest boundary of the rule that a change of
    /// the reaching steps would cross (gap threshold, budget); for a threshold never reached,
    /// `None` and see `accuracy_margin`.
    pub margin_steps: Option<u64>,
    /// For a threshold never reached: how far the best accuracy stayed below it.
    pub accuracy_margin: Option<f64>,
}

/// The first step of `curve` (step, accuracy), in step order, whose accuracy reaches
/// `threshold` at or before `budget`.
#[must_use]
pub fn steps_to_reach(curve: &[(u64, f64)], threshold: f64, budget: u64) -> Option<u64> {
    curve.iter().take_while(|(s, _)| *s <= budget).find(|(_, a)| *a >= threshold).map(|(s, _)| *s)
}

/// Label a model from its train and validation accuracy curves, (step, accuracy) in step order.
#[must_use]
pub fn label_learning(train: &[(u64, f64)], val: &[(u64, f64)], rule: LearningRule) -> LearningLabel {
    let best = |c: &[(u64, f64)]| {
        c.iter().filter(|(s, _)| *s <= rule.budget_steps).map(|(_, a)| *a).fold(f64::NEG_INFINITY, f64::max)
    };
    let (best_train_acc, best_val_acc) = (best(train), best(val));
    let t_train = steps_to_reach(train, rule.accuracy, rule.budget_steps);
    let t_val = steps_to_reach(val, rule.accuracy, rule.budget_steps);
    let budget_left = |t: u64| rule.budget_steps - t;
    let (phase, margin_steps, accuracy_margin) = match (t_train, t_val) {
        (Some(tt), Some(tv)) => {
            let gap = i128::from(tv) - i128::from(tt);
            let to_gap = (gap - i128::from(rule.gap_steps)).unsigned_abs();
            let to_gap = u64::try_from(to_gap).unwrap_or(u64::MAX);
            let phase = if gap >= i128::from(rule.gap_steps) {
                LearningPhase::Grokking
            } else {
                LearningPhase::Comprehension
            };
            (phase, Some(to_gap.min(budget_left(tv))), None)
        }
        (Some(tt), None) => {
            (LearningPhase::Memorization, Some(budget_left(tt)), Some(rule.accuracy - best_val_acc))
        }
        (None, _) => (LearningPhase::Confusion, None, Some(rule.accuracy - best_train_acc)),
    };
    LearningLabel {
        train_steps: t_train,
        val_steps: t_val,
        best_train_acc,
        best_val_acc,
        phase,
        margin_steps,
        accuracy_margin,
    }
}

/// The majority phase of `labels` with its count; a tie goes to the phase first in the paper's
/// order. `None` for no labels.
#[must_use]
pub fn majority(labels: &[LearningPhase]) -> Option<(LearningPhase, usize)> {
    LearningPhase::ALL
        .iter()
        .map(|&p| (p, labels.iter().filter(|&&l| l == p).count()))
        .filter(|(_, n)| *n > 0)
        .fold(None, |best: Option<(LearningPhase, usize)>, (p, n)| match best {
            Some((_, m)) if m >= n => best,
            _ => Some((p, n)),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: LearningRule = LearningRule { accuracy: 0.9, gap_steps: 1000, budget_steps: 100_000 };

    /// A curve logged every 100 steps up to the budget that jumps from `low` to 1 at `at`
    /// (`None`: never).
    fn jump(at: Option<u64>, low: f64) -> Vec<(u64, f64)> {
        (0..=1000).map(|i| i * 100).map(|s| (s, if at.is_some_and(|a| s >= a) { 1.0 } else { low })).collect()
    }

    #[test]
    fn fast_generalization_within_the_gap_is_comprehension() {
        let l = label_learning(&jump(Some(300), 0.1), &jump(Some(1200), 0.05), RULE);
        assert_eq!(
            (l.train_steps, l.val_steps, l.phase),
            (Some(300), Some(1200), LearningPhase::Comprehension)
        );
        // gap 900 is 100 below 1000.
        assert_eq!(l.margin_steps, Some(100));
        // Validation before train (a negative gap) is comprehension too.
        let l = label_learning(&jump(Some(500), 0.1), &jump(Some(200), 0.1), RULE);
        assert_eq!(l.phase, LearningPhase::Comprehension);
    }

    #[test]
    fn a_gap_of_the_threshold_or_more_is_grokking() {
        let l = label_learning(&jump(Some(300), 0.1), &jump(Some(1300), 0.05), RULE);
        assert_eq!((l.phase, l.margin_steps), (LearningPhase::Grokking, Some(0)));
        let l = label_learning(&jump(Some(300), 0.1), &jump(Some(60_000), 0.05), RULE);
        // gap 59 700 above the threshold; 40 000 steps of budget left after t_val.
        assert_eq!((l.phase, l.margin_steps), (LearningPhase::Grokking, Some(40_000)));
    }

    #[test]
    fn validation_never_reached_within_the_budget_is_memorization() {
        let l = label_learning(&jump(Some(300), 0.1), &jump(None, 0.4), RULE);
        assert_eq!((l.phase, l.val_steps), (LearningPhase::Memorization, None));
        assert!((l.accuracy_margin.unwrap() - 0.5).abs() < 1e-12);
        assert_eq!(l.margin_steps, Some(99_700));
        // Reached after the budget counts as never.
        let tight = LearningRule { budget_steps: 50_000, ..RULE };
        let l = label_learning(&jump(Some(300), 0.1), &jump(Some(60_000), 0.05), tight);
        assert_eq!(l.phase, LearningPhase::Memorization);
    }

    #[test]
    fn train_never_reached_is_confusion() {
        let l = label_learning(&jump(None, 0.85), &jump(None, 0.1), RULE);
        assert_eq!((l.phase, l.train_steps), (LearningPhase::Confusion, None));
        assert!((l.accuracy_margin.unwrap() - 0.05).abs() < 1e-12);
        // Exactly the threshold counts as reached.
        assert_eq!(steps_to_reach(&[(0, 0.1), (10, 0.9)], 0.9, 100), Some(10));
    }

    #[test]
    fn the_majority_breaks_ties_in_the_papers_order() {
        use LearningPhase::{Comprehension as C, Confusion as X, Grokking as G, Memorization as M};
        assert_eq!(majority(&[M, G, M, X]), Some((M, 2)));
        assert_eq!(majority(&[X, G]), Some((G, 1)));
        assert_eq!(majority(&[X, C, X, C]), Some((C, 2)));
        assert_eq!(majority(&[]), None);
    }
}
