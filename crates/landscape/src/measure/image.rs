//! Metrics of trained image models, each model alone (image models of a zoo differ in width, so
//! they do not stack), in eval mode: the Hessian (SPEC §3.1) on 10 batches of 64 training
//! samples (shuffled and augmented once, the same for every model) and on the first 640 test
//! images; CKA between the seeds of a cell (SPEC §3.2) on their logits of the first 1,280 test
//! images, per batch of 128.

use std::collections::BTreeMap;

use pz_data::vision::VisionData;
use pz_spec::{PlannedModel, ProblemConfig};
use pz_store::{MetricKey, ZooDir, TEST_SET_SUFFIX};
use pz_train::classify::{load_image_model, metric_batches, ImageTask, MetricSet};
use tch::{Device, Tensor};

use super::cells::{pairs, store_cka};
use super::{hessian::settings, number, MeasureError};
use crate::{feature_space_linear_cka, hutchinson_trace, model_stream, top_eigenvalues, GraphedHvp, LossHvp};

/// PTMZ's Hessian data: `hessian_number_batches` × `hessian_batch_size`.
const BATCHES: usize = 10;
const BATCH_SIZE: i64 = 64;
/// PTMZ's CKA data: `CKA_num_batches` × `CKA_batch_size`.
const CKA_BATCHES: usize = 10;
const CKA_BATCH_SIZE: i64 = 128;

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
    let graphs = zoo.spec.run.graph;
    if let (Device::Cuda(i), true) = (device, graphs) {
        // A captured product needs this thread's work off the default stream.
        pz_device::use_own_cuda_stream(i);
    }
    let task = ImageTask::new(data, image, device);
    let sets: Vec<(&str, Vec<(Tensor, Tensor)>)> =
        [(MetricSet::Train, ""), (MetricSet::Test, TEST_SET_SUFFIX)]
            .into_iter()
            .map(|(set, suffix)| (suffix, metric_batches(&task, set, BATCHES, BATCH_SIZE, cfg.seed)))
            .collect();
    for m in models {
        let trainer = load_image_model(zoo, m, epoch, &task, device)?;
        let params = trainer.parameters();
        // Population vectors of one member around the model's own tensors (LossHvp::single_model).
        let lifted: Vec<Tensor> = params.iter().map(|p| p.detach().unsqueeze(0)).collect();
        let (power, hutchinson) = settings(cfg, &[model_stream(m.id())]);
        let mut values = BTreeMap::new();
        for (suffix, batches) in &sets {
            let total: i64 = batches.iter().map(|(_, y)| y.size()[0]).sum();
            #[allow(clippy::cast_precision_loss)]
            let losses = batches
                .iter()
                .map(|(x, y)| (y.size()[0] as f64 / total as f64, trainer.eval_loss(x, y).unsqueeze(0)))
                .collect();
            let op = GraphedHvp::new(LossHvp::single_model(params, losses), device, graphs);
            let top = top_eigenvalues(&op, &lifted, cfg.top_n, &power).swap_remove(0);
            let trace = hutchinson_trace(&op, &lifted, &hutchinson).swap_remove(0);
            let key = |k: MetricKey| format!("{k}{suffix}");
            values.insert(key(MetricKey::HessianTopEv), number(top[0]));
            if cfg.top_n > 1 {
                values.insert(key(MetricKey::HessianTopEvs), top.iter().copied().map(number).collect());
            }
            values.insert(key(MetricKey::HessianTrace), number(trace.mean));
            values.insert(key(MetricKey::HessianTraceStdErr), number(trace.std_err));
            values.insert(key(MetricKey::HessianTraceSamples), serde_json::json!(trace.samples.len()));
            tracing::info!(model = %m.id(), epoch, set = suffix, top_ev = top[0], trace = trace.mean, "hessian");
        }
        zoo.model(m.id()).merge_metrics(epoch, values)?;
    }
    Ok(())
}

/// Linear CKA (biased, feature space) between every pair of seeds of each cell, computed per
/// test batch and averaged (SPEC §3.2): `cka` (the mean over pairs and batches) and `cka_pairs`
/// (each pair's mean over batches) on every model of the cell.
pub(super) fn measure_cka(
    zoo: &ZooDir,
    cells: &[Vec<PlannedModel>],
    epoch: u32,
    device: Device,
    data: &VisionData,
) -> Result<(), MeasureError> {
    for models in cells {
        let Some(ProblemConfig::Image(image)) = models.first().map(|m| &m.config.problem) else {
            continue;
        };
        let task = ImageTask::new(data, image, device);
        let batches = metric_batches(&task, MetricSet::Test, CKA_BATCHES, CKA_BATCH_SIZE, 0);
        let logits: Vec<Vec<Tensor>> = models
            .iter()
            .map(|m| {
                let trainer = load_image_model(zoo, m, epoch, &task, device)?;
                Ok(batches
                    .iter()
                    .map(|(x, _)| trainer.eval_logits(x).to_kind(tch::Kind::Double).to_device(Device::Cpu))
                    .collect())
            })
            .collect::<Result<_, MeasureError>>()?;
        let per_pair: Vec<f64> = pairs(models.len())
            .into_iter()
            .map(|(i, j)| {
                let per_batch = logits[i].iter().zip(&logits[j]).map(|(x, y)| feature_space_linear_cka(x, y));
                #[allow(clippy::cast_precision_loss)]
                let batches = logits[i].len() as f64;
                per_batch.sum::<f64>() / batches
            })
            .collect();
        store_cka(zoo, models, epoch, &per_pair)?;
    }
    Ok(())
}
