//! Hessian metrics of measured models at one epoch: top eigenvalues, trace (and the spectral
//! density when configured) of each loss set a family offers (training data; image models also
//! test data, under `_val` keys).

use std::collections::BTreeMap;

use pz_spec::{HessianConfig, PlannedModel};
use pz_store::{MetricKey, ZooDir};
use pz_train::ZooFamily;
use tch::{Device, Tensor};

use super::{number, MeasureError};
use crate::{
    hutchinson_trace, model_stream, slq_density, top_eigenvalues, GraphedHvp, Hutchinson, LossHvp,
    PowerIteration, Slq,
};

/// Hessian values of every model of `models` at `epoch`, into their `metrics.json`.
pub(super) fn measure(
    zoo: &ZooDir,
    family: &dyn ZooFamily,
    models: &[PlannedModel],
    epoch: u32,
    device: Device,
) -> Result<(), MeasureError> {
    let cfg = &zoo.spec.metrics.hessian;
    let graphs = zoo.spec.run.graph;
    if let (Device::Cuda(i), true) = (device, graphs) {
        // A captured product needs this thread's work off the default stream.
        pz_device::use_own_cuda_stream(i);
    }
    let pop = family.load_measured(zoo, models, epoch, device)?;
    let mut values: Vec<BTreeMap<String, serde_json::Value>> = vec![BTreeMap::new(); models.len()];
    for (g, rows) in pop.hessian_groups().iter().enumerate() {
        // Row r draws its probes from its model's stream: its values do not depend on the rows
        // beside it.
        let streams: Vec<u64> = rows.iter().map(|&k| model_stream(models[k].id())).collect();
        let (power, hutchinson) = settings(cfg, &streams);
        for (s, suffix) in pop.loss_sets().iter().enumerate() {
            let graph = pop.loss_graph(g, s)?;
            // The vectors the operator takes: the stacked parameters' shapes, or one model's
            // tensors as a population of one (LossHvp::single_model).
            let (like, hvp) = if graph.stacked {
                let like: Vec<Tensor> = graph.params.iter().map(Tensor::shallow_clone).collect();
                (like, LossHvp::new(&graph.params, graph.losses))
            } else {
                let like = graph.params.iter().map(|p| p.detach().unsqueeze(0)).collect();
                (like, LossHvp::single_model(&graph.params, graph.losses))
            };
            let op = GraphedHvp::new(hvp, device, graphs);
            let eigen = top_eigenvalues(&op, &like, cfg.top_n, &power);
            let traces = hutchinson_trace(&op, &like, &hutchinson);
            let densities = (cfg.density_probes > 0).then(|| {
                let slq = Slq {
                    probes: cfg.density_probes,
                    steps: cfg.density_steps,
                    seed: cfg.seed,
                    streams: streams.clone(),
                };
                slq_density(&op, &like, &slq)
            });
            for (r, &k) in rows.iter().enumerate() {
                if rows[..r].contains(&k) {
                    continue; // a copy measured beside its model (pz_train::MeasuredPopulation)
                }
                let key = |key: MetricKey| format!("{key}{suffix}");
                let v = &mut values[k];
                v.insert(key(MetricKey::HessianTopEv), number(eigen[r][0]));
                if cfg.top_n > 1 {
                    v.insert(key(MetricKey::HessianTopEvs), eigen[r].iter().copied().map(number).collect());
                }
                v.insert(key(MetricKey::HessianTrace), number(traces[r].mean));
                v.insert(key(MetricKey::HessianTraceStdErr), number(traces[r].std_err));
                v.insert(key(MetricKey::HessianTraceCi95), number(traces[r].ci95));
                v.insert(key(MetricKey::HessianTraceSamples), serde_json::json!(traces[r].samples.len()));
                if let Some(d) = &densities {
                    v.insert(
                        key(MetricKey::HessianDensityNodes),
                        d[r].nodes.iter().copied().map(number).collect(),
                    );
                    v.insert(
                        key(MetricKey::HessianDensityWeights),
                        d[r].weights.iter().copied().map(number).collect(),
                    );
                }
                if !traces[r].converged && !cfg.ptmz_compat {
                    tracing::warn!(model = %models[k].id(), epoch, set = suffix, probes = traces[r].samples.len(), "hessian trace: metrics.hessian.trace_max_iter reached before trace_rel_std_err; the reported standard error says how precise it is");
                }
                tracing::info!(model = %models[k].id(), epoch, set = suffix, top_ev = eigen[r][0], trace = traces[r].mean, ci95 = traces[r].ci95, "hessian");
            }
        }
    }
    for (m, v) in models.iter().zip(values) {
        zoo.model(m.id()).merge_metrics(epoch, v)?;
    }
    Ok(())
}

/// Power iteration and Hutchinson as `[metrics.hessian]` sets them, row r drawing its probes
/// from stream `streams[r]` (its model's, so that the values do not depend on the other rows).
fn settings(cfg: &HessianConfig, streams: &[u64]) -> (PowerIteration, Hutchinson) {
    let power = PowerIteration {
        max_iter: cfg.max_iter,
        tol: cfg.tol,
        seed: cfg.seed,
        streams: streams.to_vec(),
        ..PowerIteration::default()
    };
    let hutchinson = Hutchinson::from_config(cfg, streams);
    (power, hutchinson)
}
