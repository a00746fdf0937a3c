//! The per-epoch index (`index_epochs.csv`, `index.parquet`) with each cell's phase, rewritten
//! after training, measuring and labelling.

use std::collections::BTreeMap;

use anyhow::Result;
use pz_phases::{label_cell_yang, loss_threshold, CellMetrics};
use pz_spec::Plan;
use pz_store::{collect_epoch_rows, write_epoch_index, ZooDir};

/// A cell at an epoch: (load value bits, temperature value bits, epoch).
type CellKey = (u64, u64, u32);

/// Collect every model's epochs, label the cells whose mode connectivity was measured at that
/// epoch (seed means, the spec's `[phases]`), and write both files.
pub fn write(zoo: &ZooDir, plan: &Plan) -> Result<()> {
    let mut rows = collect_epoch_rows(zoo, plan)?;
    let t = &zoo.spec.phases;
    // (load, temperature, epoch) → row indices
    let mut cells: BTreeMap<CellKey, Vec<usize>> = BTreeMap::new();
    for (i, r) in rows.iter().enumerate() {
        cells.entry((r.load_value.to_bits(), r.temperature_value.to_bits(), r.epoch)).or_default().push(i);
    }
    #[allow(clippy::cast_precision_loss)]
    let mean =
        |values: Vec<f64>| (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64);
    let mut by_epoch: BTreeMap<u32, Vec<(CellKey, CellMetrics)>> = BTreeMap::new();
    for (key, members) in &cells {
        let of = |f: &dyn Fn(&pz_store::EpochIndexRow) -> Option<f64>| {
            mean(members.iter().filter_map(|&i| f(&rows[i])).collect())
        };
        let mc = of(&|r| r.metrics.get(&t.mc_metric).copied());
        let (Some(train_loss), Some(mc)) = (of(&|r| r.train_loss), mc) else { continue };
        let cka = of(&|r| r.metrics.get("cka").copied());
        by_epoch.entry(key.2).or_default().push((*key, CellMetrics { train_loss, mc: Some(mc), cka }));
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
    write_epoch_index(&zoo.path, &rows)?;
    Ok(())
}
