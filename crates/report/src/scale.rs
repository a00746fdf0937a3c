//! Choice of colour scale and the mapping from cell values to `[0, 1]`.

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

/// Maps values to `t` in `[0, 1]` for the colormap, and knows the colour-bar ticks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ColorMapping {
    pub scale: Resolved,
    /// Lower end, in mapped units (the value, or its log10).
    pub lo: f64,
    /// Upper end, in mapped units; always `> lo`.
    pub hi: f64,
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
        let f = |v: f64| {
            if scale == Resolved::Log10 {
                v.log10()
            } else {
                v
            }
        };
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
        Ok(Self { scale, lo, hi })
    }

    /// Position of `v` in `[0, 1]` (clamped).
    pub(crate) fn t(&self, v: f64) -> f64 {
        let m = match self.scale {
            Resolved::Linear => v,
            Resolved::Log10 => v.log10(),
        };
        ((m - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0)
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

    #[test]
    fn mapping_positions_and_ticks() {
        let m = ColorMapping { scale: Resolved::Log10, lo: -4.0, hi: 0.0 };
        assert!((m.t(1e-2) - 0.5).abs() < 1e-12);
        assert_eq!(m.t(1e-9), 0.0);
        let labels: Vec<String> = m.ticks().into_iter().map(|(_, l)| l).collect();
        assert_eq!(labels, ["1e-4", "1e-3", "1e-2", "0.1", "1"]);
        let lin = ColorMapping { scale: Resolved::Linear, lo: 0.0, hi: 1.0 };
        assert_eq!(lin.t(0.25), 0.25);
        assert_eq!(lin.ticks().first().map(|t| t.0), Some(0.0));
        assert_eq!(lin.ticks().last().map(|t| t.0), Some(1.0));
    }
}
