//! Small multiples: one line chart per grid cell (rows = temperature, columns = load), all on
//! the same axes so that cells compare at a glance, each point with its error bar and marked
//! x positions drawn as red vertical lines (the LLC curves over training and their jumps).

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::Error;
use crate::font::{ensure_font, FAMILY};
use crate::heatmap::GridAxis;
use crate::ticks::format_compact;

/// One cell's curve.
#[derive(Debug, Clone, PartialEq)]
pub struct GridCurve {
    /// x of each point, ascending.
    pub x: Vec<f64>,
    /// y of each point.
    pub y: Vec<f64>,
    /// Half-length of each point's error bar (NaN: none).
    pub err: Vec<f64>,
    /// x positions to mark.
    pub marks: Vec<f64>,
}

/// A grid of curves.
#[derive(Debug, Clone, PartialEq)]
pub struct CurveGrid {
    /// Drawn at the top.
    pub title: String,
    /// Names the x values of every chart (e.g. `epoch`).
    pub x_label: String,
    /// Columns, left to right.
    pub cols: GridAxis,
    /// Rows, top to bottom.
    pub rows: GridAxis,
    /// Short (column, row) axis names for each chart's caption (`wd = 3, lr = 0.01`).
    pub short_names: (String, String),
    /// `cells[row][col]`; `None`: an empty chart.
    pub cells: Vec<Vec<Option<GridCurve>>>,
}

/// Pixels per chart, and around the grid.
const CHART: (u32, u32) = (240, 170);
const TOP: u32 = 40;
const LEFT: u32 = 70;
const BOTTOM: u32 = 48;
const RIGHT: u32 = 10;
const LINE: RGBColor = RGBColor(31, 119, 180);
const MARK: RGBColor = RGBColor(214, 39, 40);

impl CurveGrid {
    /// The picture's size in pixels.
    #[must_use]
    pub fn size(&self) -> (u32, u32) {
        let (r, c) = (
            u32::try_from(self.rows.values.len()).unwrap_or(1),
            u32::try_from(self.cols.values.len()).unwrap_or(1),
        );
        (LEFT + RIGHT + CHART.0 * c.max(1), TOP + BOTTOM + CHART.1 * r.max(1))
    }

    /// The shared (x, y) ranges of every point, error bar and mark; `None` with no point.
    fn ranges(&self) -> Option<((f64, f64), (f64, f64))> {
        let curves = || self.cells.iter().flatten().flatten();
        let fin = |v: &f64| v.is_finite();
        let xs: Vec<f64> = curves().flat_map(|c| c.x.iter().chain(&c.marks).copied()).filter(fin).collect();
        let ys: Vec<f64> = curves()
            .flat_map(|c| {
                c.y.iter().zip(&c.err).flat_map(|(y, e)| {
                    let e = if e.is_finite() { *e } else { 0.0 };
                    [y - e, y + e]
                })
            })
            .filter(fin)
            .collect();
        let span = |v: &[f64]| {
            let (lo, hi) =
                v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(*x), b.max(*x)));
            let pad = if hi > lo { 0.05 * (hi - lo) } else { 0.5 };
            (lo - pad, hi + pad)
        };
        (!xs.is_empty() && !ys.is_empty()).then(|| (span(&xs), span(&ys)))
    }

    fn check(&self) -> Result<(), Error> {
        let bad = |what: &str, expected: String, got: String| {
            Err(Error::InvalidInput { what: format!("curve grid {:?}: {what}", self.title), expected, got })
        };
        let shape: Vec<usize> = self.cells.iter().map(Vec::len).collect();
        let (rows, cols) = (self.rows.values.len(), self.cols.values.len());
        if shape != vec![cols; rows] {
            return bad("cells", format!("{rows} rows of {cols} cells"), format!("rows of {shape:?} cells"));
        }
        for c in self.cells.iter().flatten().flatten() {
            if c.y.len() != c.x.len() || c.err.len() != c.x.len() {
                let got = format!("{} y and {} errors", c.y.len(), c.err.len());
                return bad("a curve", format!("one y and one error per x ({})", c.x.len()), got);
            }
        }
        Ok(())
    }
}

/// Draws `grid` as an SVG document.
///
/// # Errors
/// Cells that do not match the axes, curves of unequal lengths, no font.
pub fn render_curve_grid_svg(grid: &CurveGrid) -> Result<String, Error> {
    grid.check()?;
    ensure_font()?;
    let mut svg = String::new();
    {
        let area = SVGBackend::with_string(&mut svg, grid.size()).into_drawing_area();
        draw(&area, grid)
            .map_err(|e| Error::Render { path: "<inline svg>".into(), source: e.to_string().into() })?;
    }
    Ok(svg)
}

