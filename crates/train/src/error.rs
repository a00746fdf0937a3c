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
    /// A zoo's dataset cannot be read (`what` says which and from where).
    #[error("{what}")]
    Dataset {
        /// The dataset and its folder.
        what: String,
        /// Why (with the hint to fetch it); boxed, as it is large and rare.
        #[source]
        source: Box<pz_data::vision::DataError>,
    },
    /// A language-model zoo's corpus cannot be read or is too short (`what` says which and
    /// from where).
    #[error("{what}")]
    Corpus {
        /// The corpus and its folder.
        what: String,
        /// Why (with the command that builds it); boxed, as it is large and rare.
        #[source]
        source: Box<pz_data::text::TextError>,
    },
    /// A model has no checkpoint at the epoch asked for.
    #[error("model {model} has no checkpoint at epoch {epoch}\n  hint: measure an epoch that was kept ([checkpoint] every/epochs), or add it to [checkpoint] epochs and retrain")]
    MissingCheckpoint {
        /// The model id.
        model: String,
        /// The epoch.
        epoch: u32,
    },
    /// A model's checkpoint at the epoch asked for fails a check: its files against the
    /// manifest (SHA-256), safetensors, or the tensors' names, dtypes and shapes against the
    /// model. The source names the file and the reason; a caller measuring many models skips
    /// this one.
    #[error("model {model}: checkpoint {} cannot be used", dir.display())]
    UnusableCheckpoint {
        /// The model id.
        model: String,
        /// The epoch.
        epoch: u32,
        /// The checkpoint folder.
        dir: std::path::PathBuf,
        /// What failed, naming the file.
        #[source]
        source: Box<Error>,
    },
    /// libtorch refused an operation (out of memory, a device that does not exist, …).
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// A model's config cannot be built (e.g. a ViT patch that does not divide the images).
    #[error("{0}")]
    Config(String),
    /// A CUDA feature (graph capture or replay) failed.
    #[error("CUDA: {0}")]
    Device(String),
    /// A checkpoint's content does not fit the model or optimizer.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
}
