//! The grid plan: every model of a zoo with its resolved config and id.
//!
//! Pure: the plan depends on the spec alone, so planning twice gives the same models in the same
//! order, and a rerun finds the models of an earlier run by id.

use serde::{Deserialize, Serialize};
use toml::{Table, Value};

use crate::error::SpecError;
use crate::load::{get_key, set_key, type_table};
use crate::{ModelConfig, ModelId, ProblemConfig, TrainConfig, ZooSpec};

/// Position of a model's cell in the grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CellIndex {
    /// Index into the load axis values.
    pub load: usize,
    /// Index into the temperature axis values.
    pub temperature: usize,
}

/// An axis setting of one model: which key, its short name, the value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AxisSetting {
    /// Spec key set by the axis.
    pub key: String,
    /// Short axis name.
    pub name: String,
    /// The value this model got.
    pub value: f64,
}

/// Everything that determines one model's training: written as its `params.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResolvedModel {
    /// The model's id (hash of `model`, `problem`, `train`, `seed`).
    pub model_id: ModelId,
    /// The zoo it belongs to.
    pub zoo: String,
    /// The load-axis setting.
    pub load: AxisSetting,
    /// The temperature-axis setting.
    pub temperature: AxisSetting,
    /// Seed of the model's random streams (initialization, collocation points).
    pub seed: u64,
    /// Architecture with the axis values applied.
    pub model: ModelConfig,
    /// Problem with the axis values applied.
    pub problem: ProblemConfig,
    /// Training recipe with the axis values applied.
    pub train: TrainConfig,
}

/// One planned model.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedModel {
    /// Its grid cell.
    pub cell: CellIndex,
    /// Its resolved config (with the id).
    pub config: ResolvedModel,
}

impl PlannedModel {
    /// The model id.
    #[must_use]
    pub fn id(&self) -> &ModelId {
        &self.config.model_id
    }
}

/// All models of a zoo, load-major, then temperature, then seed.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The models in plan order.
    pub models: Vec<PlannedModel>,
}

impl Plan {
    /// Expand the grid.
    ///
    /// # Errors
    /// Only for a spec that did not come through validation (an axis key that does not type).
    pub fn new(spec: &ZooSpec) -> Result<Self, SpecError> {
        let base = Table::try_from(spec.clone()).expect("a ZooSpec always converts to a table");
        let mut models = Vec::with_capacity(spec.grid.len());
        let invalid = |p| SpecError::Invalid { origin: format!("zoo {}", spec.name), problems: vec![p] };
        for (li, &lv) in spec.grid.load.values.iter().enumerate() {
            for (ti, &tv) in spec.grid.temperature.values.iter().enumerate() {
                let mut table = base.clone();
                for (axis, v) in [(&spec.grid.load, lv), (&spec.grid.temperature, tv)] {
                    let value = axis_value(get_key(&base, &axis.key), v);
                    set_key(&mut table, &axis.key, value)
                        .map_err(|m| invalid(crate::Problem::new(axis.key.clone(), m)))?;
                }
                let cell_spec = type_table(table).map_err(invalid)?;
                for &seed in &spec.grid.seeds {
                    models.push(PlannedModel {
                        cell: CellIndex { load: li, temperature: ti },
                        config: resolve(spec, &cell_spec, lv, tv, seed),
                    });
                }
            }
        }
        Ok(Self { models })
    }
}

fn resolve(spec: &ZooSpec, cell: &ZooSpec, lv: f64, tv: f64, seed: u64) -> ResolvedModel {
    let canonical = serde_json::json!({
        "model": cell.model, "problem": cell.problem, "train": cell.train, "seed": seed,
    });
    let setting = |axis: &crate::Axis, value| AxisSetting {
        key: axis.key.clone(),
        name: axis.short_name().to_string(),
        value,
    };
    ResolvedModel {
        model_id: ModelId::of(&canonical),
        zoo: spec.name.clone(),
        load: setting(&spec.grid.load, lv),
        temperature: setting(&spec.grid.temperature, tv),
        seed,
        model: cell.model.clone(),
        problem: cell.problem.clone(),
        train: cell.train.clone(),
    }
}

/// The TOML value an axis writes: an integer where the key currently holds one (widths, batch
/// sizes), a float otherwise.
pub(crate) fn axis_value(current: Option<&Value>, v: f64) -> Value {
    #[allow(clippy::cast_possible_truncation)]
    match current {
        Some(Value::Integer(_)) if v.fract() == 0.0 => Value::Integer(v as i64),
        Some(_) => Value::Float(v),
        // A key left at its default: whole numbers as integers, which also deserialize into
        // float fields (so `model.width = 8` and `train.lr = 1` both work).
        None if v.fract() == 0.0 && v.abs() < 9e15 => Value::Integer(v as i64),
        None => Value::Float(v),
    }
}
