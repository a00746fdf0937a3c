//! `status.json`: where a model stands.

use serde::{Deserialize, Serialize};

/// The state of one model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelState {
    /// Planned, nothing trained yet.
    Pending,
    /// Being trained (or interrupted: then checkpoints tell how far it got).
    Running,
    /// Trained to the last epoch.
    Done,
    /// Stopped by an error (NaN loss, …); `message` says which.
    Failed,
}

impl std::fmt::Display for ModelState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
        })
    }
}

/// Content of `status.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelStatus {
    /// The state.
    pub state: ModelState,
    /// Last completed epoch, if any.
    pub epoch: Option<u32>,
    /// Why it failed, for failed models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl ModelStatus {
    /// A model with nothing trained.
    #[must_use]
    pub fn pending() -> Self {
        Self { state: ModelState::Pending, epoch: None, message: None }
    }
}
