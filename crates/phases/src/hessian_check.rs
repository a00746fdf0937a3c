//! The Hessian as a consistency check of a cell's label, reported beside it and never an input
//! to it (SPEC §4, rule 6): the poorly trained phases I and II sit in sharp regions (large top
//! eigenvalue and trace), III and IV in flat ones.
//!
//! "Large" has no absolute scale (a PINN's trace and a ResNet's differ by decades), so it is
//! relative to the zoo: a value above the median of the grid's measured cells is large. In a zoo
//! whose cells are all of one kind the median splits them anyway, so read a disagreement there
//! with the cell's distance to the median (in decades) in mind.

use serde::Serialize;

use crate::explain::num;
use crate::{GridCell, LabelledGrid, Phase};

/// Sharp or flat, by the top eigenvalue and the trace against the zoo's medians.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sharpness {
    /// Above the median (every value the cell has).
    Sharp,
    /// At or below the median.
    Flat,
    /// The top eigenvalue and the trace fall on different sides: no verdict.
    Mixed,
}

impl Sharpness {
    fn word(self) -> &'static str {
        match self {
            Self::Sharp => "sharp",
            Self::Flat => "flat",
            Self::Mixed => "mixed",
        }
    }

    /// What the taxonomy expects of a phase.
    #[must_use]
    pub fn expected(phase: Phase) -> Self {
        match phase {
            Phase::I | Phase::II => Self::Sharp,
            Phase::III | Phase::IVA | Phase::IVB => Self::Flat,
        }
    }
}

/// One Hessian value of a cell against the zoo's median of it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AgainstMedian {
    /// The cell's seed mean.
    pub value: f64,
    /// The median over the grid's cells that have the value; `None` with fewer than two.
    pub median: Option<f64>,
}

impl AgainstMedian {
    fn above(&self) -> Option<bool> {
        self.median.map(|m| self.value > m)
    }

    /// `12.3 above zoo median 4.5 (+0.44 decades)`; decades only when both are positive.
    fn text(&self, median_name: &str) -> String {
        let Some(m) = self.median else { return num(self.value) };
        let side = if self.value > m { "above" } else { "at or below" };
        let decades = if self.value > 0.0 && m > 0.0 {
            format!(" ({:+.2} decades)", (self.value / m).log10())
        } else {
            String::new()
        };
        format!("{} {side} {median_name} {}{decades}", num(self.value), num(m))
    }
}

/// A cell's Hessian check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HessianCheck {
    /// Top eigenvalue (train set).
    pub top_ev: Option<AgainstMedian>,
    /// Trace (train set).
    pub trace: Option<AgainstMedian>,
    /// Sharp or flat; `None` when no value has a median to compare with.
    pub sharpness: Option<Sharpness>,
    /// The cell's Yang et al. phase, if it has one.
    pub phase: Option<Phase>,
    /// What that phase expects.
    pub expected: Option<Sharpness>,
    /// Whether the Hessian agrees with the phase; `None` without a phase or a clear sharpness.
    pub agrees: Option<bool>,
}

impl HessianCheck {
    /// `Hessian (train): λ_max … , trace …: sharp; I expects sharp: agrees`.
    #[must_use]
    pub fn line(&self) -> String {
        let mut values = Vec::new();
        if let Some(v) = &self.top_ev {
            values.push(format!("λ_max {}", v.text("zoo median")));
        }
        if let Some(v) = &self.trace {
            values.push(format!("trace {}", v.text("median")));
        }
        let verdict = match (self.sharpness, self.phase, self.expected, self.agrees) {
            (None, ..) => "fewer than two measured cells: nothing to compare with".to_string(),
            (Some(Sharpness::Mixed), ..) => {
                "mixed (λ_max and trace on different sides): no verdict".to_string()
            }
            (Some(s), Some(p), Some(e), Some(agrees)) => format!(
                "{}; {} expects {}: {}",
                s.word(),
                p.code(),
                e.word(),
                if agrees { "agrees" } else { "disagrees" }
            ),
            (Some(s), ..) => format!("{}; no phase to check", s.word()),
        };
        format!("Hessian (train): {}: {verdict}", values.join(", "))
    }
}

