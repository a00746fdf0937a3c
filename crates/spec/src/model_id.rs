//! Stable model ids: a hash of what determines a model's training.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The first 16 hex digits of the SHA-256 of a model's canonical resolved config (model,
/// problem, train, seed as JSON with sorted keys). Execution settings (device, population
/// size, checkpoint cadence) are not part of it, so they can change without renaming models.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ModelId(String);

impl ModelId {
    /// Hash a canonical JSON value.
    #[must_use]
    pub fn of(canonical: &serde_json::Value) -> Self {
        // serde_json's map is ordered by key (no `preserve_order`), so the text is canonical.
        let text = canonical.to_string();
        let digest = Sha256::digest(text.as_bytes());
        Self(hex::encode(&digest[..8]))
    }

    /// Wrap an id read from disk, checking its shape.
    ///
    /// # Errors
    /// Not 16 lowercase hex digits.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.len() == 16 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(Self(s.to_string()))
        } else {
            Err(format!("`{s}` is not a model id (16 hex digits)"))
        }
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ModelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
