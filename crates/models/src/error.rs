//! Errors of loading parameters into a population.

/// A checkpoint does not fit the population.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tensor is missing, extra, or of the wrong shape or dtype.
    #[error("model {model}: {message}")]
    Mismatch {
        /// The member's model id.
        model: String,
        /// What does not fit (names the tensor, expected and got).
        message: String,
    },
}
