//! A grid of cells labelled at once: τ_L resolved over the whole grid, then the Yang et al.
//! phase of every cell once mode connectivity is known, first labels before that.

use pz_spec::PhaseThresholds;
use pz_store::MetricKey;
use serde::Serialize;

use crate::yang::mc_scale_field;
use crate::{
    label_cell, label_cell_yang, loss_threshold, CellLabel, CellMetrics, Phase, PhaseLabel, ZooView,
};

/// One cell of a grid: its seed means and labels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GridCell {
    /// Load value.
    pub load: f64,
    /// Temperature value.
    pub temperature: f64,
    /// Seed-mean train loss (`None`: no finished model).
    pub train_loss: Option<f64>,
    /// Seed-mean mode connectivity of `[phases] mc_metric`.
    pub mc: Option<f64>,
    /// Seed-mean CKA.
    pub cka: Option<f64>,
    /// Seed-mean loss that scales a relative mc dead zone (`yang::mc_scale_field`).
    pub mc_scale: Option<f64>,
    /// The share of the cell's seed pairs whose curve training converged (`curve_converged`);
    /// below 1, the cell's mc is flagged as unreliable.
    pub curve_converged: Option<f64>,
    /// Seed-mean Hessian top eigenvalue (train set): reported beside the label
    /// ([`crate::hessian_check`]), not used by it.
    pub hessian_top_ev: Option<f64>,
    /// Seed-mean Hessian trace (train set), as `hessian_top_ev`.
    pub hessian_trace: Option<f64>,
    /// The Yang et al. label, when mode connectivity is known somewhere in the grid.
    pub yang: Option<PhaseLabel>,
    /// The first label (train loss and test error), for zoos.
    pub first: Option<CellLabel>,
}

impl GridCell {
    /// The cell in a printed grid: its phase, `?` when the Yang rule gives none, else the first
    /// label, else `-`.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match (&self.yang, &self.first) {
            (Some(y), _) => y.phase.map_or("?", Phase::code),
            (None, Some(f)) => f.label.code(),
            (None, None) => "-",
        }
    }
}

/// A labelled grid: cells row by row, rows = temperature values, columns = load values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelledGrid {
    /// Load axis short name (columns).
    pub load_name: String,
    /// Temperature axis short name (rows).
    pub temperature_name: String,
    /// Load values, column order.
    pub loads: Vec<f64>,
    /// Temperature values, row order.
    pub temperatures: Vec<f64>,
    /// `loads.len()` cells per temperature, in row order.
    pub cells: Vec<GridCell>,
    /// The thresholds used.
    pub thresholds: PhaseThresholds,
    /// τ_L resolved over the grid ([`loss_threshold`]).
    pub loss_threshold: f64,
}

impl LabelledGrid {
    /// The cells of each temperature, row order.
    pub fn rows(&self) -> impl Iterator<Item = (f64, &[GridCell])> {
        self.temperatures.iter().copied().zip(self.cells.chunks(self.loads.len().max(1)))
    }

    /// Whether any cell has a Yang et al. label (else the grid shows first labels).
    #[must_use]
    pub fn has_yang(&self) -> bool {
        self.cells.iter().any(|c| c.yang.is_some())
    }

    /// The cells the Yang rule labels with a reason instead of a phase.
    pub fn unclear(&self) -> impl Iterator<Item = (&GridCell, &str)> {
        self.cells.iter().filter_map(|c| {
            let y = c.yang.as_ref()?;
            y.phase.is_none().then_some((c, y.reason.as_str()))
        })
    }

    /// The phase of every cell, `[temperature][load]`; `None` where a cell has none (not
    /// measured, or outside the taxonomy).
    #[must_use]
    pub fn phases(&self) -> Vec<Vec<Option<Phase>>> {
        self.rows().map(|(_, row)| row.iter().map(|c| c.yang.as_ref()?.phase).collect()).collect()
    }
}

/// Resolve τ_L over the cells' train losses and give every cell with a train loss its Yang et
/// al. label, provided some cell has mode connectivity (else the cells keep their first labels).
/// `cells` are row by row: `loads.len()` per temperature.
#[must_use]
pub fn label_grid(
    load_name: &str,
    temperature_name: &str,
    loads: Vec<f64>,
    temperatures: Vec<f64>,
    mut cells: Vec<GridCell>,
    thresholds: PhaseThresholds,
) -> LabelledGrid {
    let losses: Vec<f64> = cells.iter().filter_map(|c| c.train_loss).collect();
    let tau = loss_threshold(&thresholds, &losses);
    let any_mc = cells.iter().any(|c| c.mc.is_some());
    for c in &mut cells {
        if let (Some(train_loss), true) = (c.train_loss, any_mc) {
            c.yang = Some(label_cell_yang(
                &CellMetrics { train_loss, mc: c.mc, cka: c.cka, mc_scale: c.mc_scale },
                &thresholds,
                tau,
            ));
        }
    }
    LabelledGrid {
        load_name: load_name.to_string(),
        temperature_name: temperature_name.to_string(),
        loads,
        temperatures,
        cells,
        thresholds,
        loss_threshold: tau,
    }
}

