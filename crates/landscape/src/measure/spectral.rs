//! Heavy-tail metrics of each model's weights (pz-spectral, WeightWatcher's alpha per layer):
//! read from the checkpoint file alone, no data and no device, so they run on the measuring
//! thread for any family.

use std::collections::BTreeMap;

use pz_spec::PlannedModel;
use pz_store::{Checkpoint, MetricKey, ZooDir};

use super::{number, MeasureError};

/// `ww_alpha` (mean over fitted layers), `ww_alpha_weighted` and `ww_layers` (per layer: name,
/// alpha, xmin, D, tail size, λ_max) of the model's checkpoint at `epoch`. A model none of
/// whose layers is large enough (every matrix under WeightWatcher's 10 eigenvalues) gets
/// `null` means and its layers listed, so it is not measured again. `Ok(Err(reason))`: the
/// checkpoint could not be read (the model is skipped, as the other metrics skip it).
///
/// # Errors
/// Writing `metrics.json`.
pub(super) fn measure_one(
    zoo: &ZooDir,
    m: &PlannedModel,
    epoch: u32,
) -> Result<Result<(), String>, MeasureError> {
    {
        let dir = zoo.model(m.id());
        let file = Checkpoint { dir: dir.path.join(Checkpoint::dir_name(epoch)), epoch }.model_file();
        let layers = match pz_spectral::layer_alphas(&file) {
            Ok(layers) => layers,
            Err(e) => return Ok(Err(e.to_string())),
        };
        let mean = pz_spectral::model_alpha(&layers);
        let per_layer: Vec<serde_json::Value> = layers
            .iter()
            .map(|l| {
                serde_json::json!({
                    "name": l.name,
                    "alpha": l.alpha().map_or(serde_json::Value::Null, number),
                    "xmin": l.fit.as_ref().map_or(serde_json::Value::Null, |f| number(f.xmin)),
                    "D": l.fit.as_ref().map_or(serde_json::Value::Null, |f| number(f.d)),
                    "tail": l.fit.as_ref().map(|f| f.num_pl_spikes),
                    "lambda_max": number(l.lambda_max),
                })
            })
            .collect();
        let entry = BTreeMap::from([
            (
                MetricKey::WwAlpha.as_str().to_string(),
                mean.map_or(serde_json::Value::Null, |a| number(a.alpha)),
            ),
            (
                MetricKey::WwAlphaWeighted.as_str().to_string(),
                mean.map_or(serde_json::Value::Null, |a| number(a.alpha_weighted)),
            ),
            (MetricKey::WwLayers.as_str().to_string(), serde_json::Value::Array(per_layer)),
        ]);
        dir.merge_metrics(epoch, entry)?;
        tracing::info!(model = %m.id(), epoch, alpha = ?mean.map(|a| a.alpha), "heavy-tail alpha");
    }
    Ok(Ok(()))
}
