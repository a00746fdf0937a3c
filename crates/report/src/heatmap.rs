//! The input description of a heatmap and its validation.

use crate::colormap::ColorMap;
use crate::error::Error;

/// One axis of the grid: a name with unit, and its values in grid order.
///
/// The axis is categorical: every value gets one equal-sized column (x) or
/// row (y), labelled with the value formatted compactly (`1`, `30`, `1e-4`,
/// `3.16e-3`, `0.1`).
#[derive(Debug, Clone, PartialEq)]
pub struct GridAxis {
    /// Axis title, including the unit or meaning, e.g. `"lr (Adam learning rate)"`.
    pub name: String,
    /// The axis values in grid order.
    pub values: Vec<f64>,
}

/// Colour scale choice for the cell values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorScale {
    /// Colours proportional to the value between the finite minimum and maximum.
    Linear,
    /// Colours proportional to `log10(value)`; every finite value must be `> 0`.
    Log10,
    /// `Log10` when all finite values are `> 0` and `max / min >= 100`, else `Linear`.
    Auto,
}

/// A heatmap of one quantity over a two-dimensional grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Heatmap {
    /// Title drawn at the top, e.g. `"test_error (relative L2), seed mean"`.
    pub title: String,
    /// Load axis; its values are the columns, left to right in the given order.
    pub x: GridAxis,
    /// Temperature axis; its values are the rows, the first value at the bottom.
    pub y: GridAxis,
    /// `values[row = y index][col = x index]`. `None` (or a non-finite value)
    /// is a missing cell: drawn grey and hatched, with no number.
    pub values: Vec<Vec<Option<f64>>>,
    /// How values map to positions on the colour map.
    pub scale: ColorScale,
    /// The colour map.
    pub colormap: ColorMap,
    /// A value drawn in the colour map's middle, for diverging maps (seaborn's `center`): the
    /// colours span `center ± r`, `r` the larger distance from `center` to a finite value, and
    /// the colour bar only the values' own range. `None`: the values' range spans the whole map.
    pub center: Option<f64>,
    /// Label of the colour bar, e.g. `"relative L2 error"`.
    pub colorbar_label: String,
    /// Write the value into each cell (3 significant digits).
    pub annotate: bool,
    /// Optional text per cell (`[row][col]`) written instead of the value, e.g. a phase name;
    /// empty for none.
    pub cell_text: Vec<Vec<Option<String>>>,
    /// Optional region per cell (`[row][col]`, e.g. a phase); thick lines are drawn between
    /// neighbouring cells of different regions. Empty for none.
    pub regions: Vec<Vec<Option<u8>>>,
}

impl Heatmap {
    /// The finite cell values, `None` for missing or non-finite cells.
    pub(crate) fn cell(&self, row: usize, col: usize) -> Option<f64> {
        self.values[row][col].filter(|v| v.is_finite())
    }

    /// Iterator over all finite cell values.
    pub(crate) fn finite_values(&self) -> impl Iterator<Item = f64> + '_ {
        self.values.iter().flatten().filter_map(|v| v.filter(|v| v.is_finite()))
    }
}

/// Checks that `values` has one row per y value and one column per x value,
/// and that both axes are non-empty.
pub(crate) fn validate_shape(h: &Heatmap) -> Result<(), Error> {
    let (nx, ny) = (h.x.values.len(), h.y.values.len());
    if nx == 0 || ny == 0 {
        return Err(Error::InvalidInput {
            what: "axis lengths".into(),
            expected: "at least one x value and one y value".into(),
            got: format!("{nx} x values and {ny} y values"),
        });
    }
    if h.values.len() != ny {
        return Err(Error::InvalidInput {
            what: "number of rows in values (one per y value)".into(),
            expected: format!("{ny} rows x {nx} columns"),
            got: format!("{} rows", h.values.len()),
        });
    }
    if let Some((row, r)) = h.values.iter().enumerate().find(|(_, r)| r.len() != nx) {
        return Err(Error::InvalidInput {
            what: format!("number of columns in values row {row} (one per x value)"),
            expected: format!("{ny} rows x {nx} columns"),
            got: format!("{} columns in row {row}", r.len()),
        });
    }
    Ok(())
}

/// A small heatmap for tests: x = `[1, 30, ...]`, y = `[1e-4, 3.16e-3, ...]`,
/// sized to `values`.
#[cfg(test)]
pub(crate) fn sample(values: Vec<Vec<Option<f64>>>) -> Heatmap {
    let nx = values.first().map_or(0, Vec::len);
    let ny = values.len();
    let xs = [1.0, 30.0, 100.0, 300.0, 1000.0];
    Heatmap {
        title: "test_error (relative L2), seed mean".into(),
        x: GridAxis { name: "beta (convection coefficient)".into(), values: xs[..nx].to_vec() },
        y: GridAxis {
            name: "lr (Adam learning rate)".into(),
            values: (0..ny).map(|i| 10f64.powf(-4.0 + 1.5 * i as f64)).collect(),
        },
        values,
        scale: ColorScale::Auto,
        colormap: ColorMap::Viridis,
        center: None,
        colorbar_label: "relative L2 error".into(),
        annotate: false,
        cell_text: Vec::new(),
        regions: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_checks() {
        let ok = sample(vec![vec![Some(1.0), None], vec![None, Some(2.0)]]);
        assert!(validate_shape(&ok).is_ok());

        let mut rows = ok.clone();
        rows.values.pop();
        let msg = validate_shape(&rows).unwrap_err().to_string();
        assert!(msg.contains("expected 2 rows x 2 columns") && msg.contains("got 1 rows"), "{msg}");

        let mut cols = ok.clone();
        cols.values[1].push(Some(3.0));
        let msg = validate_shape(&cols).unwrap_err().to_string();
        assert!(msg.contains("got 3 columns in row 1"), "{msg}");

        let mut empty = ok;
        empty.x.values.clear();
        assert!(matches!(validate_shape(&empty), Err(Error::InvalidInput { .. })));
    }

    #[test]
    fn non_finite_cells_count_as_missing() {
        let h = sample(vec![vec![Some(f64::NAN), Some(f64::INFINITY), Some(0.5)]]);
        assert_eq!(h.cell(0, 0), None);
        assert_eq!(h.cell(0, 1), None);
        assert_eq!(h.cell(0, 2), Some(0.5));
        assert_eq!(h.finite_values().collect::<Vec<_>>(), vec![0.5]);
    }
}