/// The median of `values`, `None` for fewer than two.
fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.len() < 2 {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 { values[n / 2] } else { 0.5 * (values[n / 2 - 1] + values[n / 2]) })
}

/// The check of `cell` in `grid`: its train-set top eigenvalue and trace against the medians of
/// the grid's cells, and what its Yang et al. phase expects. `None` when the cell has neither.
#[must_use]
pub fn hessian_check(cell: &GridCell, grid: &LabelledGrid) -> Option<HessianCheck> {
    let against = |f: fn(&GridCell) -> Option<f64>| {
        let value = f(cell)?;
        Some(AgainstMedian { value, median: median(grid.cells.iter().filter_map(f).collect()) })
    };
    let top_ev = against(|c| c.hessian_top_ev);
    let trace = against(|c| c.hessian_trace);
    if top_ev.is_none() && trace.is_none() {
        return None;
    }
    let sides: Vec<bool> = [top_ev, trace].iter().flatten().filter_map(AgainstMedian::above).collect();
    let sharpness = match (sides.iter().all(|a| *a), sides.iter().any(|a| *a)) {
        _ if sides.is_empty() => None,
        (true, _) => Some(Sharpness::Sharp),
        (false, false) => Some(Sharpness::Flat),
        (false, true) => Some(Sharpness::Mixed),
    };
    let phase = cell.yang.as_ref().and_then(|y| y.phase);
    let expected = phase.map(Sharpness::expected);
    let agrees = match (sharpness, expected) {
        (Some(Sharpness::Mixed) | None, _) | (_, None) => None,
        (Some(s), Some(e)) => Some(s == e),
    };
    Some(HessianCheck { top_ev, trace, sharpness, phase, expected, agrees })
}

#[cfg(test)]
mod tests {
    use pz_spec::PhaseThresholds;
    use pz_store::MetricKey::{Cka, HessianTopEv, HessianTrace, McTrainLoss};
    use pz_store::ModelState::Done;

    use super::*;
    use crate::testzoo::{model, write};
    use crate::{label_grid, label_zoo, ZooView};

    /// beta = 1: loss 0.5, connected, CKA 0.875 (IV-B); beta = 20: loss 2, barrier (I). Each
    /// cell's three seeds share their Hessian values (λ_max, trace).
    fn zoo(dir: &std::path::Path, low_loss: (f64, f64), high_loss: (f64, f64)) -> LabelledGrid {
        let iv_b = [(Cka, 0.875), (McTrainLoss, 0.0), (HessianTopEv, low_loss.0), (HessianTrace, low_loss.1)];
        let i = [(Cka, 0.5), (McTrainLoss, -0.5), (HessianTopEv, high_loss.0), (HessianTrace, high_loss.1)];
        let phases = ["phases.train_loss=1.0", "phases.mc_epsilon=0.1", "phases.cka=0.7"];
        let a = || model(Done, Some((0.5, 0.1)), &iv_b);
        let b = || model(Done, Some((2.0, 0.5)), &i);
        write(dir, &phases, &[a(), a(), a(), b(), b(), b()]);
        label_zoo(&ZooView::open(dir).unwrap())
    }

