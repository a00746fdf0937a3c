//! Where a panel's cell values come from besides the index and `metrics.json`: each model's
//! `result.json` (accuracies, the generalisation gap) and the zoo's `applications.json` (the
//! averaging deltas), and the order the paper draws a grid in.

use std::collections::BTreeMap;
use std::path::Path;

use pz_phases::ZooView;

use crate::Error;

/// The key [`result_values`] gives `train_acc − test_acc` (SPEC §6.2's `ggap`).
pub(super) const GGAP: &str = "ggap";

/// Per planned model, each numeric `result.json` key's newest value, and [`GGAP`] from the
/// newest line holding both `train_acc` and `test_acc`. Like the index's seed means, only
/// finished (done or failed) models count; the others get an empty map.
pub(super) fn result_values(view: &ZooView) -> Result<Vec<BTreeMap<String, f64>>, Error> {
    let mut all = Vec::with_capacity(view.rows.len());
    for (m, row) in view.plan.models.iter().zip(&view.rows) {
        let mut values = BTreeMap::new();
        if row.status == "done" || row.status == "failed" {
            for record in view.zoo.model(m.id()).read_results()? {
                let number = |k: &str| record.extra.get(k).and_then(serde_json::Value::as_f64);
                for (k, v) in &record.extra {
                    if let Some(v) = v.as_f64().filter(|v| v.is_finite()) {
                        values.insert(k.clone(), v);
                    }
                }
                if let (Some(train), Some(test)) = (number("train_acc"), number("test_acc")) {
                    values.insert(GGAP.to_string(), train - test);
                }
            }
        }
        all.push(values);
    }
    Ok(all)
}

/// (rows = temperature, columns = load) grid of the seed mean of `key` in `per_model`.
pub(super) fn seed_mean_grid(
    view: &ZooView,
    per_model: &[BTreeMap<String, f64>],
    key: &str,
) -> Vec<Vec<Option<f64>>> {
    let g = &view.zoo.spec.grid;
    let mut sums = vec![vec![(0.0, 0u32); g.load.values.len()]; g.temperature.values.len()];
    for (m, values) in view.plan.models.iter().zip(per_model) {
        if let Some(v) = values.get(key).filter(|v| v.is_finite()) {
            let s = &mut sums[m.cell.temperature][m.cell.load];
            *s = (s.0 + v, s.1 + 1);
        }
    }
    sums.into_iter()
        .map(|r| r.into_iter().map(|(s, n)| (n > 0).then(|| s / f64::from(n))).collect())
        .collect()
}

/// `applications.json` in the zoo folder, if there is one (written by `phasezoo apply`).
pub(super) fn read_applications(zoo: &Path) -> Result<Option<serde_json::Value>, Error> {
    let path = zoo.join("applications.json");
    if !path.exists() {
        return Ok(None);
    }
    let text = fs_err::read_to_string(&path).map_err(|source| Error::Read { path: path.clone(), source })?;
    serde_json::from_str(&text).map(Some).map_err(|source| Error::Parse { path, source })
}

/// (rows = temperature, columns = load) grid of `key` from the first run of `applications.json`
/// (by name: `average_epochs` before `average_epochs_ptmz_compat`, `average_seeds_aligned`
/// before `average_seeds_unaligned`) that has it in some cell. A cell's key is `"load,temperature"`
/// (the indices). `None` when no run has the key.
pub(super) fn application_grid(
    view: &ZooView,
    applications: &serde_json::Value,
    key: &str,
) -> Option<Vec<Vec<Option<f64>>>> {
    let g = &view.zoo.spec.grid;
    let runs = applications.get("runs")?.as_object()?;
    let mut names: Vec<&String> = runs.keys().collect();
    names.sort();
    names.into_iter().find_map(|name| {
        let cells = runs[name].as_object()?;
        let mut grid = vec![vec![None; g.load.values.len()]; g.temperature.values.len()];
        let mut any = false;
        for (cell, record) in cells {
            let Some((l, t)) = cell.split_once(',') else { continue };
            let (Ok(l), Ok(t)) = (l.parse::<usize>(), t.parse::<usize>()) else { continue };
            let value = record.get("values").and_then(|v| v.get(key)).and_then(serde_json::Value::as_f64);
            if let (Some(v), Some(slot)) = (value, grid.get_mut(t).and_then(|r| r.get_mut(l))) {
                *slot = Some(v).filter(|v| v.is_finite());
                any |= slot.is_some();
            }
        }
        any.then_some(grid)
    })
}

/// The paper's orientation (SPEC §6.2, a seaborn heatmap of a pivot table): columns = load
/// ascending from the left, rows = temperature ascending from the top. A [`crate::Heatmap`]
/// draws its first row at the bottom, so rows go in descending order. Returns (row order, column
/// order) as indices into the grid's temperature and load axes.
pub(super) fn paper_order(view: &ZooView) -> (Vec<usize>, Vec<usize>) {
    let g = &view.zoo.spec.grid;
    let sorted = |values: &[f64], descending: bool| {
        let mut order: Vec<usize> = (0..values.len()).collect();
        order.sort_by(|&a, &b| {
            let o = values[a].total_cmp(&values[b]);
            if descending {
                o.reverse()
            } else {
                o
            }
        });
        order
    };
    (sorted(&g.temperature.values, true), sorted(&g.load.values, false))
}

/// `grid` with its rows and columns taken in the given orders.
pub(super) fn reorder<T: Clone>(grid: &[Vec<T>], rows: &[usize], cols: &[usize]) -> Vec<Vec<T>> {
    rows.iter().map(|&r| cols.iter().map(|&c| grid[r][c].clone()).collect()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reorder_takes_rows_and_columns_in_the_given_order() {
        let grid = vec![vec![1, 2, 3], vec![4, 5, 6]];
        assert_eq!(reorder(&grid, &[1, 0], &[2, 0, 1]), vec![vec![6, 4, 5], vec![3, 1, 2]]);
    }
}
