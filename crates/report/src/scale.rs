//! Choice of colour scale and the mapping from cell values to `[0, 1]`.

use crate::colormap::ColorMap;
use crate::error::Error;
use crate::heatmap::{ColorScale, Heatmap};
use crate::ticks::{format_compact, format_log_tick, linear_ticks, log_ticks};

/// A colour scale with `Auto` resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resolved {
    Linear,
    Log10,
}

/// Resolves `Auto`: `Log10` when there is at least one finite value, all
/// finite values are `> 0`, and `max / min >= 100`; otherwise `Linear`.
pub(crate) fn resolve_scale(scale: ColorScale, values: impl IntoIterator<Item = f64>) -> Resolved {
    match scale {
        ColorScale::Linear => Resolved::Linear,
        ColorScale::Log10 => Resolved::Log10,
        ColorScale::Auto => {
            let (mut lo, mut hi, mut any) = (f64::INFINITY, f64::NEG_INFINITY, false);
            for v in values.into_iter().filter(|v| v.is_finite()) {
                if v <= 0.0 {
                    return Resolved::Linear;
                }
                lo = lo.min(v);
                hi = hi.max(v);
                any = true;
            }
            if any && hi / lo >= 100.0 {
                Resolved::Log10
            } else {
                Resolved::Linear
            }
        }
    }
}

/// Maps values to `t` in `[0, 1]` along the colour bar, `t` to a colour, and knows the
/// colour-bar ticks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ColorMapping {
    pub scale: Resolved,
    /// Lower end, in mapped units (the value, or its log10).
    pub lo: f64,
    /// Upper end, in mapped units; always `> lo`.
    pub hi: f64,
    /// The colour map.
    pub colormap: ColorMap,
    /// The value drawn in the map's middle, in mapped units ([`Heatmap::center`]).
    pub center: Option<f64>,
}

impl ColorMapping {
    /// Builds the mapping for a heatmap: resolves the scale and spans the
    /// finite values. A log scale with a non-positive value is invalid input.
    pub(crate) fn for_heatmap(h: &Heatmap) -> Result<Self, Error> {
        let scale = resolve_scale(h.scale, h.finite_values());
        if scale == Resolved::Log10 {
            if let Some(bad) = h.finite_values().find(|v| *v <= 0.0) {
                return Err(Error::InvalidInput {
                    what: "cell value for the Log10 colour scale".into(),
                    expected: "values > 0".into(),
                    got: format_compact(bad),
                });
            }
        }
        if let Some(c) = h.center.filter(|c| scale == Resolved::Log10 && (c.is_nan() || *c <= 0.0)) {
            return Err(Error::InvalidInput {
                what: "centre of the Log10 colour scale".into(),
                expected: "a centre > 0".into(),
                got: format_compact(c),
            });
        }
        let f = |v: f64| {
            if scale == Resolved::Log10 {
                v.log10()
            } else {
                v
            }
        };
        let center = h.center.map(f);
        if let Some(c) = center.filter(|c| !c.is_finite()) {
            return Err(Error::InvalidInput {
                what: "centre of the colour scale".into(),
                expected: "a finite number".into(),
                got: format_compact(c),
            });
        }
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in h.finite_values().map(f) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if !lo.is_finite() {
            // Every cell missing: any range will do.
            (lo, hi) = (0.0, 1.0);
        } else if hi - lo <= f64::EPSILON * lo.abs().max(1.0) {
            // One distinct value: centre it.
            (lo, hi) = (lo - 0.5, hi + 0.5);
        }
        Ok(Self { scale, lo, hi, colormap: h.colormap, center })
    }

    /// Position on the colour map of a mapped value `m` in `[lo, hi]`: linear from `lo` (0) to
    /// `hi` (1), or with a centre seaborn's rule (`heatmap(center=...)`): the map spans
    /// `center ± r`, `r` the larger distance from the centre to `lo` or `hi`, so the centre is
    /// the map's middle and equal distances from it get equally strong colours on both sides.
    /// (seaborn resamples the map into a new 256-entry table first; one lookup here, so a colour
    /// may differ from seaborn's by one of matplotlib's 256 levels, and the centre is exactly
    /// the middle.)
    fn map_position(&self, m: f64) -> f64 {
        let Some(c) = self.center else { return (m - self.lo) / (self.hi - self.lo) };
        let r = (self.hi - c).max(c - self.lo);
        if r <= 0.0 {
            return 0.5;
        }
        0.5 + (m - c) / (2.0 * r)
    }

    /// Colour of the colour-bar position `t` in `[0, 1]` (`lo` at 0).
    pub(crate) fn colour_at(&self, t: f64) -> (u8, u8, u8) {
        self.colormap.rgb(self.map_position(self.lo + t.clamp(0.0, 1.0) * (self.hi - self.lo)))
    }

    /// Colour of the value `v`; the centre gets exactly the map's middle.
    pub(crate) fn colour(&self, v: f64) -> (u8, u8, u8) {
        self.colormap.rgb(self.map_position(self.mapped(v).clamp(self.lo, self.hi)))
    }

    /// `v` in mapped units (the value, or its log10).
    fn mapped(&self, v: f64) -> f64 {
        match self.scale {
            Resolved::Linear => v,
            Resolved::Log10 => v.log10(),
        }
    }

