//! A zoo's models gathered per grid cell, for status, plots and phases.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use pz_spec::Plan;
use pz_store::{collect_rows, IndexRow, ZooDir};

/// A zoo opened for reading: its spec, plan, and one index row per model.
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
    pub fn open(dir: &Path) -> Result<Self> {
        let zoo = ZooDir::open(dir).with_context(|| format!("cannot open zoo {}", dir.display()))?;
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

    /// (rows = temperature, columns = load) grid of the seed mean of a metric key; `None` where
    /// no model of the cell has it.
    pub fn metric_grid(&self, key: &str) -> Vec<Vec<Option<f64>>> {
        let g = &self.zoo.spec.grid;
        (0..g.temperature.values.len())
            .map(|t| {
                (0..g.load.values.len())
                    .map(|l| {
                        let values: Vec<f64> = self
                            .plan
                            .models
                            .iter()
                            .zip(&self.metrics)
                            .filter(|(m, _)| m.cell.load == l && m.cell.temperature == t)
                            .filter_map(|(_, values)| values.get(key).copied())
                            .collect();
                        #[allow(clippy::cast_precision_loss)]
                        (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
                    })
                    .collect()
            })
            .collect()
    }

    /// Rows of the cell (load index, temperature index).
    pub fn cell(&self, load: usize, temperature: usize) -> impl Iterator<Item = &IndexRow> {
        self.plan
            .models
            .iter()
            .zip(&self.rows)
            .filter(move |(m, _)| m.cell.load == load && m.cell.temperature == temperature)
            .map(|(_, r)| r)
    }

    /// Seed mean of a field over the cell's finished models; `None` if none finished.
    pub fn cell_mean(
        &self,
        load: usize,
        temperature: usize,
        field: impl Fn(&IndexRow) -> Option<f64>,
    ) -> Option<f64> {
        let values: Vec<f64> = self
            .cell(load, temperature)
            .filter(|r| r.status == "done" || r.status == "failed")
            .filter_map(&field)
            .collect();
        #[allow(clippy::cast_precision_loss)]
        (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
    }

    /// (rows = temperature values, columns = load values) grid of a cell statistic.
    pub fn grid(&self, field: impl Fn(&IndexRow) -> Option<f64> + Copy) -> Vec<Vec<Option<f64>>> {
        let g = &self.zoo.spec.grid;
        (0..g.temperature.values.len())
            .map(|t| (0..g.load.values.len()).map(|l| self.cell_mean(l, t, field)).collect())
            .collect()
    }
}

/// A compact number for tables: 3 significant digits.
pub fn fmt_value(v: f64) -> String {
    if v == 0.0 || (1e-3..1e4).contains(&v.abs()) {
        let s = format!("{v:.4}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_string()
    } else {
        format!("{v:.2e}")
    }
}