/// Draws `grid` and writes it as the PNG `png` and the SVG `svg`, both rendered before either
/// is written, each written atomically (as [`crate::write_heatmap`]).
///
/// # Errors
/// As [`render_curve_grid_svg`], and the writes.
pub fn write_curve_grid(grid: &CurveGrid, png: &Path, svg: &Path) -> Result<(), Error> {
    let text = render_curve_grid_svg(grid)?;
    let size = grid.size();
    let mut rgb = vec![255u8; 3 * size.0 as usize * size.1 as usize];
    {
        let area = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
        draw(&area, grid)
            .map_err(|e| Error::Render { path: png.to_path_buf(), source: e.to_string().into() })?;
    }
    let png_bytes = crate::write::encode_png(&rgb, size, png)?;
    crate::write::write_pair((png, &png_bytes), (svg, text.as_bytes()))
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    grid: &CurveGrid,
) -> Result<(), Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let (w, h) = grid.size();
    root.draw_text(&grid.title, &(FAMILY, 16).into_text_style(root), (LEFT as i32, 10))?;
    let style = (FAMILY, 13).into_text_style(root);
    let footer =
        [format!("columns: {}", grid.cols.name), format!("rows: {}    x: {}", grid.rows.name, grid.x_label)];
    for (k, line) in footer.iter().enumerate() {
        let y = h - BOTTOM + 10 + 18 * u32::try_from(k).unwrap_or(0);
        root.draw_text(line, &style, (LEFT as i32, y as i32))?;
    }
    let inner = root.margin(TOP, BOTTOM, LEFT, RIGHT);
    let Some(((x0, x1), (y0, y1))) = grid.ranges() else {
        root.draw_text("no values", &style, ((w / 2) as i32, (h / 2) as i32))?;
        return Ok(root.present()?);
    };
    let panes = inner.split_evenly((grid.rows.values.len(), grid.cols.values.len()));
    let cols = grid.cols.values.len();
    for (k, pane) in panes.iter().enumerate() {
        let (r, c) = (k / cols, k % cols);
        let (cn, rn) = &grid.short_names;
        let caption = format!(
            "{cn} = {}, {rn} = {}",
            format_compact(grid.cols.values[c]),
            format_compact(grid.rows.values[r])
        );
        let mut chart = ChartBuilder::on(pane)
            .caption(caption, (FAMILY, 11))
            .margin(4)
            .x_label_area_size(16)
            .y_label_area_size(34)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        chart
            .configure_mesh()
            .x_labels(4)
            .y_labels(4)
            .x_label_formatter(&|v| format_compact(*v))
            // Ticks at zero come out of plotters as ±1e-17: print them as 0.
            .y_label_formatter(&|v| format_compact(if v.abs() < 1e-9 * (y1 - y0) { 0.0 } else { *v }))
            .label_style((FAMILY, 10))
            .disable_mesh()
            .draw()?;
        let Some(curve) = &grid.cells[r][c] else { continue };
        for &m in &curve.marks {
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(m, y0), (m, y1)],
                MARK.stroke_width(1),
            )))?;
        }
        let points: Vec<(f64, f64)> = curve
            .x
            .iter()
            .zip(&curve.y)
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .map(|(x, y)| (*x, *y))
            .collect();
        chart.draw_series(LineSeries::new(points.iter().copied(), LINE.stroke_width(2)))?;
        chart.draw_series(points.iter().map(|p| Circle::new(*p, 2, LINE.filled())))?;
        chart.draw_series(
            curve
                .x
                .iter()
                .zip(&curve.y)
                .zip(&curve.err)
                .filter(|((x, y), e)| x.is_finite() && y.is_finite() && e.is_finite())
                .map(|((x, y), e)| ErrorBar::new_vertical(*x, y - e, *y, y + e, LINE.stroke_width(1), 4)),
        )?;
    }
    Ok(root.present()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(cells: Vec<Vec<Option<GridCurve>>>) -> CurveGrid {
        CurveGrid {
            title: "llc".into(),
            x_label: "epoch".into(),
            cols: GridAxis { name: "width (hidden units)".into(), values: vec![8.0, 16.0] },
            rows: GridAxis { name: "lr".into(), values: vec![0.1] },
            short_names: ("width".into(), "lr".into()),
            cells,
        }
    }

    fn curve(marks: Vec<f64>) -> GridCurve {
        GridCurve { x: vec![1.0, 2.0, 3.0], y: vec![1.0, 1.5, 4.0], err: vec![0.1, f64::NAN, 0.2], marks }
    }

    #[test]
    fn each_cell_gets_its_chart_its_marks_and_error_bars() {
        let svg = render_curve_grid_svg(&grid(vec![vec![Some(curve(vec![3.0])), None]])).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("width=\"560\""), "{}", &svg[..200]);
        assert!(svg.contains("width = 8, lr = 0.1") && svg.contains("width = 16, lr = 0.1"));
        // One red mark line in the first chart only.
        assert_eq!(svg.matches("stroke=\"#D62728\"").count(), 1, "one mark");
        assert!(svg.contains("columns: width (hidden units)"));
    }

    #[test]
    fn cells_that_do_not_match_the_axes_are_refused_and_no_values_draw_a_note() {
        let err = render_curve_grid_svg(&grid(vec![vec![None]])).unwrap_err().to_string();
        assert!(err.contains("expected 1 rows of 2 cells, got rows of [1] cells"), "{err}");
        let mut bad = curve(Vec::new());
        bad.err.pop();
        let err = render_curve_grid_svg(&grid(vec![vec![Some(bad), None]])).unwrap_err().to_string();
        assert!(err.contains("one y and one error per x (3), got 3 y and 2 errors"), "{err}");
        let empty = render_curve_grid_svg(&grid(vec![vec![None, None]])).unwrap();
        assert!(empty.contains("no values"));
    }
}
