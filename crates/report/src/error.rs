//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong while drawing or writing a heatmap.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The heatmap description is inconsistent, e.g. the shape of `values`
    /// does not match the axes.
    #[error("invalid heatmap input: {what}: expected {expected}, got {got}")]
    InvalidInput {
        /// Which part of the input is wrong.
        what: String,
        /// What was expected.
        expected: String,
        /// What was found.
        got: String,
    },
    /// No usable font file exists.
    #[error(
        "no font found for PNG/SVG text (tried {}); install Debian's fonts-dejavu-core \
         or set PHASEZOO_FONT to the path of a .ttf file",
        display_paths(tried)
    )]
    FontNotFound {
        /// The paths looked at, in order.
        tried: Vec<PathBuf>,
    },
    /// A font file exists but could not be read.
    #[error("cannot read font file {path}")]
    FontRead {
        /// The font file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A font file was read but is not a TrueType/OpenType font.
    #[error("font file {path} is not a valid TrueType/OpenType font; set PHASEZOO_FONT to another .ttf")]
    FontInvalid {
        /// The font file.
        path: PathBuf,
    },
    /// Plotters failed while drawing the picture meant for `path`.
    #[error("cannot draw heatmap for {path}")]
    Render {
        /// The destination the picture was meant for.
        path: PathBuf,
        /// The plotters error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// A file-system operation on `path` failed.
    #[error("cannot write {path}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// One picture of a zoo could not be drawn.
    #[error("cannot draw {what}")]
    Draw {
        /// The picture: its file, or `the <name> panel`.
        what: String,
        /// Why.
        #[source]
        source: Box<Error>,
    },
    /// A zoo's file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A zoo's JSON file could not be parsed.
    #[error("cannot parse {path}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A model's files could not be read.
    #[error(transparent)]
    Store(#[from] pz_store::Error),
    /// The zoo could not be read per cell or labelled.
    #[error(transparent)]
    Phases(#[from] pz_phases::Error),
}

fn display_paths(paths: &[PathBuf]) -> String {
    let v: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    v.join(", ")
}
