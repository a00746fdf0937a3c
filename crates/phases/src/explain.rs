//! Why a cell got its label, in words: the values, the thresholds they were compared with and
//! the margins, so that a reader of `phasezoo phases` (and the report) can check every label,
//! and which phases a zoo covers.

use crate::{GridCell, LabelledGrid, Phase};

/// Every phase, in the taxonomy's order.
const PHASES: [Phase; 5] = [Phase::I, Phase::II, Phase::III, Phase::IVA, Phase::IVB];

/// A number in 3 significant digits (scientific outside 1e-3 … 1e4).
pub(crate) fn num(x: f64) -> String {
    if x != 0.0 && !(1e-3..1e4).contains(&x.abs()) {
        format!("{x:.2e}")
    } else {
        format!("{}", (x * 1e3).round() / 1e3)
    }
}

/// One line per cell with a Yang label: `phase: loss … vs τ_L …; mc … vs ±ε …; CKA … vs τ …`
/// with signed margins (loss in decades, mc beyond the dead zone, CKA above the split), or
/// the reason it has none. `None` for a cell without a Yang label.
#[must_use]
pub fn explain_cell(cell: &GridCell, grid: &LabelledGrid) -> Option<String> {
    let label = cell.yang.as_ref()?;
    let t = &grid.thresholds;
    let head = label.phase.map_or_else(|| format!("no phase ({})", label.reason), |p| p.code().to_string());
    let mut parts = Vec::new();
    if let Some(loss) = cell.train_loss {
        let side = if loss > label.loss_threshold { "high" } else { "low" };
        parts.push(format!(
            "train loss {} {side} vs τ_L {} ({:+.2} decades)",
            num(loss),
            num(label.loss_threshold),
            label.margins.train_loss
        ));
    }
    if let (Some(mc), Some(margin)) = (cell.mc, label.margins.mc) {
        let side = if mc < -label.mc_epsilon {
            "barrier"
        } else if mc > label.mc_epsilon {
            "under-trained ends"
        } else {
            "connected"
        };
        let relative = match (t.mc_epsilon_relative, cell.mc_scale) {
            (Some(k), Some(scale)) if label.mc_epsilon != t.mc_epsilon => {
                format!(" = {k} × loss {}", num(scale))
            }
            _ => String::new(),
        };
        parts.push(format!(
            "{} {} {side} vs ±ε {}{relative} (|mc| − ε {})",
            t.mc_metric,
            num(mc),
            num(label.mc_epsilon),
            num(margin)
        ));
    }
    if let (Some(cka), Some(margin)) = (cell.cka, label.margins.cka) {
        parts.push(format!("CKA {} vs τ_CKA {} ({:+.3})", num(cka), num(t.cka), margin));
    }
    let flag = match cell.curve_converged {
        Some(share) if share < 1.0 => format!(
            " [mc unreliable: the curve training of {:.0} % of the seed pairs was still falling]",
            100.0 * (1.0 - share)
        ),
        _ => String::new(),
    };
    Some(format!("{head}: {}{flag}", parts.join("; ")))
}

/// (covered, missing) phases of the grid's Yang labels, in the taxonomy's order.
#[must_use]
pub fn coverage(grid: &LabelledGrid) -> (Vec<Phase>, Vec<Phase>) {
    let found: Vec<Phase> = grid.cells.iter().filter_map(|c| c.yang.as_ref()?.phase).collect();
    PHASES.iter().partition(|p| found.contains(p))
}

#[cfg(test)]
mod tests {
    use pz_spec::PhaseThresholds;

    use super::*;
    use crate::label_grid;

    fn cell(load: f64, train_loss: f64, mc: f64, cka: f64) -> GridCell {
        GridCell {
            load,
            temperature: 8.0,
            train_loss: Some(train_loss),
            mc: Some(mc),
            cka: Some(cka),
            mc_scale: Some(train_loss),
            curve_converged: Some(1.0),
            hessian_top_ev: None,
            hessian_trace: None,
            yang: None,
            first: None,
        }
    }

    #[test]
    fn every_number_that_decided_a_label_is_in_its_line_and_coverage_lists_the_phases() {
        let t = PhaseThresholds {
            train_loss: 0.1,
            mc_metric: "mc_train_error".into(),
            mc_epsilon: 1.5,
            cka: 0.8,
            ..PhaseThresholds::default()
        };
        let cells = vec![cell(2.0, 0.9, -20.0, 0.7), cell(64.0, 0.01, 0.5, 0.93), cell(128.0, 0.9, 0.0, 0.9)];
        let grid = label_grid("width", "batch_size", vec![2.0, 64.0, 128.0], vec![8.0], cells, t);
        let lines: Vec<String> = grid.cells.iter().map(|c| explain_cell(c, &grid).unwrap()).collect();
        assert_eq!(
            lines[0],
            "I: train loss 0.9 high vs τ_L 0.1 (+0.95 decades); mc_train_error -20 barrier vs ±ε 1.5 \
             (|mc| − ε 18.5); CKA 0.7 vs τ_CKA 0.8 (-0.100)"
        );
        assert!(
            lines[1].starts_with("IV-B: train loss 0.01 low") && lines[1].contains("0.5 connected"),
            "{}",
            lines[1]
        );
        assert!(lines[2].starts_with("no phase (high loss but connected"), "{}", lines[2]);
        let (covered, missing) = coverage(&grid);
        assert_eq!((covered, missing), (vec![Phase::I, Phase::IVB], vec![Phase::II, Phase::III, Phase::IVA]));
        let header = crate::yang_text(&grid);
        assert!(
            header.starts_with(
                "Yang et al. phases: train loss > 0.1 = high; mc (mc_train_error) beyond ±1.5 = "
            ),
            "{header}"
        );
    }

    #[test]
    fn a_relative_dead_zone_is_shown_with_its_scale() {
        let t = PhaseThresholds {
            mc_metric: "mc_train_loss".into(),
            mc_epsilon_relative: Some(0.1),
            train_loss: 1e-2,
            ..PhaseThresholds::default()
        };
        let grid = label_grid("beta", "lr", vec![1.0], vec![8.0], vec![cell(1.0, 2e-4, -1e-4, 0.95)], t);
        let line = explain_cell(&grid.cells[0], &grid).unwrap();
        assert!(line.contains("±ε 2.00e-5 = 0.1 × loss 2.00e-4"), "{line}");
        assert!(line.starts_with("III:") && !line.contains("unreliable"), "{line}");
        // The rule's header states the relative dead zone, not the unused absolute ε.
        let header = crate::yang_text(&grid);
        assert!(
            header.contains("mc (mc_train_loss) beyond ±0.1 × the cell's train_loss = barrier"),
            "{header}"
        );
        let mut grid = grid;
        grid.cells[0].curve_converged = Some(0.5);
        let line = explain_cell(&grid.cells[0], &grid).unwrap();
        assert!(
            line.ends_with("[mc unreliable: the curve training of 50 % of the seed pairs was still falling]"),
            "{line}"
        );
    }
}
