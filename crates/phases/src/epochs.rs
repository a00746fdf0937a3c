//! The per-epoch index (`index_epochs.csv`, `index.parquet`) with each cell's phase at each
//! epoch, rewritten after training and measuring.

use std::collections::BTreeMap;

use pz_spec::{PhaseThresholds, Plan};
use pz_store::{
    collect_epoch_rows, collect_rows, write_epoch_index, write_index, EpochIndexRow, MetricKey, ZooDir,
};

use crate::view::mean;
use crate::yang::mc_scale_field;
use crate::{label_cell_yang, loss_threshold, CellMetrics, Result};

/// A cell at an epoch: (load value bits, temperature value bits, epoch).
type CellKey = (u64, u64, u32);

/// Set the `phase` of every row whose cell had its mode connectivity (`t.mc_metric`) measured at
/// the row's epoch: the Yang et al. phase of the cell's seed means, τ_L resolved over the cells
/// measured at that epoch. Other rows keep their phase.
pub fn label_epoch_rows(rows: &mut [EpochIndexRow], t: &PhaseThresholds) {
    // (load, temperature, epoch) → row indices
    let mut cells: BTreeMap<CellKey, Vec<usize>> = BTreeMap::new();
    for (i, r) in rows.iter().enumerate() {
        cells.entry((r.load_value.to_bits(), r.temperature_value.to_bits(), r.epoch)).or_default().push(i);
    }
    let mut by_epoch: BTreeMap<u32, Vec<(CellKey, CellMetrics)>> = BTreeMap::new();
    for (key, members) in &cells {
        let of =
            |f: &dyn Fn(&EpochIndexRow) -> Option<f64>| mean(members.iter().filter_map(|&i| f(&rows[i])));
        let mc = of(&|r| r.metrics.get(&t.mc_metric).copied());
        let (Some(train_loss), Some(mc)) = (of(&|r| r.train_loss), mc) else { continue };
        let cka = of(&|r| r.metrics.get(MetricKey::Cka.as_str()).copied());
        let mc_scale = match mc_scale_field(&t.mc_metric) {
            Some("train_loss") => Some(train_loss),
            Some(_) => of(&|r| r.test_loss),
            None => None,
        };
        by_epoch
            .entry(key.2)
            .or_default()
            .push((*key, CellMetrics { train_loss, mc: Some(mc), cka, mc_scale }));
    }
    for measured in by_epoch.values() {
        let losses: Vec<f64> = measured.iter().map(|(_, c)| c.train_loss).collect();
        let tau = loss_threshold(t, &losses);
        for (key, cell) in measured {
            if let Some(phase) = label_cell_yang(cell, t, tau).phase {
                for &i in &cells[key] {
                    rows[i].phase = Some(phase.code().to_string());
                }
            }
        }
    }
}

/// Collect every model's epochs, label them ([`label_epoch_rows`], the spec's `[phases]`) and
/// write `index_epochs.csv` and `index.parquet` into the zoo folder.
///
/// # Errors
/// Malformed model files; the index not writable.
pub fn write_labelled_index(zoo: &ZooDir, plan: &Plan) -> Result<()> {
    let mut rows = collect_epoch_rows(zoo, plan)?;
    label_epoch_rows(&mut rows, &zoo.spec.phases);
    write_epoch_index(&zoo.path, &rows)?;
    Ok(())
}

