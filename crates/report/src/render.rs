//! Rendering a heatmap into memory: an RGB pixel buffer or an SVG string.

use std::path::Path;

use plotters::prelude::*;

use crate::draw::{draw, Prepared};
use crate::error::Error;
use crate::heatmap::Heatmap;

fn render_error<E: std::error::Error + Send + Sync + 'static>(dest: &Path, e: E) -> Error {
    Error::Render { path: dest.to_path_buf(), source: Box::new(e) }
}

/// Renders into a packed RGB buffer (3 bytes per pixel, rows top to bottom)
/// of `width` x `height` pixels. `dest` only labels errors.
pub(crate) fn render_rgb(
    h: &Heatmap,
    p: &Prepared,
    (width, height): (u32, u32),
    dest: &Path,
) -> Result<Vec<u8>, Error> {
    let mut buf = vec![255u8; 3 * width as usize * height as usize];
    {
        let area = BitMapBackend::with_buffer(&mut buf, (width, height)).into_drawing_area();
        draw(&area, h, p).map_err(|e| render_error(dest, e))?;
    }
    Ok(buf)
}

/// Renders into an SVG document of `width` x `height` pixels. `dest` only
/// labels errors.
pub(crate) fn render_svg(
    h: &Heatmap,
    p: &Prepared,
    (width, height): (u32, u32),
    dest: &Path,
) -> Result<String, Error> {
    let mut svg = String::new();
    {
        let area = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        draw(&area, h, p).map_err(|e| render_error(dest, e))?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::colormap::{luminance, ColorMap};
    use crate::draw::{prepare, MISSING_FILL, MISSING_HATCH};
    use crate::font::ensure_font;
    use crate::heatmap::{sample, ColorScale};
    use crate::layout::{cbar_y, cell_rect, HEIGHT, WIDTH};

    fn pixel(buf: &[u8], (x, y): (i32, i32)) -> (u8, u8, u8) {
        let i = 3 * (y as usize * WIDTH as usize + x as usize);
        (buf[i], buf[i + 1], buf[i + 2])
    }

    fn rgb_of(h: &Heatmap) -> (Prepared, Vec<u8>) {
        ensure_font().unwrap();
        let p = prepare(h, WIDTH, HEIGHT).unwrap();
        let buf = render_rgb(h, &p, (WIDTH, HEIGHT), Path::new("test.png")).unwrap();
        assert_eq!(buf.len(), 3 * (WIDTH * HEIGHT) as usize);
        (p, buf)
    }

    #[test]
    fn region_boundaries_are_drawn_only_between_different_regions() {
        let mut h = sample(vec![vec![Some(0.5), Some(0.5)], vec![Some(0.5), Some(0.5)]]);
        // Bottom row: regions 1 | 2 (a boundary); top row: 1 | 1 (none); columns differ at the
        // bottom right only, so the horizontal edge above it is a boundary too.
        h.regions = vec![vec![Some(1), Some(2)], vec![Some(1), Some(1)]];
        h.cell_text = vec![vec![Some("I".into()), None], vec![None, None]];
        let (p, buf) = rgb_of(&h);
        let l = &p.layout;
        let (a, b) = (cell_rect(l, 0, 0), cell_rect(l, 1, 0));
        let black = (0, 0, 0);
        assert_eq!(pixel(&buf, (a.x1, (a.y0 + a.y1) / 2)), black, "vertical boundary, bottom row");
        assert_ne!(pixel(&buf, (b.x1, (b.y0 + b.y1) / 2)), black, "no boundary inside region 1, top row");
        let br = cell_rect(l, 0, 1);
        assert_eq!(pixel(&buf, ((br.x0 + br.x1) / 2, br.y0)), black, "horizontal boundary above region 2");
        assert_ne!(pixel(&buf, ((a.x0 + a.x1) / 4 + a.x0 / 2, a.y0)), black, "none above region 1");
    }

    #[test]
    fn two_by_two_cell_centres_have_viridis_colours() {
        let h = sample(vec![vec![Some(0.0), Some(1.0)], vec![None, Some(0.5)]]);
        let (p, buf) = rgb_of(&h);
        let l = &p.layout;
        assert_eq!(pixel(&buf, cell_rect(l, 0, 0).center()), (68, 1, 84), "value 0, bottom left");
        assert_eq!(pixel(&buf, cell_rect(l, 0, 1).center()), (253, 231, 37), "value 1, bottom right");
        assert_eq!(
            pixel(&buf, cell_rect(l, 1, 1).center()),
            ColorMap::Viridis.rgb(0.5),
            "value 0.5, top right"
        );
        assert_eq!(ColorMap::Viridis.rgb(0.5), (33, 145, 140));
        let missing = pixel(&buf, cell_rect(l, 1, 0).center());
        let greys = [MISSING_FILL, MISSING_HATCH].map(|c| (c.0, c.1, c.2));
        assert!(greys.contains(&missing), "missing cell should be grey, got {missing:?}");
        // Independently of `cell_rect`: the bottom-left quarter of the plot is
        // dark (value 0), the top-left quarter grey (missing).
        let pl = l.plot;
        let quarter = |fx: f64, fy: f64| {
            let x = pl.x0 + (fx * f64::from(pl.width())) as i32;
            let y = pl.y0 + (fy * f64::from(pl.height())) as i32;
            pixel(&buf, (x, y))
        };
        assert_eq!(quarter(0.2, 0.8), (68, 1, 84));
        assert!(greys.contains(&quarter(0.25, 0.25)) || greys.contains(&quarter(0.26, 0.25)));
    }

    #[test]
    fn colour_bar_runs_from_low_at_bottom_to_high_at_top() {
        let h = sample(vec![vec![Some(0.2), Some(0.9)]]);
        let (p, buf) = rgb_of(&h);
        let l = &p.layout;
        let x = (l.cbar.x0 + l.cbar.x1) / 2;
        assert_eq!(pixel(&buf, (x, cbar_y(l, 0.02))), ColorMap::Viridis.rgb(0.02));
        assert_eq!(pixel(&buf, (x, cbar_y(l, 0.98))), ColorMap::Viridis.rgb(0.98));
    }

    #[test]
    fn a_centred_diverging_map_puts_the_centre_in_the_middle_colour() {
        // mc-like values centred at 0: -2 is the farther extreme (RdBu's dark red end), 0 the
        // map's middle, 1 three quarters up (seaborn: Normalize(-2, 2)). matplotlib 3.11.2:
        // RdBu(0) = (103, 0, 31), RdBu(0.5) = (246, 247, 247), RdBu(0.75) = (104, 171, 208).
        let mut h = sample(vec![vec![Some(-2.0), Some(0.0), Some(1.0)]]);
        h.scale = ColorScale::Linear;
        h.colormap = ColorMap::RdBu;
        h.center = Some(0.0);
        let (p, buf) = rgb_of(&h);
        let l = &p.layout;
        assert_eq!(pixel(&buf, cell_rect(l, 0, 0).center()), (103, 0, 31), "value -2");
        assert_eq!(pixel(&buf, cell_rect(l, 0, 1).center()), (246, 247, 247), "value 0, the centre");
        assert_eq!(pixel(&buf, cell_rect(l, 0, 2).center()), (104, 171, 208), "value 1");
        // The colour bar spans the values only, -2 (dark red) to 1: the pixel row at bar
        // position t shows RdBu at 0.5 + (-2 + 3 t) / 4.
        let c = l.cbar;
        let x = (c.x0 + c.x1) / 2;
        let span = f64::from(c.height() - 1);
        for y in [c.y1 - 2, (c.y0 + c.y1) / 2, c.y0 + 1] {
            let t = f64::from(c.y1 - 1 - y) / span;
            assert_eq!(
                pixel(&buf, (x, y)),
                ColorMap::RdBu.rgb(0.5 + (-2.0 + 3.0 * t) / 4.0),
                "bar at t = {t}"
            );
        }
        assert_eq!(pixel(&buf, (x, c.y1 - 2)), (103, 0, 31), "the bottom is RdBu's red end");
    }

    #[test]
    fn cka_in_reversed_rdbu_centred_at_one() {
        // CKA <= 1 centred at 1 (SPEC 6.2): 1 is RdBu_r's middle (247, 246, 246), the lowest
        // value its dark blue end (5, 48, 97); the map's red half stays unused.
        let mut h = sample(vec![vec![Some(0.2), Some(0.6), Some(1.0)]]);
        h.scale = ColorScale::Linear;
        h.colormap = ColorMap::RdBuR;
        h.center = Some(1.0);
        let (p, buf) = rgb_of(&h);
        let l = &p.layout;
        assert_eq!(pixel(&buf, cell_rect(l, 0, 0).center()), (5, 48, 97), "value 0.2");
        assert_eq!(pixel(&buf, cell_rect(l, 0, 1).center()), ColorMap::RdBuR.rgb(0.25), "value 0.6");
        assert_eq!(pixel(&buf, cell_rect(l, 0, 2).center()), (247, 246, 246), "value 1, the centre");
    }

    #[test]
    fn sequential_maps_colour_the_extremes_like_matplotlib() {
        // matplotlib 3.11.2: cividis(0) = (0, 34, 78), cividis(1) = (254, 232, 56);
        // viridis_r(0) = (253, 231, 37), viridis_r(0.5) = (33, 144, 141), viridis_r(1) = (68, 1, 84).
        let mut h = sample(vec![vec![Some(-0.1), Some(0.0), Some(0.1)]]);
        h.scale = ColorScale::Linear;
        h.colormap = ColorMap::Cividis;
        let (p, buf) = rgb_of(&h);
        let l = &p.layout;
        assert_eq!(pixel(&buf, cell_rect(l, 0, 0).center()), (0, 34, 78));
        assert_eq!(pixel(&buf, cell_rect(l, 0, 2).center()), (254, 232, 56));
        h.colormap = ColorMap::ViridisR;
        let (p, buf) = rgb_of(&h);
        let l = &p.layout;
        assert_eq!(pixel(&buf, cell_rect(l, 0, 0).center()), (253, 231, 37));
        assert_eq!(pixel(&buf, cell_rect(l, 0, 1).center()), (33, 144, 141));
        assert_eq!(pixel(&buf, cell_rect(l, 0, 2).center()), (68, 1, 84));
    }

    #[test]
    fn annotations_are_drawn_in_contrasting_ink() {
        let mut h = sample(vec![vec![Some(0.0), Some(1.0)]]);
        h.annotate = true;
        let (p, buf) = rgb_of(&h);
        let dark = cell_rect(&p.layout, 0, 0);
        let bright = cell_rect(&p.layout, 0, 1);
        let count = |r: crate::layout::Rect, pred: &dyn Fn((u8, u8, u8)) -> bool| {
            let mut n = 0;
            for y in r.y0..r.y1 {
                for x in r.x0..r.x1 {
                    n += usize::from(pred(pixel(&buf, (x, y))));
                }
            }
            n
        };
        let light_on_dark = count(dark, &|c| luminance(c) > 0.5);
        let dark_on_bright = count(bright, &|c| luminance(c) < 0.4);
        assert!(light_on_dark > 10, "white text on the dark cell: {light_on_dark} light pixels");
        assert!(dark_on_bright > 5, "black text on the bright cell: {dark_on_bright} dark pixels");
        h.annotate = false;
        let (_, plain) = rgb_of(&h);
        let n_plain = {
            let mut n = 0;
            for y in dark.y0..dark.y1 {
                for x in dark.x0..dark.x1 {
                    n += usize::from(luminance(pixel(&plain, (x, y))) > 0.5);
                }
            }
            n
        };
        assert_eq!(n_plain, 0, "no text without annotate");
    }

    /// The contents of all `<text>` elements, trimmed.
    fn svg_texts(svg: &str) -> Vec<String> {
        svg.split("<text")
            .skip(1)
            .filter_map(|t| {
                let body = &t[t.find('>')? + 1..];
                Some(body[..body.find("</text>")?].trim().to_string())
            })
            .collect()
    }

    #[test]
    fn svg_contains_title_axis_names_and_tick_labels() {
        ensure_font().unwrap();
        let mut h = sample(vec![
            vec![Some(1e-4), Some(2e-3), None],
            vec![Some(0.05), Some(0.3), Some(1.0)],
            vec![Some(0.01), None, Some(0.2)],
        ]);
        h.y.values = vec![1e-4, 10f64.powf(-2.5), 0.1];
        let p = prepare(&h, WIDTH, HEIGHT).unwrap();
        let svg = render_svg(&h, &p, (WIDTH, HEIGHT), Path::new("t.svg")).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
        let texts = svg_texts(&svg);
        for needle in [
            "test_error (relative L2), seed mean",
            "beta (convection coefficient)",
            "lr (Adam learning rate)",
            "relative L2 error",
            "1",
            "30",
            "100",
            "1e-4",
            "3.16e-3",
            "0.1",
            // Log colour bar: powers of ten.
            "1e-3",
            "1e-2",
        ] {
            assert!(texts.iter().any(|t| t == needle), "SVG lacks text {needle:?}; has {texts:?}");
        }
    }
}