/// Label a zoo's grid from its seed means (final train loss and test error of the finished
/// models, the newest measured `[phases] mc_metric` and CKA) with the spec's `[phases]`; the
/// cells carry their Hessian values for the consistency check.
#[must_use]
pub fn label_zoo(view: &ZooView) -> LabelledGrid {
    let spec = &view.zoo.spec;
    let (g, t) = (&spec.grid, spec.phases.clone());
    let mc = view.metric_grid(&t.mc_metric);
    let cka = view.metric_grid(MetricKey::Cka.as_str());
    let converged = view.metric_grid(MetricKey::CurveConverged.as_str());
    let top_ev = view.metric_grid(MetricKey::HessianTopEv.as_str());
    let trace = view.metric_grid(MetricKey::HessianTrace.as_str());
    let mut cells = Vec::new();
    for (ti, tv) in g.temperature.values.iter().enumerate() {
        for (li, lv) in g.load.values.iter().enumerate() {
            let loss = view.cell_mean(li, ti, |r| r.train_loss);
            let error = view.cell_mean(li, ti, |r| r.test_error);
            let mc_scale = match mc_scale_field(&t.mc_metric) {
                Some("train_loss") => loss,
                Some(_) => view.cell_mean(li, ti, |r| r.test_loss),
                None => None,
            };
            cells.push(GridCell {
                load: *lv,
                temperature: *tv,
                train_loss: loss,
                mc: mc[ti][li],
                cka: cka[ti][li],
                mc_scale,
                curve_converged: converged[ti][li],
                hessian_top_ev: top_ev[ti][li],
                hessian_trace: trace[ti][li],
                yang: None,
                first: loss.zip(error).and_then(|(l, e)| label_cell(l, e, &t)),
            });
        }
    }
    label_grid(
        g.load.short_name(),
        g.temperature.short_name(),
        g.load.values.clone(),
        g.temperature.values.clone(),
        cells,
        t,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(load: f64, temperature: f64, train_loss: f64, mc: Option<f64>, cka: f64) -> GridCell {
        GridCell {
            load,
            temperature,
            train_loss: Some(train_loss),
            mc,
            cka: Some(cka),
            mc_scale: None,
            curve_converged: None,
            hessian_top_ev: None,
            hessian_trace: None,
            yang: None,
            first: None,
        }
    }

    fn t() -> PhaseThresholds {
        PhaseThresholds { train_loss: 0.1, mc_epsilon: 1.5, cka: 0.8, ..PhaseThresholds::default() }
    }

    #[test]
    fn a_two_by_three_grid_gets_its_phases_row_by_row() {
        // rows: temperature 8, 128; columns: load 2, 8, 64.
        let cells = vec![
            cell(2.0, 8.0, 0.9, Some(-20.0), 0.7),     // I
            cell(8.0, 8.0, 0.6, Some(12.0), 0.7),      // II
            cell(64.0, 8.0, 0.9, Some(0.3), 0.7),      // high loss, connected: no phase
            cell(2.0, 128.0, 0.01, Some(-15.0), 0.85), // III
            cell(8.0, 128.0, 0.001, Some(0.5), 0.7),   // IV-A
            cell(64.0, 128.0, 0.02, Some(-0.8), 0.92), // IV-B
        ];
        let g = label_grid("width", "batchsize", vec![2.0, 8.0, 64.0], vec![8.0, 128.0], cells, t());
        assert!(g.has_yang());
        assert_eq!(
            g.phases(),
            [
                vec![Some(Phase::I), Some(Phase::II), None],
                vec![Some(Phase::III), Some(Phase::IVA), Some(Phase::IVB)]
            ]
        );
        let codes: Vec<Vec<&str>> = g.rows().map(|(_, r)| r.iter().map(GridCell::code).collect()).collect();
        assert_eq!(codes, [["I", "II", "?"], ["III", "IV-A", "IV-B"]]);
        let unclear: Vec<(f64, f64)> = g.unclear().map(|(c, _)| (c.load, c.temperature)).collect();
        assert_eq!(unclear, [(64.0, 8.0)]);
        assert!(g.unclear().next().unwrap().1.contains("between I and II"));
        assert_eq!(g.loss_threshold, 0.1);
    }

    #[test]
    fn without_mode_connectivity_cells_keep_their_first_labels() {
        let mut cells = vec![cell(1.0, 0.01, 1e-4, None, 0.9), cell(20.0, 0.01, 0.5, None, 0.9)];
        cells[0].first = label_cell(1e-4, 0.01, &t());
        let g = label_grid("beta", "lr", vec![1.0, 20.0], vec![0.01], cells, t());
        assert!(!g.has_yang());
        assert_eq!(g.cells[0].code(), "fit+solved");
        assert_eq!(g.cells[1].code(), "-");
        assert_eq!(g.phases(), [vec![None, None]]);
    }

    #[test]
    fn a_relative_threshold_is_resolved_over_the_whole_grid() {
        let rel = PhaseThresholds { train_loss_relative: Some(10.0), ..t() };
        let cells = vec![cell(1.0, 1.0, 0.002, Some(0.0), 0.9), cell(2.0, 1.0, 0.05, Some(0.0), 0.9)];
        let g = label_grid("a", "b", vec![1.0, 2.0], vec![1.0], cells, rel);
        assert!((g.loss_threshold - 0.02).abs() < 1e-15);
        assert_eq!(g.phases(), [vec![Some(Phase::IVB), None]]); // 0.05 > 0.02: high loss, connected
    }
}
