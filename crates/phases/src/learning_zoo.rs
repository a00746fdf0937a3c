//! A modular-arithmetic zoo labelled with the learning phases of Liu et al. 2022
//! ([`crate::learning`]): every finished model from its `result.json` lines (`train_acc`,
//! `val_acc` at `step`), every cell by the majority of its seeds. The Yang et al. rules do not
//! apply to these zoos.

use pz_spec::{ProblemConfig, ZooSpec};
use pz_store::EpochRecord;
use serde::Serialize;

use crate::learning::{label_learning, majority, LearningLabel, LearningPhase, LearningRule};
use crate::{Result, ZooView};

/// One model of a cell and its label.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelLearning {
    /// Model id.
    pub model_id: String,
    /// Seed.
    pub seed: u64,
    /// Its status (`done`, `failed`, `running`, …).
    pub status: String,
    /// Its label, for a finished model whose results hold accuracies.
    pub label: Option<LearningLabel>,
}

/// One grid cell: its models and their majority phase.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LearningCell {
    /// Load value.
    pub load: f64,
    /// Temperature value.
    pub temperature: f64,
    /// The cell's models, plan order.
    pub models: Vec<ModelLearning>,
    /// The majority phase of its labelled models (ties: the paper's order).
    pub majority: Option<LearningPhase>,
    /// How many of them have the majority phase.
    pub majority_count: usize,
    /// How many are labelled.
    pub labelled: usize,
}

impl LearningCell {
    /// The cell in a printed grid: its majority phase with the count, `-` if none.
    #[must_use]
    pub fn code(&self) -> String {
        self.majority.map_or_else(
            || "-".to_string(),
            |p| format!("{} {}/{}", p.name(), self.majority_count, self.labelled),
        )
    }
}

/// A labelled grid: cells row by row, rows = temperature values, columns = load values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LearningGrid {
    /// Load axis short name (columns).
    pub load_name: String,
    /// Temperature axis short name (rows).
    pub temperature_name: String,
    /// Load values.
    pub loads: Vec<f64>,
    /// Temperature values.
    pub temperatures: Vec<f64>,
    /// The rule's constants.
    pub rule: LearningRule,
    /// Cells, temperature-major.
    pub cells: Vec<LearningCell>,
}

impl LearningGrid {
    /// (temperature value, that row's cells) in grid order.
    pub fn rows(&self) -> impl Iterator<Item = (f64, &[LearningCell])> {
        self.temperatures.iter().copied().zip(self.cells.chunks(self.loads.len().max(1)))
    }

    /// Labelled models per phase, the paper's order.
    #[must_use]
    pub fn counts(&self) -> Vec<(LearningPhase, usize)> {
        let labels: Vec<LearningPhase> = self
            .cells
            .iter()
            .flat_map(|c| &c.models)
            .filter_map(|m| m.label.as_ref().map(|l| l.phase))
            .collect();
        LearningPhase::ALL.iter().map(|&p| (p, labels.iter().filter(|&&l| l == p).count())).collect()
    }
}

/// The rule of a zoo's spec: `[phases] learning_accuracy`, `learning_gap_steps` and
/// `learning_budget_steps` (default: every step trained, `train.epochs × steps_per_epoch`).
#[must_use]
pub fn learning_rule(spec: &ZooSpec) -> LearningRule {
    let p = &spec.phases;
    let trained = u64::from(spec.train.epochs) * u64::from(spec.train.steps_per_epoch);
    LearningRule {
        accuracy: p.learning_accuracy,
        gap_steps: p.learning_gap_steps,
        budget_steps: p.learning_budget_steps.unwrap_or(trained),
    }
}

/// (step, accuracy) points of a curve, in step order.
pub type Curve = Vec<(u64, f64)>;

/// The (step, train accuracy) and (step, validation accuracy) curves of a model's results;
/// `None` when its lines hold no accuracies (not a modular-arithmetic model).
#[must_use]
pub fn accuracy_curves(records: &[EpochRecord]) -> Option<(Curve, Curve)> {
    let curve = |key: &str| -> Option<Curve> {
        records.iter().map(|r| Some((r.step, r.extra.get(key)?.as_f64()?))).collect()
    };
    let (train, val) = (curve("train_acc")?, curve("val_acc")?);
    (!train.is_empty()).then_some((train, val))
}

/// Label every finished model of a modular-arithmetic zoo, and every cell by its majority;
/// `None` for a zoo of another problem.
///
/// # Errors
/// A model's `result.json` that cannot be read.
pub fn label_learning_zoo(view: &ZooView) -> Result<Option<LearningGrid>> {
    let spec = &view.zoo.spec;
    if !matches!(spec.problem, ProblemConfig::ModArith(_)) {
        return Ok(None);
    }
    let rule = learning_rule(spec);
    let g = &spec.grid;
    let mut cells = Vec::new();
    for (t, &temperature) in g.temperature.values.iter().enumerate() {
        for (l, &load) in g.load.values.iter().enumerate() {
            let mut models = Vec::new();
            for (m, row) in view.plan.models.iter().zip(&view.rows) {
                if m.cell.load != l || m.cell.temperature != t {
                    continue;
                }
                let finished = row.status == "done" || row.status == "failed";
                let label = if finished {
                    let records = view.zoo.model(m.id()).read_results()?;
                    accuracy_curves(&records).map(|(train, val)| label_learning(&train, &val, rule))
                } else {
                    None
                };
                models.push(ModelLearning {
                    model_id: m.id().to_string(),
                    seed: m.config.seed,
                    status: row.status.clone(),
                    label,
                });
            }
            let phases: Vec<LearningPhase> =
                models.iter().filter_map(|m| m.label.as_ref().map(|l| l.phase)).collect();
            let top = majority(&phases);
            cells.push(LearningCell {
                load,
                temperature,
                majority: top.map(|(p, _)| p),
                majority_count: top.map_or(0, |(_, n)| n),
                labelled: phases.len(),
                models,
            });
        }
    }
    Ok(Some(LearningGrid {
        load_name: g.load.short_name().to_string(),
        temperature_name: g.temperature.short_name().to_string(),
        loads: g.load.values.clone(),
        temperatures: g.temperature.values.clone(),
        rule,
        cells,
    }))
}
