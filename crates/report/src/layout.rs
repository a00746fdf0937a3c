//! Pure pixel layout of a heatmap picture: where the title, the cells, the
//! tick labels and the colour bar go. No drawing happens here.

/// Default picture width in pixels.
pub(crate) const WIDTH: u32 = 900;
/// Default picture height in pixels.
pub(crate) const HEIGHT: u32 = 650;
/// Font size of the title.
pub(crate) const TITLE_FONT: f64 = 20.0;
/// Font size of axis titles and the colour-bar label.
pub(crate) const AXIS_FONT: f64 = 16.0;
/// Font size of tick labels.
pub(crate) const TICK_FONT: f64 = 14.0;
/// Length of tick marks.
pub(crate) const TICK_LEN: i32 = 5;

/// Estimated advance of one character, as a fraction of the font size
/// (DejaVu Sans digits are about 0.64 em wide).
const CHAR_EM: f64 = 0.64;
const MARGIN: i32 = 12;
const TITLE_BAND: i32 = 48;
const GAP: i32 = 8;
const CBAR_GAP: i32 = 28;
const CBAR_WIDTH: i32 = 22;

/// A pixel rectangle, `x0..x1` by `y0..y1` (ends exclusive, y grows downward).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rect {
    pub x0: i32,
    pub y0: i32,
    pub x1: i32,
    pub y1: i32,
}

impl Rect {
    /// The pixel at the centre (rounded toward the top left).
    pub(crate) fn center(&self) -> (i32, i32) {
        ((self.x0 + self.x1 - 1) / 2, (self.y0 + self.y1 - 1) / 2)
    }
    pub(crate) fn width(&self) -> i32 {
        self.x1 - self.x0
    }
    pub(crate) fn height(&self) -> i32 {
        self.y1 - self.y0
    }
}

/// What the layout depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LayoutInput {
    pub width: u32,
    pub height: u32,
    pub n_cols: usize,
    pub n_rows: usize,
    /// Longest x tick label, in characters.
    pub x_label_chars: usize,
    /// Longest y tick label, in characters.
    pub y_label_chars: usize,
    /// Longest colour-bar tick label, in characters.
    pub cbar_label_chars: usize,
}

/// Where everything goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    pub n_cols: usize,
    pub n_rows: usize,
    /// Centre of the title.
    pub title_at: (i32, i32),
    /// The area covered by the cells.
    pub plot: Rect,
    /// Top of the x tick labels (their top edge when horizontal, their
    /// right end when drawn vertically).
    pub x_labels_y: i32,
    /// Whether x tick labels are too wide for a cell and drawn vertically.
    pub x_labels_vertical: bool,
    /// Centre of the x axis title.
    pub x_title_at: (i32, i32),
    /// Right edge of the y tick labels.
    pub y_labels_x: i32,
    /// Centre of the (vertical) y axis title.
    pub y_title_at: (i32, i32),
    /// The colour bar.
    pub cbar: Rect,
    /// Left edge of the colour-bar tick labels.
    pub cbar_labels_x: i32,
    /// Centre of the (vertical) colour-bar label.
    pub cbar_title_at: (i32, i32),
}

fn text_width(chars: usize, font: f64) -> i32 {
    (chars as f64 * font * CHAR_EM).ceil() as i32
}

