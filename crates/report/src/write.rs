//! `write_heatmap`: render both pictures in memory, then write them atomically; the same for
//! the report page.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use plotters::backend::DrawingBackend as _;
use plotters::prelude::BitMapBackend;
use tempfile::NamedTempFile;

use crate::draw::prepare;
use crate::error::Error;
use crate::font::ensure_font;
use crate::heatmap::Heatmap;
use crate::layout::{HEIGHT, WIDTH};
use crate::render::{render_rgb, render_svg};

/// Draws `h` and writes it as a PNG to `png` and as an SVG to `svg`
/// (about 900 x 650 pixels).
///
/// Both pictures are rendered completely before anything is written; each
/// file is then written to a temporary file in its destination directory
/// (created if missing), synced and renamed into place, so a crash or an
/// error never leaves a half-written picture at either destination. Only a
/// failure of the final rename of the SVG can leave the PNG written without
/// the SVG.
///
/// Text needs a TrueType font, loaded once per process from `PHASEZOO_FONT`
/// or a standard DejaVu/Liberation path.
pub fn write_heatmap(h: &Heatmap, png: &Path, svg: &Path) -> Result<(), Error> {
    let size = (WIDTH, HEIGHT);
    let prepared = prepare(h, WIDTH, HEIGHT)?;
    ensure_font()?;
    let rgb = render_rgb(h, &prepared, size, png)?;
    let svg_text = render_svg(h, &prepared, size, svg)?;

    let png_tmp = stage_png(&rgb, size, png)?;
    let svg_tmp = stage_bytes(svg_text.as_bytes(), svg, ".svg")?;
    persist(png_tmp, png)?;
    persist(svg_tmp, svg)
}

/// Draws `h` as an SVG document in memory (the same picture [`write_heatmap`] writes), for
/// pages that inline their panels.
pub fn render_heatmap_svg(h: &Heatmap) -> Result<String, Error> {
    let prepared = prepare(h, WIDTH, HEIGHT)?;
    ensure_font()?;
    render_svg(h, &prepared, (WIDTH, HEIGHT), Path::new("<inline svg>"))
}

/// Writes the report page to `dest` atomically (temporary file next to it, then rename).
pub fn write_html(page: &crate::ReportPage, dest: &Path) -> Result<(), Error> {
    let text = crate::render_html(page);
    let tmp = stage_bytes(text.as_bytes(), dest, ".html")?;
    persist(tmp, dest)
}

fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io { path: path.to_path_buf(), source }
}

/// The destination's directory, created if missing.
fn ensure_parent(dest: &Path) -> Result<PathBuf, Error> {
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| io_error(&parent, e))?;
    Ok(parent)
}

/// A temporary file next to `dest`, named `.<file name>.<random><suffix>`.
fn temp_next_to(dest: &Path, suffix: &str) -> Result<NamedTempFile, Error> {
    let parent = ensure_parent(dest)?;
    let name = dest.file_name().map_or_else(|| "heatmap".into(), |n| n.to_string_lossy());
    tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(suffix)
        // Readable by everyone like any other file (tempfile's default is owner-only).
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .tempfile_in(&parent)
        .map_err(|e| io_error(&parent, e))
}

/// Encodes `rgb` as PNG into a temporary file next to `dest`.
///
/// plotters picks the encoder from the file extension, hence the `.png`
/// suffix; the already rendered pixels are copied onto a file-backed bitmap.
fn stage_png(rgb: &[u8], (w, h): (u32, u32), dest: &Path) -> Result<NamedTempFile, Error> {
    let tmp = temp_next_to(dest, ".png")?;
    let render_err = |e: plotters::drawing::DrawingAreaErrorKind<_>| Error::Render {
        path: dest.to_path_buf(),
        source: Box::new(e),
    };
    {
        let mut backend = BitMapBackend::new(tmp.path(), (w, h));
        backend
            .blit_bitmap((0, 0), (w, h), rgb)
            .map_err(|e| render_err(plotters::drawing::DrawingAreaErrorKind::BackendError(e)))?;
        backend
            .present()
            .map_err(|e| render_err(plotters::drawing::DrawingAreaErrorKind::BackendError(e)))?;
    }
    tmp.as_file().sync_all().map_err(|e| io_error(tmp.path(), e))?;
    Ok(tmp)
}

