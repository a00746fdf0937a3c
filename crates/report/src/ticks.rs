//! Compact number formatting and colour-bar tick positions.

/// Formats `v` compactly with at most 3 significant digits:
/// integers below 10 000 as integers (`1`, `30`, `1024`), values with
/// magnitude in `[0.01, 1000)` as plain decimals (`0.1`, `0.25`, `12.5`),
/// everything else in scientific notation with trailing zeros removed
/// (`1e-4`, `3.16e-3`, `2.5e5`).
pub(crate) fn format_compact(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == 0.0 {
        return "0".into();
    }
    if v.fract() == 0.0 && v.abs() < 1e4 {
        return format!("{v:.0}");
    }
    // Round to 3 significant digits first; the exponent comes from the rounded value.
    let sci = format!("{v:.2e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-2..3).contains(&exp) {
        let decimals = usize::try_from(2 - exp).unwrap_or(0);
        let rounded: f64 = sci.parse().unwrap_or(v);
        strip_zeros(&format!("{rounded:.decimals$}"))
    } else {
        format!("{}e{exp}", strip_zeros(mantissa))
    }
}

/// Label for the tick at `10^e` on a log colour bar: exact powers of ten as
/// `1e-3` (but `0.1`, `1`, `10`, `100` in full), anything else via
/// [`format_compact`].
pub(crate) fn format_log_tick(e: f64) -> String {
    let k = e.round();
    if (e - k).abs() > 1e-9 {
        return format_compact(10f64.powf(e));
    }
    match k as i64 {
        -1 => "0.1".into(),
        0 => "1".into(),
        1 => "10".into(),
        2 => "100".into(),
        k => format!("1e{k}"),
    }
}

/// Removes trailing zeros after a decimal point, and the point if nothing is left.
fn strip_zeros(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

/// Tick values for a linear colour bar over `[lo, hi]`: "nice" steps of
/// 1, 2 or 5 times a power of ten, about five of them, all inside the range.
pub(crate) fn linear_ticks(lo: f64, hi: f64) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return vec![lo];
    }
    let raw = (hi - lo) / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let m = [1i64, 2, 5, 10].into_iter().find(|m| *m as f64 * mag >= raw).unwrap_or(10);
    let step = m as f64 * mag;
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    // Multiply integers and divide by an exact power of ten where possible, so
    // ticks come out as 0.6 rather than 0.6000000000000001.
    let inv = (1.0 / mag).round();
    (first..=last).map(|k| if mag < 1.0 { (k * m) as f64 / inv } else { (k * m) as f64 * mag }).collect()
}

/// Tick values, as exponents of ten, for a log colour bar over
/// `[lo_exp, hi_exp]` (both log10 of the data range): the powers of ten
/// inside the range; if fewer than two, 1/2/5 times powers of ten; if still
/// fewer than two, the two ends.
pub(crate) fn log_ticks(lo_exp: f64, hi_exp: f64) -> Vec<f64> {
    let eps = 1e-9;
    let mut powers: Vec<f64> =
        ((lo_exp - eps).ceil() as i64..=(hi_exp + eps).floor() as i64).map(|k| k as f64).collect();
    // Thin out very long ranges so labels never collide.
    if powers.len() > 8 {
        let every = powers.len().div_ceil(8);
        powers = powers.into_iter().step_by(every).collect();
    }
    if powers.len() >= 2 {
        return powers;
    }
    let mut sub: Vec<f64> = ((lo_exp - eps).floor() as i64..=(hi_exp + eps).ceil() as i64)
        .flat_map(|k| [1.0f64, 2.0, 5.0].map(|m| k as f64 + m.log10()))
        .filter(|e| *e >= lo_exp - eps && *e <= hi_exp + eps)
        .collect();
    sub.dedup();
    if sub.len() >= 2 {
        sub
    } else {
        vec![lo_exp, hi_exp]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_compact_examples() {
        assert_eq!(format_compact(1e-4), "1e-4");
        assert_eq!(format_compact(0.001), "1e-3");
        assert_eq!(format_compact(30.0), "30");
        assert_eq!(format_compact(1.0), "1");
        assert_eq!(format_compact(0.1), "0.1");
        assert_eq!(format_compact(10f64.powf(-2.5)), "3.16e-3");
        assert_eq!(format_compact(0.0031623), "3.16e-3");
        assert_eq!(format_compact(0.25), "0.25");
        assert_eq!(format_compact(0.01), "0.01");
        assert_eq!(format_compact(0.012345), "0.0123");
        assert_eq!(format_compact(12.5), "12.5");
        assert_eq!(format_compact(0.5), "0.5");
        assert_eq!(format_compact(1024.0), "1024");
        assert_eq!(format_compact(1234.5), "1.23e3");
        assert_eq!(format_compact(250000.0), "2.5e5");
        assert_eq!(format_compact(-0.002), "-2e-3");
        assert_eq!(format_compact(0.0), "0");
        assert_eq!(format_compact(0.30000000000000004), "0.3");
        // Rounding that bumps the exponent.
        assert_eq!(format_compact(0.0009996), "1e-3");
        assert_eq!(format_compact(0.9996), "1");
        assert_eq!(format_compact(f64::NAN), "NaN");
    }

    #[test]
    fn log_tick_labels() {
        assert_eq!(format_log_tick(-3.0), "1e-3");
        assert_eq!(format_log_tick(-2.0), "1e-2");
        assert_eq!(format_log_tick(-1.0), "0.1");
        assert_eq!(format_log_tick(0.0), "1");
        assert_eq!(format_log_tick(3.0), "1e3");
        assert_eq!(format_log_tick(0.5f64.log10()), "0.5");
    }

    #[test]
    fn linear_ticks_are_nice_and_inside() {
        assert_eq!(linear_ticks(0.0, 1.0), vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(linear_ticks(0.2, 0.9), vec![0.2, 0.4, 0.6, 0.8]);
        assert_eq!(linear_ticks(-3.0, 12.0), vec![0.0, 5.0, 10.0]);
        assert_eq!(linear_ticks(3.0, 3.0), vec![3.0]);
    }

    #[test]
    fn log_ticks_powers_of_ten() {
        assert_eq!(log_ticks(-4.0, 0.0), vec![-4.0, -3.0, -2.0, -1.0, 0.0]);
        assert_eq!(log_ticks(-3.5, -0.2), vec![-3.0, -2.0, -1.0]);
        // Less than a decade: 1/2/5 sub-ticks.
        let t = log_ticks(0.2f64.log10(), 0.9f64.log10());
        let vals: Vec<String> = t.iter().map(|e| format_compact(10f64.powf(*e))).collect();
        assert_eq!(vals, vec!["0.2", "0.5"]);
        // Very long ranges are thinned.
        assert!(log_ticks(-20.0, 20.0).len() <= 8);
    }
}
