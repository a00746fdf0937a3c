//! `write_heatmap`: render both pictures in memory, then write them atomically; the same for
//! the report page. Files go through the zoo's one atomic-write helper (`pz_store::atomic_write`:
//! temporary file next to the destination, sync, rename), so a killed writer's leftovers carry
//! the names `ZooDir::remove_partial_writes` clears.

use std::path::Path;

use crate::draw::prepare;
use crate::error::Error;
use crate::font::ensure_font;
use crate::heatmap::Heatmap;
use crate::layout::{HEIGHT, WIDTH};
use crate::render::{render_rgb, render_svg};

/// Draws `h` and writes it as a PNG to `png` and as an SVG to `svg`
/// (about 900 x 650 pixels).
///
/// Both pictures are rendered and encoded completely before anything is written; each file is
/// then written atomically (folder created if missing), so a crash or an error never leaves a
/// half-written picture at either destination. Only a failure of the SVG's write can leave the
/// PNG written without the SVG.
///
/// Text needs a TrueType font, loaded once per process from `PHASEZOO_FONT`
/// or a standard DejaVu/Liberation path.
pub fn write_heatmap(h: &Heatmap, png: &Path, svg: &Path) -> Result<(), Error> {
    let size = (WIDTH, HEIGHT);
    let prepared = prepare(h, WIDTH, HEIGHT)?;
    ensure_font()?;
    let rgb = render_rgb(h, &prepared, size, png)?;
    let svg_text = render_svg(h, &prepared, size, svg)?;
    let png_bytes = encode_png(&rgb, size, png)?;
    write_pair((png, &png_bytes), (svg, svg_text.as_bytes()))
}

/// Writes a picture's two files. Both folders exist before either file is written: a
/// destination that cannot be made leaves the other untouched too.
pub(crate) fn write_pair(
    (png, png_bytes): (&Path, &[u8]),
    (svg, svg_bytes): (&Path, &[u8]),
) -> Result<(), Error> {
    ensure_parent(svg)?;
    ensure_parent(png)?;
    write(png, png_bytes)?;
    write(svg, svg_bytes)
}

/// The destination's folder, created if missing.
fn ensure_parent(dest: &Path) -> Result<(), Error> {
    match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => {
            std::fs::create_dir_all(p).map_err(|source| Error::Io { path: p.to_path_buf(), source })
        }
        _ => Ok(()),
    }
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
    write(dest, crate::render_html(page).as_bytes())
}

/// `bytes` to `dest` through the store's atomic write (its error names the file).
fn write(dest: &Path, bytes: &[u8]) -> Result<(), Error> {
    Ok(pz_store::atomic_write(dest, bytes)?)
}

/// `rgb` (8-bit, row-major) encoded as PNG in memory.
pub(crate) fn encode_png(rgb: &[u8], (w, h): (u32, u32), dest: &Path) -> Result<Vec<u8>, Error> {
    use image::ImageEncoder as _;
    let mut bytes = Vec::new();
    image::codecs::png::PngEncoder::new(&mut bytes)
        .write_image(rgb, w, h, image::ColorType::Rgb8)
        .map_err(|e| Error::Render { path: dest.to_path_buf(), source: Box::new(e) })?;
    Ok(bytes)
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
        let ok = dir.path().join("ok");
        assert!(!ok.exists() || entries(&ok).is_empty(), "nothing written next to the PNG");
    }

    #[test]
    fn failed_rename_leaves_no_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("heat.png");
        std::fs::create_dir(&png).unwrap(); // a directory where the PNG should go
        std::fs::write(png.join("keep"), b"x").unwrap();
        let svg = dir.path().join("heat.svg");
        let err = write_heatmap(&grid(), &png, &svg).unwrap_err();
        assert!(matches!(&err, Error::Store(_)) && err.to_string().contains("heat.png"), "{err:?}");
        assert!(!svg.exists());
        assert_eq!(entries(dir.path()), ["heat.png"]);
        assert!(err.to_string().contains("heat.png: "), "the cause follows the file: {err}");
    }
}
