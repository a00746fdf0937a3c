//! The zoo families and their registry. A family says how its planned models group into
//! training units (populations), what a unit costs a GPU, and how a worker trains a unit through
//! the one loop ([`crate::run_population`]); the zoo trainer ([`crate::train_zoo`]) and the pool
//! work on this trait and never ask which family they run.

use pz_data::vision::VisionData;
use pz_exec::pack::Cost;
use pz_spec::{Plan, PlannedModel, ProblemConfig, ResolvedModel};
use tch::Device;

use crate::classify::ImageFamily;
use crate::pinn::PinnFamily;
use crate::{Error, Outcome, Run};

/// What a worker keeps between the units it trains (an image worker: its dataset on its
/// device), made and read by the family alone.
pub type WorkerCache = Option<Box<dyn std::any::Any>>;

/// A zoo family as the zoo trainer sees it.
pub trait ZooFamily: Sync {
    /// Every planned model can be built on the family's data, checked before anything is
    /// written.
    ///
    /// # Errors
    /// The first model that cannot, with the keys to change.
    fn check_models(&self, _plan: &Plan) -> Result<(), Error> {
        Ok(())
    }

    /// Optimizer steps per epoch of a model.
    fn steps_per_epoch(&self, config: &ResolvedModel) -> u64;

    /// Training units of `todo` (each a population, trained by one worker) with their cost on
    /// `devices`; `max_population` is `run.max_population`.
    fn units(
        &self,
        todo: Vec<PlannedModel>,
        devices: &[Device],
        max_population: usize,
    ) -> Vec<(Vec<PlannedModel>, Cost)>;

    /// Worker threads per device when the user names none.
    fn workers_per_device(&self, _devices: &[Device]) -> usize {
        1
    }

    /// Train one unit on a worker (its models, in plan order), through the one loop.
    ///
    /// # Errors
    /// As [`crate::run_population`].
    fn train_unit(&self, cache: &mut WorkerCache, unit: &[PlannedModel], run: &Run)
        -> Result<Outcome, Error>;
}

/// The registry: the family of a zoo whose spec has `problem`, one line per family. Image zoos
/// need their dataset.
///
/// # Errors
/// An image zoo without its dataset.
pub fn zoo_family<'a>(
    problem: &ProblemConfig,
    images: Option<&'a VisionData>,
) -> Result<Box<dyn ZooFamily + 'a>, Error> {
    let needs_data = || Error::Config("an image zoo needs its dataset (phasezoo data fetch)".into());
    Ok(match problem {
        ProblemConfig::Convection(_) => Box::new(PinnFamily),
        ProblemConfig::Image(_) => Box::new(ImageFamily::new(images.ok_or_else(needs_data)?)),
    })
}
