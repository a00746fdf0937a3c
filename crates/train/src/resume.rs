//! Where a population resumes: the newest checkpoint that every member has intact and that its
//! `result.json` reaches.

use pz_store::{
    newest_intact_checkpoint, CheckpointLayout, CheckpointSearch, EpochRecord, LoadedCheckpoint, ModelDir,
};

use crate::Error;

pub use pz_store::common_resume_epoch;

/// What a population resumes from.
pub(crate) struct Resume {
    /// The epoch all members restart after.
    pub epoch: u32,
    /// Each member's checkpoint at `epoch`, checked against its layout.
    pub checkpoints: Vec<LoadedCheckpoint>,
    /// Each member's `result.json` records up to `epoch`.
    pub records: Vec<Vec<EpochRecord>>,
}

/// The newest epoch at which every member has an intact checkpoint (SHA-256, safetensors, and
/// the tensors `layouts[k]` names, dtypes and shapes; [`newest_intact_checkpoint`] warns about
/// and skips any other) and a `result.json` holding every epoch up to it; `None` to start from
/// scratch. A `result.json` cut at a line boundary so sends the population back to a checkpoint
/// its lines reach, and the epochs after it are recomputed identically.
///
/// # Errors
/// A folder cannot be listed; a `result.json` is empty, cut short inside a line, or malformed
/// (the error names it and says how to recover).
pub(crate) fn resume_point(
    dirs: &[&ModelDir],
    layouts: &[CheckpointLayout],
) -> Result<Option<Resume>, Error> {
    let mut records = Vec::with_capacity(dirs.len());
    let mut members = Vec::with_capacity(dirs.len());
    for (dir, layout) in dirs.iter().zip(layouts) {
        let lines = dir.read_results()?;
        let Some(newest) = EpochRecord::last_complete_epoch(&lines) else {
            if !lines.is_empty() {
                tracing::warn!(model = %dir.id, "result.json does not start at epoch 0: training from scratch");
            }
            return Ok(None);
        };
        members.push(CheckpointSearch { dir, layout, newest });
        records.push(lines);
    }
    let Some((epoch, checkpoints)) = newest_intact_checkpoint(&members)? else {
        return Ok(None);
    };
    for lines in &mut records {
        lines.retain(|r| r.epoch <= epoch);
    }
    Ok(Some(Resume { epoch, checkpoints, records }))
}
