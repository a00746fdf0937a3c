//! Drawing a prepared heatmap onto any plotters backend.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::colormap::luminance;
use crate::error::Error;
use crate::heatmap::{validate_shape, Heatmap};
use crate::layout::{self, cbar_y, cell_rect, Layout, LayoutInput, Rect};
use crate::scale::ColorMapping;
use crate::ticks::format_compact;

/// Fill of a missing cell.
pub(crate) const MISSING_FILL: RGBColor = RGBColor(224, 224, 224);
/// Hatch lines across a missing cell.
pub(crate) const MISSING_HATCH: RGBColor = RGBColor(170, 170, 170);
/// Distance between hatch lines, in pixels along each axis.
const HATCH_STEP: i32 = 10;
/// Annotations smaller than this are left out rather than made unreadable.
const MIN_ANNOTATION_FONT: f64 = 8.0;

/// Everything computed from a heatmap before drawing.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    pub layout: Layout,
    pub mapping: ColorMapping,
    pub x_labels: Vec<String>,
    pub y_labels: Vec<String>,
    pub cbar_ticks: Vec<(f64, String)>,
}

/// Validates `h` and computes labels, colour mapping and layout for a
/// picture of `width` x `height` pixels.
pub(crate) fn prepare(h: &Heatmap, width: u32, height: u32) -> Result<Prepared, Error> {
    validate_shape(h)?;
    let mapping = ColorMapping::for_heatmap(h)?;
    let x_labels: Vec<String> = h.x.values.iter().map(|v| format_compact(*v)).collect();
    let y_labels: Vec<String> = h.y.values.iter().map(|v| format_compact(*v)).collect();
    let cbar_ticks = mapping.ticks();
    let longest = |v: &mut dyn Iterator<Item = &String>| v.map(|s| s.chars().count()).max().unwrap_or(0);
    let layout = layout::compute(&LayoutInput {
        width,
        height,
        n_cols: h.x.values.len(),
        n_rows: h.y.values.len(),
        x_label_chars: longest(&mut x_labels.iter()),
        y_label_chars: longest(&mut y_labels.iter()),
        cbar_label_chars: longest(&mut cbar_ticks.iter().map(|t| &t.1)),
    });
    Ok(Prepared { layout, mapping, x_labels, y_labels, cbar_ticks })
}

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn rgb((r, g, b): (u8, u8, u8)) -> RGBColor {
    RGBColor(r, g, b)
}

fn text_style(size: f64, color: &RGBColor, h: HPos, v: VPos) -> TextStyle<'static> {
    (crate::font::FAMILY, size).into_font().color(color).pos(Pos::new(h, v))
}

fn fill_rect<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, r: Rect, c: RGBColor) -> DrawResult<DB> {
    area.draw(&Rectangle::new([(r.x0, r.y0), (r.x1, r.y1)], c.filled()))
}

fn line<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, a: (i32, i32), b: (i32, i32)) -> DrawResult<DB> {
    area.draw(&PathElement::new(vec![a, b], BLACK.stroke_width(1)))
}

/// Grey fill with "/" hatching, clipped to the cell.
fn draw_missing<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, r: Rect) -> DrawResult<DB> {
    fill_rect(area, r, MISSING_FILL)?;
    let (x_max, y_max) = (r.x1 - 1, r.y1 - 1);
    let mut c = r.x0 + r.y0 + HATCH_STEP;
    while c < x_max + y_max {
        // Points with x + y = c inside the cell.
        let xa = r.x0.max(c - y_max);
        let xb = x_max.min(c - r.y0);
        if xa < xb {
            let style = MISSING_HATCH.stroke_width(1);
            area.draw(&PathElement::new(vec![(xa, c - xa), (xb, c - xb)], style))?;
        }
        c += HATCH_STEP;
    }
    Ok(())
}

/// One font size for all annotations: as large as fits the longest label
/// into the smallest cell, at most 15 px; `None` if that would be unreadable.
fn annotation_font(h: &Heatmap, l: &Layout) -> Option<f64> {
    let longest = h.finite_values().map(|v| format_compact(v).chars().count()).max()?;
    let cell_w = f64::from(l.plot.width() / l.n_cols as i32 - 4);
    let cell_h = f64::from(l.plot.height() / l.n_rows as i32);
    let size = 15f64.min(cell_h * 0.5).min(cell_w / (0.62 * longest as f64));
    (size >= MIN_ANNOTATION_FONT).then_some(size)
}

/// The cells, with optional value annotations.
fn draw_cells<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    h: &Heatmap,
    p: &Prepared,
) -> DrawResult<DB> {
    let l = &p.layout;
    let font = if h.annotate { annotation_font(h, l) } else { None };
    for row in 0..l.n_rows {
        for col in 0..l.n_cols {
            let r = cell_rect(l, row, col);
            let Some(v) = h.cell(row, col) else {
                draw_missing(area, r)?;
                continue;
            };
            let colour = p.mapping.colour(v);
            fill_rect(area, r, rgb(colour))?;
            let text = h.cell_text.get(row).and_then(|t| t.get(col)).cloned().flatten();
            if let Some(size) = font.or_else(|| text.as_ref().map(|_| annotation_size(l))) {
                let ink = if luminance(colour) < 0.5 { WHITE } else { BLACK };
                let style = text_style(size, &ink, HPos::Center, VPos::Center);
                area.draw(&Text::new(text.unwrap_or_else(|| format_compact(v)), r.center(), style))?;
            }
        }
    }
    draw_region_boundaries(area, h, l)?;
    let p = l.plot;
    area.draw(&Rectangle::new([(p.x0, p.y0), (p.x1 - 1, p.y1 - 1)], BLACK.stroke_width(1)))
}

