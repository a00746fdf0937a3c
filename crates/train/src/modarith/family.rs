//! The modular-arithmetic family behind [`ZooFamily`]: planned models grouped into stacked
//! populations of up to `run.max_population` (the whole grid when its shapes agree), first come.

use pz_exec::pack::Cost;
use pz_spec::{PlannedModel, ProblemConfig, ResolvedModel};
use pz_store::ZooDir;
use tch::Device;

use super::measured::ModArithMeasured;
use super::training::train_population;
use crate::family::{WorkerCache, ZooFamily};
use crate::measured::MeasuredPopulation;
use crate::{Error, Outcome, Run};

/// Learned embeddings and an MLP decoder on `a ∘ b mod p` (Liu et al. 2022).
#[derive(Debug, Clone, Copy)]
pub struct ModArithFamily;

impl ZooFamily for ModArithFamily {
    fn name(&self) -> &'static str {
        "modular-arithmetic"
    }

    fn steps_per_epoch(&self, config: &ResolvedModel) -> u64 {
        u64::from(config.train.steps_per_epoch)
    }

    fn units(
        &self,
        todo: Vec<PlannedModel>,
        _devices: &[Device],
        max_population: usize,
    ) -> Vec<(Vec<PlannedModel>, Cost)> {
        group(&todo, max_population).into_iter().map(|p| (p, Cost::FIRST_COME)).collect()
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

/// Split models into populations of at most `max_population` members (0 = no limit) that
/// share shapes and recipe, keeping plan order; what a member carries alone (seed, learning
/// rates, weight decays, train fraction, init scale) does not split them.
pub(crate) fn group(models: &[PlannedModel], max_population: usize) -> Vec<Vec<PlannedModel>> {
    crate::grouping::group_by_key(models, max_population, |m| shape_key(&m.config))
}

/// The resolved config with the per-member quantities blanked.
fn shape_key(config: &ResolvedModel) -> String {
    let mut train = config.train.clone();
    train.lr = 0.0;
    train.weight_decay = 0.0;
    let mut problem = config.problem.clone();
    if let ProblemConfig::ModArith(m) = &mut problem {
        m.decoder_lr = 0.0;
        m.decoder_weight_decay = 0.0;
        m.train_fraction = 0.0;
        m.init_scale = 0.0;
    }
    serde_json::json!({ "model": config.model, "problem": problem, "train": train }).to_string()
}
