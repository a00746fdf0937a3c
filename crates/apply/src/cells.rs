//! What the applications read from a zoo: its finished cells, a model's weights at an epoch,
//! its recorded test accuracy, and the permutation spec of its architecture.

use std::collections::BTreeMap;

use pz_align::{gpt2_spec, mlp_spec, resnet_spec, vit_spec, PermutationSpec, StateDict};
use pz_spec::{CellIndex, ModelConfig, Plan, PlannedModel};
use pz_store::{ModelState, ZooDir};

use crate::state::to_state_dict;
use crate::Error;

/// The cells whose every seed finished training (models in plan order, so seed order), and
/// how many cells did not.
///
/// # Errors
/// An unreadable `status.json`.
pub(crate) fn finished_cells(zoo: &ZooDir, plan: &Plan) -> Result<(Vec<Vec<PlannedModel>>, usize), Error> {
    let mut cells: BTreeMap<CellIndex, Vec<PlannedModel>> = BTreeMap::new();
    for m in &plan.models {
        cells.entry(m.cell).or_default().push(m.clone());
    }
    let (mut finished, mut unfinished) = (Vec::new(), 0);
    for (cell, models) in cells {
        let mut done = true;
        for m in &models {
            done &= zoo.model(m.id()).read_status()?.state == ModelState::Done;
        }
        if done {
            finished.push(models);
        } else {
            unfinished += 1;
            tracing::warn!(load = cell.load, temperature = cell.temperature, "cell not finished: skipped");
        }
    }
    Ok((finished, unfinished))
}

/// `model`'s state dict at `epoch`, verified against its manifest.
///
/// # Errors
/// No checkpoint at that epoch, or a damaged one (naming model and file).
pub(crate) fn weights_at(zoo: &ZooDir, model: &PlannedModel, epoch: u32) -> Result<StateDict, Error> {
    to_state_dict(&pz_train::checkpoint_at(zoo, model, epoch)?.model)
}

/// The test accuracy `model`'s `result.json` records at `epoch` (`test_acc`, else
/// 1 − `test_error`): the original's baseline for its deltas.
///
/// # Errors
/// An unreadable `result.json`, or no line for that epoch.
pub(crate) fn recorded_test_acc(zoo: &ZooDir, model: &PlannedModel, epoch: u32) -> Result<f64, Error> {
    let records = zoo.model(model.id()).read_results()?;
    let record = records.iter().find(|r| r.epoch == epoch).ok_or_else(|| {
        Error::Config(format!("model {}: result.json has no line for epoch {epoch}", model.id()))
    })?;
    Ok(record.extra.get("test_acc").and_then(serde_json::Value::as_f64).unwrap_or(1.0 - record.test_error))
}

/// The permutation spec (git re-basin groups) of `model`'s architecture on `state`.
///
/// # Errors
/// A state dict that does not have the architecture's layout.
pub(crate) fn permutation_spec(model: &PlannedModel, state: &StateDict) -> Result<PermutationSpec, Error> {
    let spec = match &model.config.model {
        ModelConfig::Resnet18(_) | ModelConfig::Resnet50(_) => resnet_spec(state),
        ModelConfig::Vit(v) => vit_spec(state, (v.width / v.head_dim.max(1)) as usize),
        ModelConfig::Gpt2(g) => gpt2_spec(state, (g.model_dim / g.head_dim.max(1)) as usize),
        ModelConfig::Mlp(_) => mlp_spec(state),
    };
    spec.map_err(|source| Error::align(model.id(), source))
}
