//! Populations rebuilt from checkpoints, for measuring trained models.

use pz_spec::PlannedModel;
use pz_store::{Checkpoint, LoadedCheckpoint, ZooDir};
use tch::Device;

use crate::{Error, PinnPopulation};

/// The members' parameters at `epoch`, as one population (optimizer state left at zero).
///
/// # Errors
/// A member has no intact checkpoint at that epoch ([`Error::MissingCheckpoint`]), or it does
/// not fit the model.
pub fn load_population(
    zoo: &ZooDir,
    members: &[PlannedModel],
    epoch: u32,
    device: Device,
) -> Result<PinnPopulation, Error> {
    let configs: Vec<_> = members.iter().map(|m| &m.config).collect();
    let mut pop = PinnPopulation::new(&configs, device);
    for (k, m) in members.iter().enumerate() {
        pop.import(k, &checkpoint_at(zoo, m, epoch)?, m.id().as_str())?;
    }
    Ok(pop)
}

/// A model's checkpoint at `epoch`, read and verified.
///
/// # Errors
/// None at that epoch ([`Error::MissingCheckpoint`]), or a damaged one.
pub fn checkpoint_at(zoo: &ZooDir, model: &PlannedModel, epoch: u32) -> Result<LoadedCheckpoint, Error> {
    let dir = zoo.model(model.id());
    let checkpoint = Checkpoint { dir: dir.path.join(Checkpoint::dir_name(epoch)), epoch };
    if !checkpoint.dir.exists() {
        return Err(Error::MissingCheckpoint { model: model.id().to_string(), epoch });
    }
    Ok(checkpoint.load()?)
}
