//! The `[metrics.llc]` table: SGLD settings of the local learning coefficient (LLC) estimate
//! (pz-landscape's `estimate_llc`, docs/METRICS.md "Local learning coefficient"). It lives here
//! so that the zoo spec can hold it; pz-landscape re-exports it.

use serde::{Deserialize, Serialize};

/// SGLD settings of one LLC estimate (a `[metrics.llc]`-style table; unknown keys are refused).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlcConfig {
    /// Step size ε (devinterp's `lr`). Default 1e-4, the order of devinterp's examples for small
    /// networks; stable only while ε · (nβ λ_max(H) + γ) stays well under 4.
    pub epsilon: f64,
    /// Localisation strength γ (devinterp's `localization`). Default 100, devinterp's usual
    /// choice; 0 samples the unlocalised tempered posterior.
    pub gamma: f64,
    /// Inverse temperature nβ; `None` (default): devinterp's b / ln b, b the samples the
    /// (full-batch) metric loss averages over, per model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbeta: Option<f64>,
    /// Independent chains per row, all starting at w*. Default 4.
    pub chains: usize,
    /// Recorded steps per chain (at least 4, for split-R̂). Default 200.
    pub draws: usize,
    /// Steps discarded before the first draw. Default 200 (devinterp warns when fewer than
    /// `draws`: a chain starts at w*, below its stationary loss, and biases λ̂ low).
    pub burn_in: usize,
    /// Seed of the noise streams.
    pub seed: u64,
}

impl Default for LlcConfig {
    fn default() -> Self {
        Self { epsilon: 1e-4, gamma: 100.0, nbeta: None, chains: 4, draws: 200, burn_in: 200, seed: 0 }
    }
}

/// A bad LLC setting or a problem that breaks pz-landscape's `SgldProblem` contract.
#[derive(Debug, thiserror::Error)]
pub enum LlcError {
    /// A setting out of range: which one, its value, and what it must be.
    #[error("llc config: {field} = {value}: {expected}")]
    Config {
        /// The setting's name in the table.
        field: &'static str,
        /// Its value, as given.
        value: String,
        /// What it must be, with a usual value.
        expected: &'static str,
    },
    /// `nbeta = None` with a batch size whose b / ln b is undefined.
    #[error(
        "llc: the default nbeta = b / ln b needs a batch size b >= 2, got {batch_size}; set nbeta explicitly"
    )]
    NoDefaultNbeta {
        /// The problem's batch size.
        batch_size: usize,
    },
    /// The problem breaks its contract (no parameters, no batches, mismatched rows or loss).
    #[error("llc problem: {0}")]
    Problem(String),
}

impl LlcConfig {
    /// Checks every setting, naming the first bad one and its fix.
    ///
    /// # Errors
    /// [`LlcError::Config`] for a non-positive or non-finite ε or nβ, a negative or non-finite
    /// γ, no chains, or fewer than 4 draws.
    pub fn validate(&self) -> Result<(), LlcError> {
        let bad = |field, value: String, expected| Err(LlcError::Config { field, value, expected });
        if !(self.epsilon.is_finite() && self.epsilon > 0.0) {
            return bad(
                "epsilon",
                self.epsilon.to_string(),
                "the step size must be finite and > 0 (e.g. 1e-4)",
            );
        }
        if !(self.gamma.is_finite() && self.gamma >= 0.0) {
            return bad(
                "gamma",
                self.gamma.to_string(),
                "the localisation must be finite and >= 0 (e.g. 100)",
            );
        }
        if let Some(nbeta) = self.nbeta.filter(|b| !(b.is_finite() && *b > 0.0)) {
            return bad(
                "nbeta",
                nbeta.to_string(),
                "the inverse temperature must be finite and > 0, or unset for b / ln b",
            );
        }
        if self.chains == 0 {
            return bad("chains", "0".into(), "at least 1 chain is needed (e.g. 4)");
        }
        if self.draws < 4 {
            return bad(
                "draws",
                self.draws.to_string(),
                "at least 4 draws are needed for split-R-hat (e.g. 200)",
            );
        }
        Ok(())
    }

    /// nβ for minibatches of `batch_size` samples: the set value, else devinterp's b / ln b.
    ///
    /// # Errors
    /// [`LlcError::NoDefaultNbeta`] when unset and `batch_size < 2`.
    pub fn nbeta_for(&self, batch_size: usize) -> Result<f64, LlcError> {
        match self.nbeta {
            Some(nbeta) => Ok(nbeta),
            None if batch_size < 2 => Err(LlcError::NoDefaultNbeta { batch_size }),
            #[allow(clippy::cast_precision_loss)]
            None => Ok(batch_size as f64 / (batch_size as f64).ln()),
        }
    }
}
