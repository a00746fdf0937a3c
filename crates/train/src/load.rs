//! Populations rebuilt from checkpoints, for measuring trained models.

use pz_spec::PlannedModel;
use pz_store::{Checkpoint, CheckpointLayout, LoadedCheckpoint, ZooDir};
use tch::Device;

use crate::{Error, PinnPopulation};

/// The members' parameters at `epoch`, as one population (optimizer state left at zero). Each
/// checkpoint is checked against the manifest and against the tensors (names, dtypes, shapes)
/// the member's model has, before anything is copied.
///
/// # Errors
/// A member has no checkpoint at that epoch ([`Error::MissingCheckpoint`]) or one that fails a
/// check ([`Error::UnusableCheckpoint`], naming the model, the file and the reason): the first
/// such member.
pub fn load_population(
    zoo: &ZooDir,
    members: &[PlannedModel],
    epoch: u32,
    device: Device,
) -> Result<PinnPopulation, Error> {
    let configs: Vec<_> = members.iter().map(|m| &m.config).collect();
    let mut pop = PinnPopulation::new(&configs, device);
    for (k, m) in members.iter().enumerate() {
        let (model, optimizer) = pop.export(k);
        let layout = CheckpointLayout::exactly(&model, &optimizer);
        let (checkpoint, loaded) = load_at(zoo, m, epoch, Some(&layout))?;
        pop.import(k, &loaded, m.id().as_str()).map_err(|e| unusable(m, &checkpoint, e))?;
    }
    Ok(pop)
}

/// A model's checkpoint at `epoch`, read and verified against its manifest.
///
/// # Errors
/// None at that epoch ([`Error::MissingCheckpoint`]), or a damaged one
/// ([`Error::UnusableCheckpoint`], naming the model, the file and the reason).
pub fn checkpoint_at(zoo: &ZooDir, model: &PlannedModel, epoch: u32) -> Result<LoadedCheckpoint, Error> {
    Ok(load_at(zoo, model, epoch, None)?.1)
}

/// A model's checkpoint at `epoch`, verified against its manifest and against `layout` (the
/// names, dtypes and shapes the model has).
///
/// # Errors
/// As [`checkpoint_at`], and a tensor that does not fit `layout`.
pub fn checkpoint_as(
    zoo: &ZooDir,
    model: &PlannedModel,
    epoch: u32,
    layout: &CheckpointLayout,
) -> Result<LoadedCheckpoint, Error> {
    Ok(load_at(zoo, model, epoch, Some(layout))?.1)
}

/// The checkpoint of `model` at `epoch`, verified, and checked against `layout` if given.
fn load_at(
    zoo: &ZooDir,
    model: &PlannedModel,
    epoch: u32,
    layout: Option<&CheckpointLayout>,
) -> Result<(Checkpoint, LoadedCheckpoint), Error> {
    let dir = zoo.model(model.id());
    let checkpoint = Checkpoint { dir: dir.path.join(Checkpoint::dir_name(epoch)), epoch };
    if !checkpoint.dir.exists() {
        return Err(Error::MissingCheckpoint { model: model.id().to_string(), epoch });
    }
    let loaded = match layout {
        Some(layout) => checkpoint.load_as(layout),
        None => checkpoint.load(),
    };
    match loaded {
        Ok(loaded) => Ok((checkpoint, loaded)),
        Err(e) => Err(unusable(model, &checkpoint, e)),
    }
}

fn unusable(model: &PlannedModel, checkpoint: &Checkpoint, e: impl Into<Error>) -> Error {
    Error::UnusableCheckpoint {
        model: model.id().to_string(),
        epoch: checkpoint.epoch,
        dir: checkpoint.dir.clone(),
        source: Box::new(e.into()),
    }
}
