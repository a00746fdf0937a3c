//! Training errors.

/// What stops a population.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing the zoo failed.
    #[error(transparent)]
    Store(#[from] pz_store::Error),
    /// A checkpoint does not fit the model.
    #[error(transparent)]
    Model(#[from] pz_models::Error),
    /// libtorch refused an operation (out of memory, a device that does not exist, …).
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}