/// Both indexes after training: `index.csv` (each model's last epoch, issue 2's shape) and the
/// labelled per-epoch index ([`write_labelled_index`]), in that order.
///
/// # Errors
/// As [`write_labelled_index`].
pub fn write_indexes(zoo: &ZooDir, plan: &Plan) -> Result<()> {
    write_index(&zoo.index_path(), &collect_rows(zoo, plan)?)?;
    write_labelled_index(zoo, plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(load: f64, seed: u64, epoch: u32, train_loss: f64, metrics: &[(MetricKey, f64)]) -> EpochIndexRow {
        EpochIndexRow {
            model_id: format!("m{load}-{seed}"),
            load_name: "beta".into(),
            load_value: load,
            temperature_name: "lr".into(),
            temperature_value: 0.01,
            seed,
            status: "done".into(),
            epoch,
            step: u64::from(epoch) * 10,
            train_loss: Some(train_loss),
            test_loss: None,
            test_error: None,
            results: BTreeMap::new(),
            metrics: metrics.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            phase: None,
        }
    }

    fn t() -> PhaseThresholds {
        PhaseThresholds {
            train_loss: 0.1,
            mc_metric: MetricKey::McTrainLoss.to_string(),
            mc_epsilon: 1e-3,
            cka: 0.9,
            ..PhaseThresholds::default()
        }
    }

    #[test]
    fn cells_are_labelled_from_seed_means_at_the_epochs_with_mode_connectivity() {
        use MetricKey::{Cka, McTrainLoss};
        let mut rows = vec![
            // Epoch 1 of both cells: not measured, no phase.
            row(1.0, 0, 1, 0.5, &[]),
            row(1.0, 1, 1, 0.5, &[]),
            // load 1, epoch 2: losses 0.04 and 0.08 → 0.06 (low), mc 0 (connected), CKA
            // 0.95 and 0.93 → 0.94 ≥ 0.9: IV-B.
            row(1.0, 0, 2, 0.04, &[(McTrainLoss, 0.0), (Cka, 0.95)]),
            row(1.0, 1, 2, 0.08, &[(McTrainLoss, 0.0), (Cka, 0.93)]),
            // load 20, epoch 2: loss 0.3 and 0.5 → 0.4 (high), mc -0.5 (barrier): I.
            row(20.0, 0, 2, 0.3, &[(McTrainLoss, -0.5), (Cka, 0.5)]),
            row(20.0, 1, 2, 0.5, &[(McTrainLoss, -0.5), (Cka, 0.5)]),
        ];
        label_epoch_rows(&mut rows, &t());
        let phases: Vec<Option<&str>> = rows.iter().map(|r| r.phase.as_deref()).collect();
        assert_eq!(phases, [None, None, Some("IV-B"), Some("IV-B"), Some("I"), Some("I")]);
    }

    #[test]
    fn the_written_index_carries_the_phase_of_the_measured_epoch() {
        use pz_store::ModelState::Done;
        use MetricKey::{Cka, McTrainLoss};

        use crate::testzoo::{model, write};
        let dir = tempfile::tempdir().unwrap();
        let measured = [(Cka, 0.875), (McTrainLoss, 0.0)];
        let models = [
            model(Done, Some((0.5, 0.1)), &measured),
            model(Done, Some((0.5, 0.1)), &measured),
            model(Done, Some((0.5, 0.1)), &measured),
            model(Done, Some((2.0, 0.1)), &[]),
            model(Done, Some((2.0, 0.1)), &[]),
            model(Done, Some((2.0, 0.1)), &[]),
        ];
        let plan = write(dir.path(), &["phases.train_loss=1.0", "phases.mc_epsilon=0.1"], &models);
        write_labelled_index(&ZooDir::open(dir.path()).unwrap(), &plan).unwrap();
        let text = std::fs::read_to_string(dir.path().join("index_epochs.csv")).unwrap();
        let mut lines = text.lines();
        assert!(lines.next().unwrap().ends_with(",phase"));
        // (load, epoch, phase) per row: beta = 1 is IV-A (loss 0.5 <= 1, mc 0 within 0.1, CKA
        // 0.875 below the default 0.9) at its measured epoch 1 only; beta = 20 is not measured.
        let got: Vec<(String, String, String)> = lines
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (f[2].to_string(), f[7].to_string(), f[f.len() - 1].to_string())
            })
            .collect();
        assert_eq!(got.len(), 12);
        for (load, epoch, phase) in got {
            let want = if load == "1" && epoch == "1" { "IV-A" } else { "" };
            assert_eq!(phase, want, "beta {load}, epoch {epoch}");
        }
        assert!(dir.path().join("index.parquet").is_file());
    }

    #[test]
    fn a_seed_mean_cka_below_the_split_is_iv_a() {
        use MetricKey::{Cka, McTrainLoss};
        // CKA 0.95 and 0.8 → 0.875 < 0.9, though one seed alone would be IV-B.
        let mut rows = vec![
            row(1.0, 0, 2, 0.01, &[(McTrainLoss, 0.0), (Cka, 0.95)]),
            row(1.0, 1, 2, 0.01, &[(McTrainLoss, 0.0), (Cka, 0.8)]),
        ];
        label_epoch_rows(&mut rows, &t());
        assert_eq!(rows[0].phase.as_deref(), Some("IV-A"));
        assert_eq!(rows[1].phase.as_deref(), Some("IV-A"));
    }
}