/// Writes `bytes` into a temporary file next to `dest`.
fn stage_bytes(bytes: &[u8], dest: &Path, suffix: &str) -> Result<NamedTempFile, Error> {
    let mut tmp = temp_next_to(dest, suffix)?;
    tmp.write_all(bytes).map_err(|e| io_error(tmp.path(), e))?;
    tmp.as_file().sync_all().map_err(|e| io_error(tmp.path(), e))?;
    Ok(tmp)
}

/// Renames the temporary file onto `dest`; on failure the temporary file is removed.
fn persist(tmp: NamedTempFile, dest: &Path) -> Result<(), Error> {
    tmp.persist(dest).map(drop).map_err(|e| io_error(dest, e.error))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heatmap::sample;

    const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];

    /// Width and height from the IHDR chunk, which must come first.
    fn png_size(bytes: &[u8]) -> (u32, u32) {
        assert!(bytes.len() > 33, "PNG too short");
        assert_eq!(&bytes[..8], PNG_SIGNATURE, "PNG signature");
        assert_eq!(&bytes[12..16], b"IHDR", "first chunk must be IHDR");
        let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        (be(&bytes[16..20]), be(&bytes[20..24]))
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    fn grid() -> Heatmap {
        sample(vec![vec![Some(1e-4), Some(3e-3), Some(0.02)], vec![Some(0.05), None, Some(1.0)]])
    }

    #[test]
    fn writes_png_and_svg_creating_missing_directories() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("not/yet/there");
        let (png, svg) = (out.join("heat.png"), out.join("heat.svg"));
        write_heatmap(&grid(), &png, &svg).unwrap();
        let bytes = std::fs::read(&png).unwrap();
        assert_eq!(png_size(&bytes), (WIDTH, HEIGHT));
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(text.contains("test_error (relative L2), seed mean"));
        assert_eq!(entries(&out), ["heat.png", "heat.svg"], "no temporary files left behind");
        // Overwriting an existing picture works too.
        write_heatmap(&grid(), &png, &svg).unwrap();
        assert_eq!(entries(&out), ["heat.png", "heat.svg"]);
    }

    #[test]
    fn shape_mismatch_is_invalid_input_naming_expected_and_got() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = grid();
        h.values[1].pop();
        let (png, svg) = (dir.path().join("a.png"), dir.path().join("a.svg"));
        match write_heatmap(&h, &png, &svg) {
            Err(Error::InvalidInput { expected, got, .. }) => {
                assert_eq!(expected, "2 rows x 3 columns");
                assert_eq!(got, "2 columns in row 1");
            }
            other => panic!("expected InvalidInput, got {other:?}"),
        }
        assert!(entries(dir.path()).is_empty());
    }

    #[test]
    fn log_scale_with_non_positive_value_is_invalid_input() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = grid();
        h.scale = crate::ColorScale::Log10;
        h.values[0][0] = Some(0.0);
        let r = write_heatmap(&h, &dir.path().join("a.png"), &dir.path().join("a.svg"));
        assert!(matches!(r, Err(Error::InvalidInput { .. })), "{r:?}");
    }

    #[test]
    fn failure_after_rendering_leaves_nothing_at_either_destination() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("blocker");
        std::fs::write(&blocker, b"a file, not a directory").unwrap();
        let png = dir.path().join("ok/heat.png");
        let svg = blocker.join("heat.svg");
        let err = write_heatmap(&grid(), &png, &svg).unwrap_err();
        assert!(matches!(&err, Error::Io { path, .. } if path == &blocker), "{err:?}");
        assert!(!png.exists(), "PNG must not be written when the SVG cannot be");
        assert!(entries(&dir.path().join("ok")).is_empty(), "temporary PNG removed");
    }

    #[test]
    fn failed_rename_leaves_no_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("heat.png");
        std::fs::create_dir(&png).unwrap(); // a directory where the PNG should go
        std::fs::write(png.join("keep"), b"x").unwrap();
        let svg = dir.path().join("heat.svg");
        let err = write_heatmap(&grid(), &png, &svg).unwrap_err();
        assert!(matches!(&err, Error::Io { path, .. } if path == &png), "{err:?}");
        assert!(!svg.exists());
        assert_eq!(entries(dir.path()), ["heat.png"]);
        assert!(std::error::Error::source(&err).is_some(), "source kept");
    }
}
