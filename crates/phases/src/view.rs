//! A zoo opened for reading, its models gathered per grid cell: the seed means behind status,
//! plots, the report and the phases.

use std::collections::BTreeMap;
use std::path::Path;

use pz_spec::Plan;
use pz_store::{collect_rows, IndexRow, ZooDir};

use crate::{Error, Result};

/// A zoo opened for reading: its spec, plan, and one index row per model. Opening writes
/// nothing, so a read-only zoo opens.
#[derive(Debug, Clone)]
pub struct ZooView {
    /// The zoo.
    pub zoo: ZooDir,
    /// Its plan.
    pub plan: Plan,
    /// One row per planned model, plan order.
    pub rows: Vec<IndexRow>,
    /// Per planned model, the numeric values of its newest `metrics.json` line (empty if none).
    pub metrics: Vec<BTreeMap<String, f64>>,
}

impl ZooView {
    /// Open the zoo at `dir` and read every model's status, last result and newest metrics.
    ///
    /// # Errors
    /// [`Error::Open`] when `dir` is no zoo; malformed model files.
    pub fn open(dir: &Path) -> Result<Self> {
        let zoo = ZooDir::open(dir).map_err(|source| Error::Open { path: dir.into(), source })?;
        let plan = Plan::new(&zoo.spec)?;
        let rows = collect_rows(&zoo, &plan)?;
        let mut metrics = Vec::with_capacity(plan.models.len());
        for m in &plan.models {
            let newest = zoo.model(m.id()).read_metrics()?.pop();
            let values =
                newest.map(|r| r.values.into_iter().filter_map(|(k, v)| Some((k, v.as_f64()?))).collect());
            metrics.push(values.unwrap_or_default());
        }
        Ok(Self { zoo, plan, rows, metrics })
    }

    /// (rows = temperature, columns = load) grid of the seed mean of a metric key (a
    /// [`pz_store::MetricKey`], or `[phases] mc_metric`); `None` where no model of the cell has it.
    #[must_use]
    pub fn metric_grid(&self, key: &str) -> Vec<Vec<Option<f64>>> {
        let g = &self.zoo.spec.grid;
        (0..g.temperature.values.len())
            .map(|t| {
                (0..g.load.values.len())
                    .map(|l| {
                        mean(
                            self.plan
                                .models
                                .iter()
                                .zip(&self.metrics)
                                .filter(|(m, _)| m.cell.load == l && m.cell.temperature == t)
                                .filter_map(|(_, values)| values.get(key).copied()),
                        )
                    })
                    .collect()
            })
            .collect()
    }

    /// Rows of the cell (load index, temperature index), plan order.
    pub fn cell(&self, load: usize, temperature: usize) -> impl Iterator<Item = &IndexRow> {
        self.plan
            .models
            .iter()
            .zip(&self.rows)
            .filter(move |(m, _)| m.cell.load == load && m.cell.temperature == temperature)
            .map(|(_, r)| r)
    }

    /// Seed mean of a field over the cell's finished (done or failed) models; `None` if none
    /// finished or none has the field.
    #[must_use]
    pub fn cell_mean(
        &self,
        load: usize,
        temperature: usize,
        field: impl Fn(&IndexRow) -> Option<f64>,
    ) -> Option<f64> {
        mean(
            self.cell(load, temperature)
                .filter(|r| r.status == "done" || r.status == "failed")
                .filter_map(&field),
        )
    }

    /// (rows = temperature values, columns = load values) grid of [`ZooView::cell_mean`].
    #[must_use]
    pub fn grid(&self, field: impl Fn(&IndexRow) -> Option<f64> + Copy) -> Vec<Vec<Option<f64>>> {
        let g = &self.zoo.spec.grid;
        (0..g.temperature.values.len())
            .map(|t| (0..g.load.values.len()).map(|l| self.cell_mean(l, t, field)).collect())
            .collect()
    }
}

