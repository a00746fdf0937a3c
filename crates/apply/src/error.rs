//! The crate's one error type.

/// What stops an application.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading the zoo or writing `applications.json` failed.
    #[error(transparent)]
    Store(#[from] pz_store::Error),
    /// The labelled index could not be rewritten (boxed: large).
    #[error(transparent)]
    Index(Box<pz_phases::Error>),
    /// The zoo's spec cannot be planned (boxed, as it is large and rare).
    #[error(transparent)]
    Spec(Box<pz_spec::SpecError>),
    /// Loading a checkpoint or scoring weights failed (boxed: large).
    #[error(transparent)]
    Train(Box<pz_train::Error>),
    /// Alignment or averaging refused the state dicts.
    #[error("model {model}: {source}")]
    Align {
        /// The model (or the cell's reference model) whose weights were refused.
        model: String,
        /// Why (boxed: large).
        #[source]
        source: Box<pz_align::Error>,
    },
    /// Weights that cannot be averaged (a dtype the averaging does not know).
    #[error("{0}")]
    Weights(String),
    /// The zoo cannot run this application (too few epochs kept, one seed per cell, …).
    #[error("{0}")]
    Config(String),
    /// `applications.json` exists but is not what this version writes.
    #[error("{path}: {source}")]
    Record {
        /// The file.
        path: std::path::PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
}

impl From<pz_spec::SpecError> for Error {
    fn from(e: pz_spec::SpecError) -> Self {
        Self::Spec(Box::new(e))
    }
}

impl From<pz_train::Error> for Error {
    fn from(e: pz_train::Error) -> Self {
        Self::Train(Box::new(e))
    }
}

impl pz_train::UnitError for Error {
    fn panicked(message: String) -> Self {
        Self::Config(format!("an application thread panicked: {message}"))
    }
}

impl Error {
    /// [`Error::Align`] for `model`.
    pub(crate) fn align(model: &pz_spec::ModelId, source: pz_align::Error) -> Self {
        Self::Align { model: model.to_string(), source: Box::new(source) }
    }
}