    #[test]
    fn a_zoos_hessian_is_checked_against_each_label_and_never_changes_it() {
        let dir = tempfile::tempdir().unwrap();
        let grid = zoo(dir.path(), (2.0, 10.0), (50.0, 400.0));
        assert_eq!(grid.phases(), [vec![Some(Phase::IVB), Some(Phase::I)]]);
        let checks: Vec<HessianCheck> = grid.cells.iter().map(|c| hessian_check(c, &grid).unwrap()).collect();
        // Medians of the two cells: λ_max (2 + 50) / 2 = 26, trace (10 + 400) / 2 = 205.
        assert_eq!(checks[0].top_ev, Some(AgainstMedian { value: 2.0, median: Some(26.0) }));
        assert_eq!(
            checks[0].line(),
            "Hessian (train): λ_max 2 at or below zoo median 26 (-1.11 decades), trace 10 at or below \
             median 205 (-1.31 decades): flat; IV-B expects flat: agrees"
        );
        assert_eq!(
            checks[1].line(),
            "Hessian (train): λ_max 50 above zoo median 26 (+0.28 decades), trace 400 above median 205 \
             (+0.29 decades): sharp; I expects sharp: agrees"
        );

        // The same zoo with the Hessians swapped: same labels, both checks disagree.
        let dir = tempfile::tempdir().unwrap();
        let swapped = zoo(dir.path(), (50.0, 400.0), (2.0, 10.0));
        assert_eq!(swapped.phases(), grid.phases());
        let agree: Vec<Option<bool>> =
            swapped.cells.iter().map(|c| hessian_check(c, &swapped).unwrap().agrees).collect();
        assert_eq!(agree, [Some(false), Some(false)]);
        assert!(hessian_check(&swapped.cells[1], &swapped)
            .unwrap()
            .line()
            .ends_with("flat; I expects sharp: disagrees"));
    }

    fn cell(load: f64, train_loss: f64, mc: f64, hessian: (Option<f64>, Option<f64>)) -> GridCell {
        GridCell {
            load,
            temperature: 1.0,
            train_loss: Some(train_loss),
            mc: Some(mc),
            cka: Some(0.9),
            mc_scale: None,
            curve_converged: None,
            hessian_top_ev: hessian.0,
            hessian_trace: hessian.1,
            yang: None,
            first: None,
        }
    }

    #[test]
    fn mixed_signals_missing_phases_and_lone_cells_give_no_verdict() {
        let t = PhaseThresholds { train_loss: 0.1, mc_epsilon: 1.0, cka: 0.8, ..PhaseThresholds::default() };
        // Medians over the measured cells: λ_max (2 + 9) / 2 = 5.5, trace (2 + 3) / 2 = 2.5.
        let cells = vec![
            cell(1.0, 0.9, -5.0, (Some(9.0), Some(1.0))), // I; λ_max above, trace below: mixed
            cell(2.0, 0.9, 0.0, (Some(10.0), Some(9.0))), // high loss, connected: no phase
            cell(3.0, 0.01, 0.0, (Some(1.0), Some(2.0))), // IV-B, flat
            cell(4.0, 0.01, 0.0, (Some(2.0), Some(3.0))), // IV-B, mixed
            cell(5.0, 0.01, 0.0, (None, None)),           // not measured
        ];
        let grid = label_grid("a", "b", vec![1.0, 2.0, 3.0, 4.0, 5.0], vec![1.0], cells, t.clone());
        let check = |i: usize| hessian_check(&grid.cells[i], &grid);
        assert_eq!(check(0).unwrap().sharpness, Some(Sharpness::Mixed));
        assert_eq!(check(0).unwrap().agrees, None);
        assert!(check(0).unwrap().line().ends_with("mixed (λ_max and trace on different sides): no verdict"));
        assert!(
            check(1).unwrap().line().ends_with(": sharp; no phase to check"),
            "{}",
            check(1).unwrap().line()
        );
        assert_eq!(check(2).unwrap().agrees, Some(true));
        assert_eq!(check(3).unwrap().sharpness, Some(Sharpness::Mixed));
        assert_eq!(check(4), None);
        // A lone measured cell has no median to stand against.
        let lone =
            label_grid("a", "b", vec![1.0], vec![1.0], vec![cell(1.0, 0.9, -5.0, (Some(3.0), None))], t);
        let c = hessian_check(&lone.cells[0], &lone).unwrap();
        assert_eq!((c.sharpness, c.agrees), (None, None));
        assert_eq!(
            c.line(),
            "Hessian (train): λ_max 3: fewer than two measured cells: nothing to compare with"
        );
    }
}