/// The arithmetic mean in the order given, `None` for no values.
pub(crate) fn mean(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let values: Vec<f64> = values.into_iter().collect();
    #[allow(clippy::cast_precision_loss)] // a cell has few seeds
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

#[cfg(test)]
mod tests {
    use pz_store::MetricKey::{Cka, McTrainLoss};
    use pz_store::ModelState::{Done, Failed, Pending, Running};

    use super::*;
    use crate::testzoo::{model, write};
    use crate::{label_zoo, Phase};

    #[test]
    fn the_mean_of_nothing_is_none() {
        assert_eq!(mean([]), None);
        assert_eq!(mean([1.0, 2.0, 4.5]), Some(2.5));
    }

    /// beta = 1: three finished seeds, two measured; beta = 20: one done, one running (its
    /// numbers left out of the means), one pending.
    fn zoo(dir: &Path) {
        let phases = ["phases.train_loss=1.0", "phases.mc_epsilon=0.1", "phases.cka=0.7"];
        write(
            dir,
            &phases,
            &[
                model(Done, Some((0.5, 0.125)), &[(Cka, 0.875), (McTrainLoss, 0.0)]),
                model(Done, Some((0.25, 0.25)), &[(Cka, 0.625), (McTrainLoss, 0.05)]),
                model(Failed, Some((0.75, 0.375)), &[]),
                model(Done, Some((2.0, 0.5)), &[]),
                model(Running, Some((1.0, 0.5)), &[]),
                model(Pending, None, &[]),
            ],
        );
    }

    #[test]
    fn seed_means_of_a_cell_match_the_hand_computed_numbers() {
        let dir = tempfile::tempdir().unwrap();
        zoo(dir.path());
        let view = ZooView::open(dir.path()).unwrap();
        assert_eq!(view.rows.len(), 6);
        assert_eq!(view.cell(0, 0).count(), 3);
        // (0.5 + 0.25 + 0.75) / 3 and (0.125 + 0.25 + 0.375) / 3; beta = 20: the done seed only.
        assert_eq!(view.cell_mean(0, 0, |r| r.train_loss), Some(0.5));
        assert_eq!(view.cell_mean(0, 0, |r| r.test_error), Some(0.25));
        assert_eq!(view.grid(|r| r.train_loss), [vec![Some(0.5), Some(2.0)]]);
        // (0.875 + 0.625) / 2 over the measured seeds; none measured at beta = 20.
        assert_eq!(view.metric_grid(Cka.as_str()), [vec![Some(0.75), None]]);
        assert_eq!(view.metric_grid(McTrainLoss.as_str()), [vec![Some(0.025), None]]);
    }

    #[test]
    fn a_zoo_grid_is_labelled_from_its_seed_means() {
        let dir = tempfile::tempdir().unwrap();
        zoo(dir.path());
        let g = label_zoo(&ZooView::open(dir.path()).unwrap());
        assert_eq!((g.load_name.as_str(), g.temperature_name.as_str()), ("beta", "lr"));
        assert_eq!(
            (g.loads.as_slice(), g.temperatures.as_slice()),
            ([1.0, 20.0].as_slice(), [0.01].as_slice())
        );
        // beta = 1: loss 0.5 <= 1, |mc| 0.025 <= 0.1, CKA 0.75 >= 0.7: IV-B. beta = 20: no mc.
        assert_eq!(g.phases(), [vec![Some(Phase::IVB), None]]);
        assert!(g.cells[1].yang.as_ref().unwrap().reason.contains("not measured"));
        // First labels beside: test error 0.25 and 0.5 are above the default 0.1.
        assert_eq!(g.cells[0].first.as_ref().unwrap().label.code(), "fit+failed");
        assert_eq!(g.cells[1].first.as_ref().unwrap().label.code(), "underfit+failed");
    }

    #[test]
    fn a_folder_that_is_no_zoo_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = ZooView::open(dir.path()).unwrap_err();
        assert_eq!(err.to_string(), format!("cannot open zoo {}", dir.path().display()));
        let cause = std::error::Error::source(&err).unwrap().to_string();
        assert!(cause.contains("not a phasezoo zoo"), "{cause}");
    }
}
