//! The modular-arithmetic family behind [`ZooFamily`]: planned models grouped into stacked
//! populations of up to `run.max_population` (the whole grid when its shapes agree), first come.

use pz_spec::{PlannedModel, ProblemConfig, ResolvedModel};
use pz_store::ZooDir;
use tch::Device;

use super::measured::ModArithMeasured;
use super::training::train_population;
use crate::family::{Packing, WorkerCache, ZooFamily};
use crate::measured::MeasuredPopulation;
use crate::{Error, Outcome, Run};

/// Learned embeddings and an MLP decoder on `a ∘ b mod p` (Liu et al. 2022).
#[derive(Debug, Clone, Copy)]
pub struct ModArithFamily;

impl ZooFamily for ModArithFamily {
    fn name(&self) -> &'static str {
        "modular-arithmetic"
    }

    fn packing(&self) -> Packing {
        Packing::Populations
    }

    fn population_key(&self, config: &ResolvedModel) -> String {
        shape_key(config)
    }

    /// Mode connectivity is not measured: the curve problem is not written for this family.
    fn measures_mode_connectivity(&self) -> bool {
        false
    }

    fn load_measured(
        &self,
        zoo: &ZooDir,
        models: &[PlannedModel],
        epoch: u32,
        device: Device,
    ) -> Result<Box<dyn MeasuredPopulation>, Error> {
        Ok(Box::new(ModArithMeasured::load(zoo, models, epoch, device)?))
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

/// The populations the family makes of `models` (at most `max_population` members each, 0 =
/// no limit, plan order kept): what a member carries alone (seed, learning rates, weight
/// decays, train fraction, init scale) does not split them. The tests' view of `units`.
#[cfg(test)]
pub(crate) fn group(models: &[PlannedModel], max_population: usize) -> Vec<Vec<PlannedModel>> {
    ModArithFamily.units(models.to_vec(), &[], max_population).into_iter().map(|(p, _)| p).collect()
}

/// The resolved config with the per-member quantities blanked.
fn shape_key(config: &ResolvedModel) -> String {
    let mut blanked = config.clone();
    blanked.train.lr = 0.0;
    blanked.train.weight_decay = 0.0;
    if let ProblemConfig::ModArith(m) = &mut blanked.problem {
        m.decoder_lr = 0.0;
        m.decoder_weight_decay = 0.0;
        m.train_fraction = 0.0;
        m.init_scale = 0.0;
    }
    crate::family::default_population_key(&blanked)
}
