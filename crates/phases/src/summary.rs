//! The grid of a published PTMZ summary table (`phasezoo phases --summary FILE.csv`, SPEC §2.5):
//! width is the load, batch size the temperature, seed means over the analysis-epoch rows.

use std::collections::BTreeMap;
use std::path::Path;

use pz_spec::PhaseThresholds;
use pz_store::{read_ptmz_summary, PtmzSummaryRow};

use crate::{label_grid, Error, GridCell, LabelledGrid, Result};

/// The summary's mode-connectivity column: mc of train error, in percentage points.
pub const PTMZ_MC_METRIC: &str = "curve_mc_train_error";

/// Thresholds for a summary table: its mc column is [`PTMZ_MC_METRIC`].
#[must_use]
pub fn ptmz_thresholds(train_loss: f64, mc_epsilon: f64, cka: f64) -> PhaseThresholds {
    PhaseThresholds {
        train_loss,
        mc_metric: PTMZ_MC_METRIC.into(),
        mc_epsilon,
        cka,
        ..PhaseThresholds::default()
    }
}

/// Read the summary at `csv` and label its grid.
///
/// # Errors
/// An unreadable table, or [`Error::NoLandscapeMetrics`] when no row has them.
pub fn label_summary(csv: &Path, thresholds: PhaseThresholds) -> Result<LabelledGrid> {
    let rows = read_ptmz_summary(csv)?;
    summary_grid(&rows, thresholds).ok_or_else(|| Error::NoLandscapeMetrics { path: csv.into() })
}

/// The labelled grid of summary rows; `None` when no row has landscape metrics.
fn summary_grid(rows: &[PtmzSummaryRow], thresholds: PhaseThresholds) -> Option<LabelledGrid> {
    // Sums and counts per (width, batch size) of train loss, mc, CKA and ln Hessian trace over
    // the analysis-epoch rows (those with metrics).
    let mut sums: BTreeMap<(u64, u64), [(f64, usize); 4]> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.has_metrics()) {
        let entry = sums.entry((r.width.to_bits(), r.batchsize.to_bits())).or_default();
        let values =
            [r.train_loss, r.curve_mc_train_error, r.representation_similarity, r.log_hessian_trace_train];
        for (slot, v) in entry.iter_mut().zip(values) {
            if let Some(v) = v {
                slot.0 += v;
                slot.1 += 1;
            }
        }
    }
    if sums.is_empty() {
        return None;
    }
    let sorted = |f: fn(&(u64, u64)) -> u64| {
        let mut v: Vec<f64> = sums.keys().map(|k| f64::from_bits(f(k))).collect();
        v.sort_by(f64::total_cmp);
        v.dedup();
        v
    };
    let (loads, temperatures) = (sorted(|k| k.0), sorted(|k| k.1));
    #[allow(clippy::cast_precision_loss)]
    let mean = |(s, n): (f64, usize)| (n > 0).then(|| s / n as f64);
    let mut cells = Vec::new();
    for tv in &temperatures {
        for lv in &loads {
            let e = sums.get(&(lv.to_bits(), tv.to_bits())).copied().unwrap_or_default();
            cells.push(GridCell {
                load: *lv,
                temperature: *tv,
                train_loss: mean(e[0]),
                mc: mean(e[1]),
                cka: mean(e[2]),
                mc_scale: None, // PTMZ's mc is of train error: an absolute dead zone
                curve_converged: None,
                // The summary publishes ln of the trace (train set) and no train-set λ_max.
                hessian_top_ev: None,
                hessian_trace: mean(e[3]).map(f64::exp),
                yang: None,
                first: None,
            });
        }
    }
    Some(label_grid("width", "batchsize", loads, temperatures, cells, thresholds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Phase;

    fn row(
        width: f64,
        batchsize: f64,
        seed: u64,
        loss: f64,
        mc: Option<f64>,
        cka: Option<f64>,
    ) -> PtmzSummaryRow {
        PtmzSummaryRow {
            model: format!("w{width}b{batchsize}s{seed}"),
            width,
            seed,
            batchsize,
            epoch: 115,
            train_loss: Some(loss),
            test_acc: Some(0.8),
            representation_similarity: cka,
            curve_mc_train_error: mc,
            curve_mc_test_error: mc,
            log_hessian_trace_train: None,
            log_hessian_top_ev_val: None,
        }
    }

    #[test]
    fn seed_means_over_the_analysis_epoch_rows_label_each_cell() {
        let mut rows = vec![
            // Epoch-0 style row without metrics: ignored.
            row(2.0, 8.0, 0, 2.3, None, None),
            // (2, 8): losses 0.8 and 1.0, mc -19 and -21, CKA 0.6 and 0.8 → means 0.9, -20, 0.7: I.
            row(2.0, 8.0, 0, 0.8, Some(-19.0), Some(0.6)),
            row(2.0, 8.0, 1, 1.0, Some(-21.0), Some(0.8)),
            // (64, 8): one seed, IV-B.
            row(64.0, 8.0, 0, 0.02, Some(-0.8), Some(0.92)),
        ];
        // ln trace 5 and 7 at (2, 8): the cell's trace for the Hessian check is e^6.
        (rows[1].log_hessian_trace_train, rows[2].log_hessian_trace_train) = (Some(5.0), Some(7.0));
        let g = summary_grid(&rows, ptmz_thresholds(0.1, 1.5, 0.8)).unwrap();
        assert!((g.cells[0].hessian_trace.unwrap() - 6f64.exp()).abs() < 1e-12);
        assert_eq!((g.cells[0].hessian_top_ev, g.cells[1].hessian_trace), (None, None));
        assert_eq!(
            (g.loads.as_slice(), g.temperatures.as_slice()),
            ([2.0, 64.0].as_slice(), [8.0].as_slice())
        );
        let c = &g.cells[0];
        assert!((c.train_loss.unwrap() - 0.9).abs() < 1e-15);
        assert_eq!(c.mc, Some(-20.0));
        assert!((c.cka.unwrap() - 0.7).abs() < 1e-15);
        assert_eq!(g.phases(), [vec![Some(Phase::I), Some(Phase::IVB)]]);
        assert_eq!(g.thresholds.mc_metric, PTMZ_MC_METRIC);
    }

    #[test]
    fn a_table_without_metrics_has_no_grid() {
        assert_eq!(summary_grid(&[row(2.0, 8.0, 0, 2.3, None, None)], ptmz_thresholds(0.1, 1.5, 0.8)), None);
    }
}