/// Computes the layout. Cells are equal-sized up to one pixel of rounding.
pub(crate) fn compute(inp: &LayoutInput) -> Layout {
    let (w, h) = (inp.width as i32, inp.height as i32);
    let (n_cols, n_rows) = (inp.n_cols.max(1), inp.n_rows.max(1));
    let axis_h = AXIS_FONT as i32 + 4;
    let tick_h = TICK_FONT as i32 + 2;

    let y_labels_w = text_width(inp.y_label_chars, TICK_FONT);
    let left = MARGIN + axis_h + GAP + y_labels_w + TICK_LEN + 4;
    let cbar_labels_w = text_width(inp.cbar_label_chars, TICK_FONT);
    let right = CBAR_GAP + CBAR_WIDTH + TICK_LEN + 4 + cbar_labels_w + GAP + axis_h + MARGIN;
    let plot_w = (w - left - right).max(n_cols as i32);

    let x_labels_w = text_width(inp.x_label_chars, TICK_FONT);
    let cell_w = plot_w / n_cols as i32;
    let x_labels_vertical = x_labels_w + 6 > cell_w;
    let x_labels_h = if x_labels_vertical { x_labels_w } else { tick_h };
    let bottom = TICK_LEN + 4 + x_labels_h + GAP + axis_h + MARGIN;
    let plot_h = (h - TITLE_BAND - bottom).max(n_rows as i32);

    let plot = Rect { x0: left, y0: TITLE_BAND, x1: left + plot_w, y1: TITLE_BAND + plot_h };
    let cbar_x0 = plot.x1 + CBAR_GAP;
    let cbar = Rect { x0: cbar_x0, y0: plot.y0, x1: cbar_x0 + CBAR_WIDTH, y1: plot.y1 };
    let cbar_labels_x = cbar.x1 + TICK_LEN + 4;
    let x_labels_y = plot.y1 + TICK_LEN + 4;
    Layout {
        n_cols,
        n_rows,
        title_at: (w / 2, TITLE_BAND / 2),
        plot,
        x_labels_y,
        x_labels_vertical,
        x_title_at: ((plot.x0 + plot.x1) / 2, x_labels_y + x_labels_h + GAP + axis_h / 2),
        y_labels_x: plot.x0 - TICK_LEN - 4,
        y_title_at: (MARGIN + axis_h / 2, (plot.y0 + plot.y1) / 2),
        cbar,
        cbar_labels_x,
        cbar_title_at: (cbar_labels_x + cbar_labels_w + GAP + axis_h / 2, (plot.y0 + plot.y1) / 2),
    }
}

/// Pixel rectangle of the cell at `row` (y index, row 0 at the bottom) and
/// `col` (x index, col 0 at the left).
pub(crate) fn cell_rect(l: &Layout, row: usize, col: usize) -> Rect {
    let p = l.plot;
    let xb = |c: usize| p.x0 + (c as f64 * f64::from(p.width()) / l.n_cols as f64).round() as i32;
    let yb = |r: usize| p.y1 - (r as f64 * f64::from(p.height()) / l.n_rows as f64).round() as i32;
    Rect { x0: xb(col), x1: xb(col + 1), y0: yb(row + 1), y1: yb(row) }
}

/// Vertical pixel position of `t` in `[0, 1]` on the colour bar (0 at the bottom).
pub(crate) fn cbar_y(l: &Layout, t: f64) -> i32 {
    let c = l.cbar;
    c.y1 - 1 - (t.clamp(0.0, 1.0) * f64::from(c.height() - 1)).round() as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(n_cols: usize, n_rows: usize, x_chars: usize) -> LayoutInput {
        LayoutInput {
            width: WIDTH,
            height: HEIGHT,
            n_cols,
            n_rows,
            x_label_chars: x_chars,
            y_label_chars: 7,
            cbar_label_chars: 4,
        }
    }

    #[test]
    fn cells_tile_the_plot_with_row_zero_at_the_bottom() {
        let l = compute(&input(3, 4, 3));
        let p = l.plot;
        assert!(p.x0 > 0 && p.x1 < l.cbar.x0 && l.cbar.x1 < WIDTH as i32);
        assert!(p.y0 > 0 && p.y1 < HEIGHT as i32);
        assert_eq!(cell_rect(&l, 0, 0).x0, p.x0);
        assert_eq!(cell_rect(&l, 0, 0).y1, p.y1, "row 0 must touch the bottom");
        assert_eq!(cell_rect(&l, 3, 2).y0, p.y0);
        assert_eq!(cell_rect(&l, 3, 2).x1, p.x1);
        for r in 0..4 {
            for c in 0..3 {
                let a = cell_rect(&l, r, c);
                assert!((a.width() - p.width() / 3).abs() <= 1);
                assert!((a.height() - p.height() / 4).abs() <= 1);
                if c + 1 < 3 {
                    assert_eq!(a.x1, cell_rect(&l, r, c + 1).x0);
                }
                if r + 1 < 4 {
                    assert_eq!(a.y0, cell_rect(&l, r + 1, c).y1, "row {r} is below row {}", r + 1);
                }
            }
        }
    }

    #[test]
    fn long_x_labels_turn_vertical() {
        assert!(!compute(&input(5, 5, 4)).x_labels_vertical);
        let v = compute(&input(40, 5, 7));
        assert!(v.x_labels_vertical);
        assert!(v.plot.y1 < compute(&input(5, 5, 4)).plot.y1, "vertical labels need more room");
    }

    #[test]
    fn colour_bar_positions() {
        let l = compute(&input(2, 2, 1));
        assert_eq!(cbar_y(&l, 0.0), l.cbar.y1 - 1);
        assert_eq!(cbar_y(&l, 1.0), l.cbar.y0);
    }
}
