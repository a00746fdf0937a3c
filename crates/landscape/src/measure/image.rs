//! Hessian metrics of trained image models (SPEC §3.1): each model alone (image models of a zoo
//! differ in width, so they do not stack), in eval mode, on 10 batches of 64 training samples
//! (shuffled and augmented once, the same for every model) and on the first 640 test images.

use std::collections::BTreeMap;

use pz_data::vision::VisionData;
use pz_spec::{PlannedModel, ProblemConfig};
use pz_store::ZooDir;
use pz_train::classify::{load_image_model, metric_batches, ImageTask, MetricSet};
use tch::{Device, Tensor};

use super::{hessian::settings, number, MeasureError};
use crate::{hutchinson_trace, top_eigenvalues, LossHvp};

/// PTMZ's Hessian data: `hessian_number_batches` × `hessian_batch_size`.
const BATCHES: usize = 10;
const BATCH_SIZE: i64 = 64;

/// Top eigenvalue and trace of each model of `models` (one cell: they share a dataset subset)
/// on the training samples (`hessian_top_ev`, `hessian_trace`, …) and on the test samples
/// (the same keys with `_val`, PTMZ's names for its test-set values).
pub(super) fn measure_hessians(
    zoo: &ZooDir,
    models: &[PlannedModel],
    epoch: u32,
    device: Device,
    data: &VisionData,
) -> Result<(), MeasureError> {
    let Some(ProblemConfig::Image(image)) = models.first().map(|m| &m.config.problem) else {
        return Ok(());
    };
    let cfg = &zoo.spec.metrics.hessian;
    let (power, hutchinson) = settings(cfg);
    let task = ImageTask::new(data, image, device);
    let sets: Vec<(&str, Vec<(Tensor, Tensor)>)> = [(MetricSet::Train, ""), (MetricSet::Test, "_val")]
        .into_iter()
        .map(|(set, suffix)| (suffix, metric_batches(&task, set, BATCHES, BATCH_SIZE, cfg.seed)))
        .collect();
    for m in models {
        let trainer = load_image_model(zoo, m, epoch, &task, device)?;
        let params = trainer.parameters();
        // Population vectors of one member around the model's own tensors (LossHvp::single_model).
        let lifted: Vec<Tensor> = params.iter().map(|p| p.detach().unsqueeze(0)).collect();
        let mut values = BTreeMap::new();
        for (suffix, batches) in &sets {
            let total: i64 = batches.iter().map(|(_, y)| y.size()[0]).sum();
            #[allow(clippy::cast_precision_loss)]
            let losses = batches
                .iter()
                .map(|(x, y)| (y.size()[0] as f64 / total as f64, trainer.eval_loss(x, y).unsqueeze(0)))
                .collect();
            let op = LossHvp::single_model(params, losses);
            let top = top_eigenvalues(&op, &lifted, cfg.top_n, &power).swap_remove(0);
            let trace = hutchinson_trace(&op, &lifted, &hutchinson).swap_remove(0);
            values.insert(format!("hessian_top_ev{suffix}"), number(top[0]));
            if cfg.top_n > 1 {
                values.insert(format!("hessian_top_evs{suffix}"), top.iter().copied().map(number).collect());
            }
            values.insert(format!("hessian_trace{suffix}"), number(trace.mean));
            values.insert(format!("hessian_trace_std_err{suffix}"), number(trace.std_err));
            values.insert(format!("hessian_trace_samples{suffix}"), serde_json::json!(trace.samples.len()));
            tracing::info!(model = %m.id(), epoch, set = suffix, top_ev = top[0], trace = trace.mean, "hessian");
        }
        zoo.model(m.id()).merge_metrics(epoch, values)?;
    }
    Ok(())
}
