//! The crate's errors: reading a zoo or a summary table.

use std::path::PathBuf;

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong reading a zoo or a summary table for labelling.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The folder is no zoo, or its `FORMAT` or `zoo.toml` is unreadable.
    #[error("cannot open zoo {}", path.display())]
    Open {
        /// The folder given.
        path: PathBuf,
        /// Why.
        #[source]
        source: pz_store::Error,
    },
    /// The zoo's spec gives no grid plan.
    #[error(transparent)]
    Spec(#[from] pz_spec::SpecError),
    /// A model's files, or a summary table, could not be read or written.
    #[error(transparent)]
    Store(#[from] pz_store::Error),
    /// A PTMZ summary table without any landscape metric.
    #[error(
        "{}: no row has landscape metrics\n  hint: a PTMZ summary fills representation_similarity and curve_mc_train_error on the analysis epoch",
        path.display()
    )]
    NoLandscapeMetrics {
        /// The summary table.
        path: PathBuf,
    },
}
