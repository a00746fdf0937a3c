//! The applications' cell values the index carries per model (issue 18): `applications.json`
//! (written by pz-apply, read here as plain JSON so the store does not depend on it) holds
//! each run's result per grid cell at its analysis epoch; every model of the cell gets the
//! value on its row of that epoch.

use std::collections::BTreeMap;

use pz_spec::CellIndex;

use crate::{Error, Result, ZooDir};

/// The index's application columns, the original's names where it had them: epoch
/// averaging, seed averaging after alignment, the ensemble, the aligned interpolation's
/// test-loss barrier, and the transfer's test accuracies (probe and full fine-tuning). Each comes from the first run, by name, that has it (`average_epochs`
/// before its `_ptmz_compat` variant, `interpolate_aligned` before `interpolate_unaligned`).
pub const APPLICATION_COLUMNS: [&str; 6] = [
    "wiseft_acc_test_delta",
    "gitrebasin_acc_test_delta",
    "ensemble_acc_test_delta",
    "barrier_test_loss",
    "finetune_probe_acc_test",
    "finetune_full_acc_test",
];

/// Column → cell key (`"load,temperature"`) → (epoch, value).
#[derive(Debug, Default)]
pub(crate) struct ApplicationValues(BTreeMap<&'static str, BTreeMap<String, (u32, f64)>>);

impl ApplicationValues {
    /// The values of the zoo's `applications.json`; none without the file.
    ///
    /// # Errors
    /// An unreadable file, or one that is not the JSON pz-apply writes.
    pub(crate) fn read(zoo: &ZooDir) -> Result<Self> {
        let path = zoo.path.join("applications.json");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(Error::Io(e)),
        };
        let doc: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::corrupt(&path, format!("{e}; delete it and run `phasezoo apply` again")))?;
        let Some(runs) = doc.get("runs").and_then(serde_json::Value::as_object) else {
            return Err(Error::corrupt(
                &path,
                "no \"runs\" object; delete it and run `phasezoo apply` again",
            ));
        };
        let mut out = BTreeMap::new();
        for column in APPLICATION_COLUMNS {
            // serde_json's map iterates its keys sorted: the first run by name wins.
            let found = runs.values().filter_map(serde_json::Value::as_object).find_map(|cells| {
                let values: BTreeMap<String, (u32, f64)> = cells
                    .iter()
                    .filter_map(|(cell, record)| {
                        let epoch = u32::try_from(record.get("epoch")?.as_u64()?).ok()?;
                        let value = record.get("values")?.get(column)?.as_f64()?;
                        Some((cell.clone(), (epoch, value)))
                    })
                    .collect();
                (!values.is_empty()).then_some(values)
            });
            if let Some(values) = found {
                out.insert(column, values);
            }
        }
        Ok(Self(out))
    }

    /// The columns' values for a model of `cell` on its row of `epoch`.
    pub(crate) fn at(&self, cell: CellIndex, epoch: u32) -> impl Iterator<Item = (String, f64)> + '_ {
        let key = format!("{},{}", cell.load, cell.temperature);
        self.0.iter().filter_map(move |(column, cells)| {
            let &(at, value) = cells.get(&key)?;
            (at == epoch && value.is_finite()).then(|| ((*column).to_string(), value))
        })
    }
}
