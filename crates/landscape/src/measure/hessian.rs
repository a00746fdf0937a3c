//! Hessian metrics of a population of models at one epoch.

use std::collections::BTreeMap;

use pz_spec::{HessianConfig, PlannedModel};
use pz_store::ZooDir;
use pz_train::load_population;
use tch::Device;

use super::{number, MeasureError};
use crate::{
    hutchinson_trace, slq_density, top_eigenvalues, GraphedHvp, Hutchinson, LossHvp, PowerIteration, Slq,
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
    let pop = load_population(zoo, models, epoch, device)?;
    let params = pop.params();
    // The PINN loss holds input derivatives: the HVP differentiates it twice more.
    let op = GraphedHvp::new(LossHvp::new(params, vec![(1.0, pop.losses_at(params))]), device, graphs);
    let (power, hutchinson) = settings(cfg);
    let eigen = top_eigenvalues(&op, params, cfg.top_n, &power);
    let traces = hutchinson_trace(&op, params, &hutchinson);
    let densities = (cfg.density_probes > 0).then(|| {
        slq_density(
            &op,
            params,
            &Slq { probes: cfg.density_probes, steps: cfg.density_steps, seed: cfg.seed },
        )
    });
    for (k, m) in models.iter().enumerate() {
        let mut values = BTreeMap::new();
        values.insert("hessian_top_ev".to_string(), number(eigen[k][0]));
        if cfg.top_n > 1 {
            values.insert("hessian_top_evs".to_string(), eigen[k].iter().copied().map(number).collect());
        }
        values.insert("hessian_trace".to_string(), number(traces[k].mean));
        values.insert("hessian_trace_std_err".to_string(), number(traces[k].std_err));
        values.insert("hessian_trace_samples".to_string(), serde_json::json!(traces[k].samples.len()));
        if let Some(d) = &densities {
            values.insert(
                "hessian_density_nodes".to_string(),
                d[k].nodes.iter().copied().map(number).collect(),
            );
            values.insert(
                "hessian_density_weights".to_string(),
                d[k].weights.iter().copied().map(number).collect(),
            );
        }
        tracing::info!(model = %m.id(), epoch, top_ev = eigen[k][0], trace = traces[k].mean, "hessian");
        zoo.model(m.id()).merge_metrics(epoch, values)?;
    }
    Ok(())
}

/// Power iteration and Hutchinson as `[metrics.hessian]` sets them.
pub(super) fn settings(cfg: &HessianConfig) -> (PowerIteration, Hutchinson) {
    let power =
        PowerIteration { max_iter: cfg.max_iter, tol: cfg.tol, seed: cfg.seed, ..PowerIteration::default() };
    let hutchinson = Hutchinson {
        max_iter: cfg.trace_max_iter,
        tol: cfg.trace_tol,
        seed: cfg.seed,
        ptmz_compat: cfg.ptmz_compat,
    };
    (power, hutchinson)
}
