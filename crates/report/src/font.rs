//! Finding and registering the one font plotters' `ab_glyph` text needs.

use std::path::PathBuf;
use std::sync::OnceLock;

use plotters::style::{register_font, FontStyle};

use crate::error::Error;

/// Environment variable naming a font file to use instead of the defaults.
pub(crate) const FONT_ENV: &str = "PHASEZOO_FONT";

/// Fallback font files, tried in order after `PHASEZOO_FONT`.
const DEFAULT_FONTS: [&str; 3] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

/// Font family name the drawing code asks for.
pub(crate) const FAMILY: &str = "sans-serif";

/// Outcome of the one registration attempt, kept so later calls report the
/// same failure.
#[derive(Debug, Clone)]
enum Failure {
    NotFound(Vec<PathBuf>),
    Read(PathBuf, std::io::ErrorKind, String),
    Invalid(PathBuf),
}

static REGISTERED: OnceLock<Result<PathBuf, Failure>> = OnceLock::new();

/// The font files to try, in order.
fn candidates() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> =
        std::env::var_os(FONT_ENV).filter(|v| !v.is_empty()).map(PathBuf::from).into_iter().collect();
    paths.extend(DEFAULT_FONTS.iter().map(PathBuf::from));
    paths
}

fn register() -> Result<PathBuf, Failure> {
    let tried = candidates();
    let Some(path) = tried.iter().find(|p| p.is_file()).cloned() else {
        return Err(Failure::NotFound(tried));
    };
    let bytes = std::fs::read(&path).map_err(|e| Failure::Read(path.clone(), e.kind(), e.to_string()))?;
    // plotters keeps a `&'static` reference; this happens once per process.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    register_font(FAMILY, FontStyle::Normal, bytes).map_err(|_| Failure::Invalid(path.clone()))?;
    Ok(path)
}

/// Registers the font once per process; returns the file used.
pub(crate) fn ensure_font() -> Result<PathBuf, Error> {
    match REGISTERED.get_or_init(register) {
        Ok(path) => Ok(path.clone()),
        Err(Failure::NotFound(tried)) => Err(Error::FontNotFound { tried: tried.clone() }),
        Err(Failure::Read(path, kind, msg)) => {
            Err(Error::FontRead { path: path.clone(), source: std::io::Error::new(*kind, msg.clone()) })
        }
        Err(Failure::Invalid(path)) => Err(Error::FontInvalid { path: path.clone() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn font_is_found_and_registration_is_idempotent() {
        let a = ensure_font().expect("a font should exist on the test machine");
        let b = ensure_font().unwrap();
        assert_eq!(a, b);
        assert!(a.is_file());
    }

    #[test]
    fn not_found_error_names_paths_and_fix() {
        let e = Error::FontNotFound { tried: candidates() };
        let msg = e.to_string();
        assert!(msg.contains(DEFAULT_FONTS[0]), "{msg}");
        assert!(msg.contains("fonts-dejavu-core"), "{msg}");
        assert!(msg.contains(FONT_ENV), "{msg}");
    }
}
