//! Hessian metrics of a population of models at one epoch.

use std::collections::BTreeMap;

use pz_spec::{HessianConfig, PlannedModel};
use pz_store::{MetricKey, ZooDir};
use pz_train::load_population;
use tch::Device;

use super::{number, MeasureError};
use crate::{
    hutchinson_trace, model_stream, slq_density, top_eigenvalues, GraphedHvp, Hutchinson, LossHvp,
    PowerIteration, Slq,
};

/// Top eigenvalues, trace (and density) of each model's training loss at `epoch`.
pub(super) fn measure(
    zoo: &ZooDir,
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
    // A lone model is measured beside a copy of itself: libtorch computes a batch of one
    // matrix product by another kernel than a batch of several (different last bits), so a
    // population of one would give other values than the same model among others.
    let stacked = super::at_least_two(models);
    let pop = load_population(zoo, &stacked, epoch, device)?;
    let params = pop.params();
    // The PINN loss holds input derivatives: the HVP differentiates it twice more.
    let op = GraphedHvp::new(LossHvp::new(params, vec![(1.0, pop.losses_at(params))]), device, graphs);
    let streams: Vec<u64> = stacked.iter().map(|m| model_stream(m.id())).collect();
    let (power, hutchinson) = settings(cfg, &streams);
    let eigen = top_eigenvalues(&op, params, cfg.top_n, &power);
    let traces = hutchinson_trace(&op, params, &hutchinson);
    let densities = (cfg.density_probes > 0).then(|| {
        slq_density(
            &op,
            params,
            &Slq { probes: cfg.density_probes, steps: cfg.density_steps, seed: cfg.seed, streams },
        )
    });
    for (k, m) in models.iter().enumerate() {
        let mut values = BTreeMap::new();
        values.insert(MetricKey::HessianTopEv.as_str().to_string(), number(eigen[k][0]));
        if cfg.top_n > 1 {
            values.insert(
                MetricKey::HessianTopEvs.as_str().to_string(),
                eigen[k].iter().copied().map(number).collect(),
            );
        }
        values.insert(MetricKey::HessianTrace.as_str().to_string(), number(traces[k].mean));
        values.insert(MetricKey::HessianTraceStdErr.as_str().to_string(), number(traces[k].std_err));
        values.insert(
            MetricKey::HessianTraceSamples.as_str().to_string(),
            serde_json::json!(traces[k].samples.len()),
        );
        if let Some(d) = &densities {
            values.insert(
                MetricKey::HessianDensityNodes.as_str().to_string(),
                d[k].nodes.iter().copied().map(number).collect(),
            );
            values.insert(
                MetricKey::HessianDensityWeights.as_str().to_string(),
                d[k].weights.iter().copied().map(number).collect(),
            );
        }
        tracing::info!(model = %m.id(), epoch, top_ev = eigen[k][0], trace = traces[k].mean, "hessian");
        zoo.model(m.id()).merge_metrics(epoch, values)?;
    }
    Ok(())
}

/// Power iteration and Hutchinson as `[metrics.hessian]` sets them, member k drawing its probes
/// from stream `streams[k]` (its model's, so that the values do not depend on the other members).
pub(super) fn settings(cfg: &HessianConfig, streams: &[u64]) -> (PowerIteration, Hutchinson) {
    let power = PowerIteration {
        max_iter: cfg.max_iter,
        tol: cfg.tol,
        seed: cfg.seed,
        streams: streams.to_vec(),
        ..PowerIteration::default()
    };
    let hutchinson = Hutchinson {
        max_iter: cfg.trace_max_iter,
        tol: cfg.trace_tol,
        seed: cfg.seed,
        streams: streams.to_vec(),
        ptmz_compat: cfg.ptmz_compat,
    };
    (power, hutchinson)
}
