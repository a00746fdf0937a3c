//! The report's "mean delta per phase" table (issue 18): for every application run in
//! `applications.json`, each of its cell values that compares with a baseline (`*_delta`, the
//! `barrier_*` heights, the fine-tuned test accuracies) averaged over the cells of each Yang et al. phase, so the paper's
//! claims (epoch averaging helps in I/II, aligned seed averaging loses least in IV-B) read off
//! one table.

use pz_phases::{label_zoo, Phase, ZooView};

use super::sources::read_applications;
use crate::{Error, SummaryTable};

/// The table's rows: the five phases, then the cells without a phase.
const UNLABELLED: &str = "no phase";

/// Whether a cell value is one the table averages.
fn compared(key: &str) -> bool {
    key.ends_with("_delta")
        || key.starts_with("barrier_")
        || (key.starts_with("finetune_") && key.ends_with("_acc_test"))
}

/// The table, `None` without `applications.json` or compared values.
///
/// # Errors
/// An unreadable or malformed `applications.json`.
pub(super) fn phase_delta_table(view: &ZooView) -> Result<Option<SummaryTable>, Error> {
    let Some(applications) = read_applications(&view.zoo.path)? else { return Ok(None) };
    let Some(runs) = applications.get("runs").and_then(serde_json::Value::as_object) else { return Ok(None) };
    let phases = label_zoo(view).phases();
    let row_of = |cell: &str| -> Option<usize> {
        let (l, t) = cell.split_once(',')?;
        let (l, t) = (l.parse::<usize>().ok()?, t.parse::<usize>().ok()?);
        let phase = *phases.get(t)?.get(l)?;
        Some(phase.map_or(Phase::ALL.len(), |p| usize::from(p.number()) - 1))
    };
    // (column name, per row: sum and count)
    let mut columns: Vec<(String, Vec<(f64, u32)>)> = Vec::new();
    for (run, cells) in runs {
        let Some(cells) = cells.as_object() else { continue };
        for (cell, record) in cells {
            let Some(row) = row_of(cell) else { continue };
            let Some(values) = record.get("values").and_then(serde_json::Value::as_object) else { continue };
            for (key, value) in values.iter().filter(|(k, _)| compared(k)) {
                let name = format!("{run}: {key}");
                let at = match columns.iter().position(|(n, _)| *n == name) {
                    Some(i) => i,
                    None => {
                        columns.push((name, vec![(0.0, 0); Phase::ALL.len() + 1]));
                        columns.len() - 1
                    }
                };
                if let Some(v) = value.as_f64().filter(|v| v.is_finite()) {
                    let slot = &mut columns[at].1[row];
                    *slot = (slot.0 + v, slot.1 + 1);
                }
            }
        }
    }
    // A key whose every cell is null (a barrier that could not be computed) is no column.
    columns.retain(|(_, sums)| sums.iter().any(|s| s.1 > 0));
    if columns.is_empty() {
        return Ok(None);
    }
    let names = Phase::ALL.iter().map(|p| p.code().to_string()).chain([UNLABELLED.to_string()]);
    let rows = names
        .enumerate()
        .map(|(r, name)| {
            let cells = columns
                .iter()
                .map(|(_, sums)| (sums[r].1 > 0).then(|| (sums[r].0 / f64::from(sums[r].1), sums[r].1)))
                .collect();
            (name, cells)
        })
        .filter(|(_, cells): &(String, Vec<Option<crate::Averaged>>)| cells.iter().any(Option::is_some))
        .collect();
    Ok(Some(SummaryTable {
        id: "phase-deltas".into(),
        title: "Applications: mean per phase".into(),
        note: "Each application's cell values against their baselines (Δ test accuracy: the \
               averaged or ensembled weights minus the seeds' mean; barrier: the loss or error \
               barrier along the interpolation), averaged over the cells of each phase; the cell \
               count in brackets. Runs and keys as in applications.json."
            .into(),
        columns: columns.into_iter().map(|(n, _)| n).collect(),
        rows,
    }))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use pz_spec::{Plan, ZooSpec};
    use pz_store::{EpochRecord, ModelState, ModelStatus, ZooDir};
    use serde_json::json;

    use super::*;

    /// Loads β 1 and 20 at one lr, two seeds: β 1 a high loss with a barrier (I), β 20 a low
    /// loss, connected, similar seeds (IV-B); `applications.json` holds two runs over both
    /// cells and a third cell key outside the grid.
    fn zoo(dir: &std::path::Path) {
        let o = [
            "grid.load.values=[1,20]",
            "grid.temperature.values=[1e-2]",
            "grid.seeds=[0,1]",
            "phases.train_loss=0.01",
            "phases.mc_epsilon=0.01",
            "phases.cka=0.9",
        ]
        .map(String::from);
        let spec = ZooSpec::parse(pz_spec::EMBEDDED_DEFAULT, "test", &o).unwrap();
        let zoo = ZooDir::create_or_open(dir, &spec).unwrap();
        for m in &Plan::new(&spec).unwrap().models {
            let d = zoo.model(m.id());
            fs_err::create_dir_all(d.status_path().parent().unwrap()).unwrap();
            d.write_status(&ModelStatus { state: ModelState::Done, epoch: Some(1), message: None }).unwrap();
            let low = m.cell.load == 1;
            let record = |epoch: u32, train_loss| EpochRecord {
                epoch,
                train_loss,
                test_loss: 1.0,
                test_error: 0.25,
                step: u64::from(epoch) * 10,
                extra: BTreeMap::new(),
            };
            d.write_results(&[record(0, 1.0), record(1, if low { 1e-4 } else { 0.5 })]).unwrap();
            let (mc, cka) = if low { (0.0, 0.95) } else { (-0.5, 0.5) };
            let values = [("mc_train_loss".to_string(), json!(mc)), ("cka".to_string(), json!(cka))];
            d.merge_metrics(1, values.into_iter().collect()).unwrap();
        }
        let cell = |delta: f64, barrier: Option<f64>| json!({"values": {"wiseft_acc_test": 0.5, "wiseft_acc_test_delta": delta, "barrier_test_loss": barrier}});
        let file = json!({"version": 1, "runs": {
            "average_epochs": {"0,0": cell(0.02, None), "1,0": cell(-0.01, None), "5,0": cell(9.0, None)},
            "interpolate_aligned": {"0,0": cell(0.5, Some(0.25)), "1,0": cell(0.0, None)},
        }});
        std::fs::write(dir.join("applications.json"), file.to_string()).unwrap();
    }

    #[test]
    fn each_compared_value_is_averaged_over_the_cells_of_each_phase() {
        let tmp = tempfile::tempdir().unwrap();
        zoo(tmp.path());
        let view = ZooView::open(tmp.path()).unwrap();
        let phases = label_zoo(&view).phases();
        assert_eq!((phases[0][0], phases[0][1]), (Some(Phase::I), Some(Phase::IVB)), "the fixture's phases");
        let t = phase_delta_table(&view).unwrap().expect("a table");
        assert_eq!(
            t.columns,
            [
                "average_epochs: wiseft_acc_test_delta",
                "interpolate_aligned: barrier_test_loss",
                "interpolate_aligned: wiseft_acc_test_delta"
            ]
        );
        // Rows and columns without any value are left out (average_epochs' null barriers); a
        // null is no value; the cell outside the grid is ignored.
        assert_eq!(
            t.rows,
            [
                ("I".to_string(), vec![Some((0.02, 1)), Some((0.25, 1)), Some((0.5, 1))]),
                ("IV-B".to_string(), vec![Some((-0.01, 1)), None, Some((0.0, 1))]),
            ]
        );
    }

    #[test]
    fn no_applications_file_no_table() {
        let tmp = tempfile::tempdir().unwrap();
        zoo(tmp.path());
        std::fs::remove_file(tmp.path().join("applications.json")).unwrap();
        assert!(phase_delta_table(&ZooView::open(tmp.path()).unwrap()).unwrap().is_none());
        std::fs::write(tmp.path().join("applications.json"), "{not json").unwrap();
        let err = phase_delta_table(&ZooView::open(tmp.path()).unwrap()).unwrap_err().to_string();
        assert!(err.contains("applications.json"), "{err}");
    }
}