    /// Position of `v` in `[0, 1]` along the colour bar (clamped).
    #[cfg(test)]
    pub(crate) fn t(&self, v: f64) -> f64 {
        ((self.mapped(v) - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0)
    }

    /// Colour-bar ticks as `(t in [0, 1], label)`.
    pub(crate) fn ticks(&self) -> Vec<(f64, String)> {
        let span = self.hi - self.lo;
        match self.scale {
            Resolved::Linear => linear_ticks(self.lo, self.hi)
                .into_iter()
                .map(|v| ((v - self.lo) / span, format_compact(v)))
                .collect(),
            Resolved::Log10 => log_ticks(self.lo, self.hi)
                .into_iter()
                .map(|e| ((e - self.lo) / span, format_log_tick(e)))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_picks_log_for_wide_positive_range() {
        let v = [1e-4, 3e-3, 0.2, 1.0];
        assert_eq!(resolve_scale(ColorScale::Auto, v), Resolved::Log10);
    }

    #[test]
    fn auto_picks_linear_for_narrow_range_zero_or_nothing() {
        assert_eq!(resolve_scale(ColorScale::Auto, [0.2, 0.5, 0.9]), Resolved::Linear);
        assert_eq!(resolve_scale(ColorScale::Auto, [0.0, 1e-4, 1.0]), Resolved::Linear);
        assert_eq!(resolve_scale(ColorScale::Auto, [-1.0, 1000.0]), Resolved::Linear);
        assert_eq!(resolve_scale(ColorScale::Auto, []), Resolved::Linear);
        // Non-finite values are ignored.
        assert_eq!(resolve_scale(ColorScale::Auto, [f64::NAN, 1e-3, 1.0]), Resolved::Log10);
        // Exactly 100 counts as wide.
        assert_eq!(resolve_scale(ColorScale::Auto, [0.01, 1.0]), Resolved::Log10);
        assert_eq!(resolve_scale(ColorScale::Auto, [0.011, 1.0]), Resolved::Linear);
    }

    #[test]
    fn explicit_scales_are_kept() {
        assert_eq!(resolve_scale(ColorScale::Linear, [1e-4, 1.0]), Resolved::Linear);
        assert_eq!(resolve_scale(ColorScale::Log10, [0.2, 0.9]), Resolved::Log10);
    }

    fn mapping(scale: Resolved, lo: f64, hi: f64, center: Option<f64>) -> ColorMapping {
        ColorMapping { scale, lo, hi, colormap: ColorMap::RdBu, center }
    }

    #[test]
    fn a_centre_is_the_maps_middle_and_both_sides_share_one_scale() {
        // mc values from -2 to 1, centred at 0 (seaborn: vrange = 2, Normalize(-2, 2)).
        let m = mapping(Resolved::Linear, -2.0, 1.0, Some(0.0));
        assert!((m.map_position(0.0) - 0.5).abs() < 1e-12);
        assert!(m.map_position(-2.0).abs() < 1e-12, "the farther extreme reaches the map's end");
        assert!((m.map_position(1.0) - 0.75).abs() < 1e-12, "the nearer one stops short of it");
        assert_eq!(m.colour(0.0), ColorMap::RdBu.rgb(0.5));
        assert_eq!(m.colour(-5.0), ColorMap::RdBu.rgb(0.0), "values clamp to the range");
        // The colour bar runs from lo to hi: its ends are the extremes' colours.
        assert_eq!(m.colour_at(0.0), m.colour(-2.0));
        assert_eq!(m.colour_at(1.0), m.colour(1.0));
        // All values on one side (CKA <= 1, centred at 1): only half the map is used.
        let cka = mapping(Resolved::Linear, 0.2, 1.0, Some(1.0));
        assert!(cka.map_position(0.2).abs() < 1e-12 && (cka.map_position(1.0) - 0.5).abs() < 1e-12);
        // A centre outside the values: the nearest value is not white.
        let hessian = mapping(Resolved::Linear, 5.0, 8.0, Some(4.0));
        assert!((hessian.map_position(5.0) - (0.5 + 1.0 / 8.0)).abs() < 1e-12);
        assert!((hessian.map_position(8.0) - 1.0).abs() < 1e-12);
        // Nothing to span: everything in the middle.
        assert!((mapping(Resolved::Linear, 1.0, 1.0, Some(1.0)).map_position(1.0) - 0.5).abs() < 1e-12);
        // No centre: linear over [lo, hi].
        assert!((mapping(Resolved::Linear, -2.0, 1.0, None).map_position(-0.5) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn a_centre_follows_the_log_scale_and_must_be_positive_there() {
        let mut h = crate::heatmap::sample(vec![vec![Some(1e-3), Some(1.0)]]);
        h.scale = ColorScale::Log10;
        h.center = Some(1e-2);
        let m = ColorMapping::for_heatmap(&h).unwrap();
        assert_eq!(m.center, Some(-2.0));
        h.center = Some(0.0);
        let msg = ColorMapping::for_heatmap(&h).unwrap_err().to_string();
        assert!(msg.contains("centre of the Log10 colour scale"), "{msg}");
    }

    #[test]
    fn mapping_positions_and_ticks() {
        let m = mapping(Resolved::Log10, -4.0, 0.0, None);
        assert!((m.t(1e-2) - 0.5).abs() < 1e-12);
        assert_eq!(m.t(1e-9), 0.0);
        let labels: Vec<String> = m.ticks().into_iter().map(|(_, l)| l).collect();
        assert_eq!(labels, ["1e-4", "1e-3", "1e-2", "0.1", "1"]);
        let lin = mapping(Resolved::Linear, 0.0, 1.0, None);
        assert_eq!(lin.t(0.25), 0.25);
        assert_eq!(lin.ticks().first().map(|t| t.0), Some(0.0));
        assert_eq!(lin.ticks().last().map(|t| t.0), Some(1.0));
    }
}
