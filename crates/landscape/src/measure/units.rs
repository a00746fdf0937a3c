//! Measuring units: what one worker measures at a time, and what is left of it.
//!
//! A unit is a run of whole cells, in plan order, with at most
//! `ZooFamily::models_per_measuring_unit` models (at least one cell: a cell's seeds load
//! together for CKA and curves), made from the plan alone so that every worker, on any
//! machine and at any time, cuts the same units. A unit owns its models' `metrics.json` for
//! every epoch and metric while it is claimed: units share no model, so no two workers ever
//! update one file.

use std::collections::BTreeMap;

use pz_spec::{CellIndex, Plan, PlannedModel};
use pz_store::{unit_hash, MetricKey, ModelState, ZooDir};

use super::{MeasureError, Selection};

/// Whole cells measured by one worker at a time.
#[derive(Debug, Clone, PartialEq)]
pub struct MeasuringUnit {
    /// `m-` and 16 hex digits of the SHA-256 of its model ids: its claim's name.
    pub id: String,
    /// Its cells, each its seeds in plan order.
    pub cells: Vec<Vec<PlannedModel>>,
}

/// The zoo's measuring units: its cells in plan order (by cell index), cut into runs of at
/// most `max` models (0: no limit), at least one cell each.
#[must_use]
pub fn measuring_units(plan: &Plan, max: usize) -> Vec<MeasuringUnit> {
    let mut cells: BTreeMap<CellIndex, Vec<PlannedModel>> = BTreeMap::new();
    for m in &plan.models {
        cells.entry(m.cell).or_default().push(m.clone());
    }
    let cells: Vec<Vec<PlannedModel>> = cells.into_values().collect();
    cell_chunks(&cells, max)
        .into_iter()
        .map(|group| {
            let ids: Vec<String> = group.iter().flatten().map(|m| m.id().to_string()).collect();
            MeasuringUnit { id: format!("m-{}", unit_hash(&ids)), cells: group.to_vec() }
        })
        .collect()
}

/// What is left to measure of a unit at one epoch.
#[derive(Debug, Clone, Default)]
pub(super) struct EpochWork {
    pub epoch: u32,
    /// Models without a Hessian trace.
    pub hessian: Vec<PlannedModel>,
    /// Models without a heavy-tail alpha.
    pub alpha: Vec<PlannedModel>,
    /// Models without an LLC (only for zoos with `[metrics.llc]`).
    pub llc: Vec<PlannedModel>,
    /// Cells (of two seeds or more) with a model without CKA.
    pub cka: Vec<Vec<PlannedModel>>,
    /// Cells (of two seeds or more) with a model without mode connectivity.
    pub mc: Vec<Vec<PlannedModel>>,
}

impl EpochWork {
    /// Model-metrics (a Hessian, an alpha, a seed pair) it counts for progress.
    pub fn size(&self) -> u64 {
        (self.hessian.len() + self.alpha.len() + self.llc.len()) as u64
            + pair_count(&self.cka)
            + pair_count(&self.mc)
    }
}

/// What is left of `unit` at `epochs` for `selection`, over its finished cells (every model
/// done); the number of its cells that are not finished. Empty when nothing is.
///
/// # Errors
/// Unreadable status or metrics files.
pub(super) fn left_to_measure(
    zoo: &ZooDir,
    unit: &MeasuringUnit,
    epochs: &[u32],
    selection: Selection,
) -> Result<(Vec<EpochWork>, usize), MeasureError> {
    let mut finished = Vec::new();
    let mut unfinished = 0;
    for cell in &unit.cells {
        let mut done = true;
        for m in cell {
            done &= zoo.model(m.id()).read_status()?.state == ModelState::Done;
        }
        if done {
            finished.push(cell.clone());
        } else {
            unfinished += 1;
        }
    }
    let mut out = Vec::new();
    for &epoch in epochs {
        let pending = |key: MetricKey| -> Result<Vec<PlannedModel>, MeasureError> {
            let mut todo = Vec::new();
            for m in finished.iter().flatten() {
                let records = zoo.model(m.id()).read_metrics()?;
                if !records.iter().any(|r| r.epoch == epoch && r.values.contains_key(key.as_str())) {
                    todo.push(m.clone());
                }
            }
            Ok(todo)
        };
        let work = EpochWork {
            epoch,
            hessian: if selection.hessian { pending(MetricKey::HessianTrace)? } else { Vec::new() },
            alpha: if selection.alpha { pending(MetricKey::WwAlpha)? } else { Vec::new() },
            llc: if selection.llc && zoo.spec.metrics.llc.is_some() {
                pending(MetricKey::Llc)?
            } else {
                Vec::new()
            },
            cka: if selection.cka { cells_needing(&finished, &pending(MetricKey::Cka)?) } else { Vec::new() },
            mc: if selection.mc {
                cells_needing(&finished, &pending(MetricKey::McTestError)?)
            } else {
                Vec::new()
            },
        };
        if work.size() > 0 {
            out.push(work);
        }
    }
    Ok((out, unfinished))
}

