//! Errors that name the spec file, the key and the fix.

use std::fmt;
use std::path::PathBuf;

/// One thing wrong with a spec: where (a dotted key path), what, and how to fix it.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Dotted key path, e.g. `grid.temperature.values[2]`; empty for the whole document.
    pub key: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when there is an obvious fix.
    pub hint: Option<String>,
}

impl Problem {
    pub(crate) fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self { key: key.into(), message: message.into(), hint: None }
    }
    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}", self.message)?;
        } else {
            write!(f, "key `{}`: {}", self.key, self.message)?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// A spec that could not be read or is invalid. Every problem found is reported, not only the
/// first, so one edit can fix them all.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The file could not be read.
    #[error("zoo spec {path}: cannot read it")]
    Read {
        /// The spec file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("zoo spec {origin}: not valid TOML: {message}")]
    Syntax {
        /// File path or `<embedded default>`.
        origin: String,
        /// The TOML parser's message (with line and column).
        message: String,
    },
    /// A `--set key=value` argument is malformed.
    #[error("--set {arg}: {message}\n  hint: write --set train.lr=1e-3 (a dotted key, `=`, a TOML value)")]
    Override {
        /// The argument as given.
        arg: String,
        /// What is wrong with it.
        message: String,
    },
    /// The document parsed but is not a valid zoo spec.
    #[error("zoo spec {origin}: {}", format_problems(.problems))]
    Invalid {
        /// File path or `<embedded default>`.
        origin: String,
        /// Everything found wrong, in document order.
        problems: Vec<Problem>,
    },
}

impl SpecError {
    /// The problems of an [`SpecError::Invalid`], empty otherwise.
    #[must_use]
    pub fn problems(&self) -> &[Problem] {
        match self {
            Self::Invalid { problems, .. } => problems,
            _ => &[],
        }
    }
}

fn format_problems(problems: &[Problem]) -> String {
    match problems {
        [one] => one.to_string(),
        many => {
            let mut s = format!("{} problems", many.len());
            for p in many {
                s.push_str("\n- ");
                s.push_str(&p.to_string());
            }
            s
        }
    }
}
