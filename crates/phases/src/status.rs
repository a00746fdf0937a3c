//! Models per state in every grid cell (`phasezoo status`).

use serde::Serialize;

use crate::ZooView;

/// How many models of a cell (or of the zoo) are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StateCounts {
    /// Finished.
    pub done: usize,
    /// `running` while a process holds the zoo's lock.
    pub running: usize,
    /// `running` with nobody holding the lock: interrupted, resumes on the next train.
    pub stopped: usize,
    /// Failed.
    pub failed: usize,
    /// Not started.
    pub pending: usize,
}

impl StateCounts {
    fn add(&mut self, other: Self) {
        self.done += other.done;
        self.running += other.running;
        self.stopped += other.stopped;
        self.failed += other.failed;
        self.pending += other.pending;
    }
}

/// One grid cell's counts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CellStatus {
    /// Load value.
    pub load: f64,
    /// Temperature value.
    pub temperature: f64,
    /// Its models per state.
    pub counts: StateCounts,
}

/// A zoo's progress: counts per cell and in total, and why models failed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ZooStatus {
    /// Load axis short name.
    pub load_name: String,
    /// Temperature axis short name.
    pub temperature_name: String,
    /// Per cell, load-major (every temperature of the first load, then the next load).
    pub cells: Vec<CellStatus>,
    /// All models.
    pub total: StateCounts,
    /// (model id, message) of every failed model, plan order.
    pub failures: Vec<(String, String)>,
}

/// Count the models of every cell by state. Whether `running` means running or stopped depends
/// on whether a process holds the zoo's lock now (`locked`, see [`pz_store::ZooDir::is_locked`]).
#[must_use]
pub fn zoo_status(view: &ZooView, locked: bool) -> ZooStatus {
    let g = &view.zoo.spec.grid;
    let mut cells = Vec::new();
    let mut total = StateCounts::default();
    for (li, lv) in g.load.values.iter().enumerate() {
        for (ti, tv) in g.temperature.values.iter().enumerate() {
            let mut counts = StateCounts::default();
            for row in view.cell(li, ti) {
                let slot = match (row.status.as_str(), locked) {
                    ("done", _) => &mut counts.done,
                    ("running", true) => &mut counts.running,
                    ("running", false) => &mut counts.stopped,
                    ("failed", _) => &mut counts.failed,
                    _ => &mut counts.pending,
                };
                *slot += 1;
            }
            total.add(counts);
            cells.push(CellStatus { load: *lv, temperature: *tv, counts });
        }
    }
    let failures = view
        .rows
        .iter()
        .filter(|r| r.status == "failed")
        .map(|r| (r.model_id.clone(), r.message.clone()))
        .collect();
    ZooStatus {
        load_name: g.load.short_name().to_string(),
        temperature_name: g.temperature.short_name().to_string(),
        cells,
        total,
        failures,
    }
}

#[cfg(test)]
mod tests {
    use pz_store::ModelState::{Done, Failed, Pending, Running};

    use super::*;
    use crate::testzoo::{model, write};

    #[test]
    fn models_are_counted_per_cell_and_running_depends_on_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let models = [
            model(Done, Some((0.5, 0.1)), &[]),
            model(Done, Some((0.5, 0.1)), &[]),
            model(Failed, Some((0.5, 0.1)), &[]),
            model(Running, Some((0.5, 0.1)), &[]),
            model(Pending, None, &[]),
            model(Pending, None, &[]),
        ];
        let plan = write(dir.path(), &[], &models);
        let view = ZooView::open(dir.path()).unwrap();
        let s = zoo_status(&view, false);
        let c =
            |done, running, stopped, failed, pending| StateCounts { done, running, stopped, failed, pending };
        assert_eq!(
            s.cells.iter().map(|c| (c.load, c.counts)).collect::<Vec<_>>(),
            [(1.0, c(2, 0, 0, 1, 0)), (20.0, c(0, 0, 1, 0, 2))]
        );
        assert_eq!(s.total, c(2, 0, 1, 1, 2));
        assert_eq!(s.failures, [(plan.models[2].id().to_string(), String::new())]);
        assert_eq!(zoo_status(&view, true).total, c(2, 1, 0, 1, 2));
    }
}