/// Seed pairs of a list of cells.
pub(super) fn pair_count(cells: &[Vec<PlannedModel>]) -> u64 {
    cells.iter().map(|m| (m.len() * (m.len() - 1) / 2) as u64).sum()
}

/// The cells that contain a model of `todo`; cells with one seed have no pair.
fn cells_needing(cells: &[Vec<PlannedModel>], todo: &[PlannedModel]) -> Vec<Vec<PlannedModel>> {
    cells
        .iter()
        .filter(|models| models.len() > 1 && models.iter().any(|m| todo.iter().any(|t| t.id() == m.id())))
        .cloned()
        .collect()
}

/// Runs of at most `max` models (0: no limit).
pub(super) fn chunks(models: &[PlannedModel], max: usize) -> impl Iterator<Item = &[PlannedModel]> {
    models.chunks(if max == 0 { usize::MAX } else { max })
}

/// Groups of whole cells with at most `max` models each (at least one cell per group).
pub(super) fn cell_chunks(cells: &[Vec<PlannedModel>], max: usize) -> Vec<&[Vec<PlannedModel>]> {
    let max = if max == 0 { usize::MAX } else { max };
    let mut groups = Vec::new();
    let (mut start, mut size) = (0, 0);
    for (i, c) in cells.iter().enumerate() {
        if size > 0 && size + c.len() > max {
            groups.push(&cells[start..i]);
            (start, size) = (i, 0);
        }
        size += c.len();
    }
    if start < cells.len() {
        groups.push(&cells[start..]);
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(overrides: &[&str]) -> Plan {
        let o: Vec<String> = overrides.iter().map(|s| (*s).to_string()).collect();
        Plan::new(&pz_spec::ZooSpec::parse(pz_spec::EMBEDDED_DEFAULT, "t", &o).unwrap()).unwrap()
    }

    /// Units hold whole cells, cover every model once, respect the limit (a cell larger than
    /// it stays whole), and their ids follow their models only.
    #[test]
    fn units_are_runs_of_whole_cells_under_the_limit_with_stable_ids() {
        let p =
            plan(&["grid.load.values=[1,5,20]", "grid.temperature.values=[1e-2,1e-3]", "grid.seeds=[0,1]"]);
        for max in [0, 1, 2, 3, 4, 5, 100] {
            let units = measuring_units(&p, max);
            let mut seen: Vec<String> =
                units.iter().flat_map(|u| u.cells.iter().flatten()).map(|m| m.id().to_string()).collect();
            assert_eq!(seen.len(), p.models.len(), "max {max}");
            seen.sort();
            seen.dedup();
            assert_eq!(seen.len(), p.models.len(), "max {max}: a model in two units");
            for u in &units {
                assert!(u.cells.iter().all(|c| c.iter().all(|m| m.cell == c[0].cell)), "cells are whole");
                let size: usize = u.cells.iter().map(Vec::len).sum();
                assert!(max == 0 || size <= max.max(2), "max {max}: {size} models");
                assert!(u.id.starts_with("m-") && u.id.len() == 18, "{}", u.id);
            }
            assert_eq!(units, measuring_units(&p, max), "the same plan cuts the same units");
        }
        assert_eq!(measuring_units(&p, 0).len(), 1);
        assert_eq!(measuring_units(&p, 1).len(), 6, "one cell each");
        assert_eq!(measuring_units(&p, 5).len(), 3, "two cells of two seeds each");
    }
}
