//! Which checkpoint a population resumes from (or a model is measured at): the newest that every
//! member has intact, falling back past any that fails a check.

use crate::{Checkpoint, CheckpointLayout, LoadedCheckpoint, ModelDir, Result};

/// One model's part in [`newest_intact_checkpoint`].
#[derive(Debug, Clone, Copy)]
pub struct CheckpointSearch<'a> {
    /// The model's folder.
    pub dir: &'a ModelDir,
    /// What its checkpoints must hold.
    pub layout: &'a CheckpointLayout,
    /// The newest epoch it may resume from (e.g. the last that `result.json` holds).
    pub newest: u32,
}

/// The newest epoch at which every member has an intact checkpoint, no later than each member's
/// `newest`, with the checkpoints' contents; `None` when they share none (start from scratch). A
/// single model is a population of one.
///
/// Intact means: files as the manifest says (sizes, SHA-256), valid safetensors and
/// `state.json`, and every tensor's name, dtype and shape as the member's layout expects. A
/// checkpoint that fails any check is skipped with a warning naming the file and the reason,
/// and the search moves back to the previous epoch all members share.
///
/// # Errors
/// A model folder cannot be listed.
pub fn newest_intact_checkpoint(
    members: &[CheckpointSearch],
) -> Result<Option<(u32, Vec<LoadedCheckpoint>)>> {
    let mut available = Vec::with_capacity(members.len());
    for m in members {
        let mut list = Checkpoint::list(&m.dir.path)?;
        list.retain(|c| c.epoch <= m.newest);
        available.push(list);
    }
    let mut candidates: Vec<Vec<u32>> =
        available.iter().map(|l| l.iter().map(|c| c.epoch).collect()).collect();
    'search: while let Some(epoch) = common_resume_epoch(&candidates) {
        let mut loaded = Vec::with_capacity(members.len());
        for (i, m) in members.iter().enumerate() {
            let checkpoint = available[i].iter().find(|c| c.epoch == epoch).expect("listed");
            match checkpoint.load_as(m.layout) {
                Ok(l) => loaded.push(l),
                Err(e) => {
                    tracing::warn!(
                        model = %m.dir.id,
                        epoch,
                        "damaged checkpoint, falling back to an older one: {}",
                        error_chain(&e)
                    );
                    candidates[i].retain(|&c| c != epoch);
                    continue 'search;
                }
            }
        }
        return Ok(Some((epoch, loaded)));
    }
    Ok(None)
}

/// The newest epoch at which every member has a checkpoint, given each member's checkpoint
/// epochs; `None` when they share none.
///
/// Members train in lockstep and checkpoint together, so after a crash they usually share their
/// newest one; a crash in the middle of writing a population's checkpoints, or a damaged file,
/// sends all members back to the newest one they still share.
#[must_use]
pub fn common_resume_epoch(per_member: &[Vec<u32>]) -> Option<u32> {
    let (first, rest) = per_member.split_first()?;
    first.iter().copied().filter(|e| rest.iter().all(|m| m.contains(e))).max()
}

/// An error with its causes, `: `-separated (the store's errors name the file; JSON errors keep
/// the parser's message as their source).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