/// Thick lines on the edges between neighbouring cells of different regions (phase boundaries).
fn draw_region_boundaries<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    h: &Heatmap,
    l: &Layout,
) -> DrawResult<DB> {
    let region = |row: usize, col: usize| h.regions.get(row).and_then(|r| r.get(col)).copied().flatten();
    for row in 0..l.n_rows {
        for col in 0..l.n_cols {
            let Some(here) = region(row, col) else { continue };
            let r = cell_rect(l, row, col);
            if col + 1 < l.n_cols && region(row, col + 1).is_some_and(|there| there != here) {
                fill_rect(area, Rect { x0: r.x1 - 2, y0: r.y0, x1: r.x1 + 2, y1: r.y1 }, BLACK)?;
            }
            // Row 0 is drawn at the bottom, so row + 1 is the neighbour above.
            if row + 1 < l.n_rows && region(row + 1, col).is_some_and(|there| there != here) {
                fill_rect(area, Rect { x0: r.x0, y0: r.y0 - 2, x1: r.x1, y1: r.y0 + 2 }, BLACK)?;
            }
        }
    }
    Ok(())
}

/// Font size for cell texts when values are not annotated.
fn annotation_size(l: &Layout) -> f64 {
    let r = cell_rect(l, 0, 0);
    (f64::from((r.x1 - r.x0).min(r.y1 - r.y0)) * 0.25).clamp(8.0, 15.0)
}

/// Tick marks, tick labels and titles of both axes.
fn draw_axes<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, h: &Heatmap, p: &Prepared) -> DrawResult<DB> {
    let l = &p.layout;
    let tick = layout::TICK_LEN;
    for (col, label) in p.x_labels.iter().enumerate() {
        let (cx, _) = cell_rect(l, 0, col).center();
        line(area, (cx, l.plot.y1), (cx, l.plot.y1 + tick))?;
        let style = if l.x_labels_vertical {
            text_style(layout::TICK_FONT, &BLACK, HPos::Right, VPos::Center)
                .transform(FontTransform::Rotate270)
        } else {
            text_style(layout::TICK_FONT, &BLACK, HPos::Center, VPos::Top)
        };
        area.draw(&Text::new(label.clone(), (cx, l.x_labels_y), style))?;
    }
    for (row, label) in p.y_labels.iter().enumerate() {
        let (_, cy) = cell_rect(l, row, 0).center();
        line(area, (l.plot.x0 - tick, cy), (l.plot.x0, cy))?;
        let style = text_style(layout::TICK_FONT, &BLACK, HPos::Right, VPos::Center);
        area.draw(&Text::new(label.clone(), (l.y_labels_x, cy), style))?;
    }
    let axis = |hp, vp| text_style(layout::AXIS_FONT, &BLACK, hp, vp);
    area.draw(&Text::new(h.x.name.clone(), l.x_title_at, axis(HPos::Center, VPos::Center)))?;
    let y_style = axis(HPos::Center, VPos::Center).transform(FontTransform::Rotate270);
    area.draw(&Text::new(h.y.name.clone(), l.y_title_at, y_style))
}

/// The colour bar: gradient, border, ticks, tick labels and its label.
fn draw_colorbar<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    h: &Heatmap,
    p: &Prepared,
) -> DrawResult<DB> {
    let l = &p.layout;
    let c = l.cbar;
    let span = f64::from((c.height() - 1).max(1));
    for y in c.y0..c.y1 {
        let t = f64::from(c.y1 - 1 - y) / span;
        fill_rect(area, Rect { x0: c.x0, y0: y, x1: c.x1, y1: y + 1 }, rgb(p.mapping.colour_at(t)))?;
    }
    area.draw(&Rectangle::new([(c.x0, c.y0), (c.x1 - 1, c.y1 - 1)], BLACK.stroke_width(1)))?;
    for (t, label) in &p.cbar_ticks {
        let y = cbar_y(l, *t);
        line(area, (c.x1 - 1, y), (c.x1 + layout::TICK_LEN, y))?;
        let style = text_style(layout::TICK_FONT, &BLACK, HPos::Left, VPos::Center);
        area.draw(&Text::new(label.clone(), (l.cbar_labels_x, y), style))?;
    }
    let style =
        text_style(layout::AXIS_FONT, &BLACK, HPos::Center, VPos::Center).transform(FontTransform::Rotate270);
    area.draw(&Text::new(h.colorbar_label.clone(), l.cbar_title_at, style))
}

/// Draws the whole picture onto `area` (which must have the size the
/// layout was computed for).
pub(crate) fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    h: &Heatmap,
    p: &Prepared,
) -> DrawResult<DB> {
    area.fill(&WHITE)?;
    let title = text_style(layout::TITLE_FONT, &BLACK, HPos::Center, VPos::Center);
    area.draw(&Text::new(h.title.clone(), p.layout.title_at, title))?;
    draw_cells(area, h, p)?;
    draw_axes(area, h, p)?;
    draw_colorbar(area, h, p)?;
    area.present()
}
