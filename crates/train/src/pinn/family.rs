//! The PINN family behind [`ZooFamily`]: planned models grouped into stacked populations of up
//! to `run.max_population`, first come (a population is one unit of work for one worker).

use pz_device::outside_captures;
use pz_spec::{PlannedModel, ResolvedModel};
use tch::Device;

use pz_store::ZooDir;

use super::measured::PinnMeasured;
use super::{PinnPopulation, PinnTraining};
use crate::family::{Packing, WorkerCache, ZooFamily};
use crate::measured::MeasuredPopulation;
use crate::{run_population, Error, Outcome, Run};

/// PINNs on the convection problem.
#[derive(Debug, Clone, Copy)]
pub struct PinnFamily;

impl ZooFamily for PinnFamily {
    fn name(&self) -> &'static str {
        "PINN"
    }

    fn packing(&self) -> Packing {
        Packing::Populations
    }

    fn population_key(&self, config: &ResolvedModel) -> String {
        super::group::shape_key(config)
    }

    fn load_measured(
        &self,
        zoo: &ZooDir,
        models: &[PlannedModel],
        epoch: u32,
        device: Device,
    ) -> Result<Box<dyn MeasuredPopulation>, Error> {
        Ok(Box::new(PinnMeasured::load(zoo, models, epoch, device)?))
    }

    fn train_unit(
        &self,
        _cache: &mut WorkerCache,
        unit: &[PlannedModel],
        run: &Run,
    ) -> Result<Outcome, Error> {
        train_population(run, unit)
    }
}

/// Train one PINN population to its last epoch through [`run_population`].
///
/// # Errors
/// As [`run_population`].
pub fn train_population(run: &Run, plan: &[PlannedModel]) -> Result<Outcome, Error> {
    let configs: Vec<_> = plan.iter().map(|p| &p.config).collect();
    // GPU work outside the steps is held apart from other workers' graph captures, as the steps
    // are (pz_device::outside_captures).
    let pop = outside_captures(|| {
        PinnPopulation::new(&configs, run.device)
            .with_cuda_graphs(run.cuda_graphs)
            .with_fused_kernels(run.fused_kernels)
    });
    let steps_per_epoch = plan[0].config.train.steps_per_epoch;
    run_population(run, plan, &mut PinnTraining { pop, steps_per_epoch })
}
