//! The viridis colormap as a small interpolated table.

/// Viridis (matplotlib's default colormap) sampled at t = 0, 0.1, ..., 1.
const VIRIDIS: [(u8, u8, u8); 11] = [
    (0x44, 0x01, 0x54),
    (0x48, 0x24, 0x75),
    (0x41, 0x44, 0x87),
    (0x35, 0x5f, 0x8d),
    (0x2a, 0x78, 0x8e),
    (0x21, 0x91, 0x8c),
    (0x22, 0xa8, 0x84),
    (0x44, 0xbf, 0x70),
    (0x7a, 0xd1, 0x51),
    (0xbd, 0xdf, 0x26),
    (0xfd, 0xe7, 0x25),
];

/// Viridis colour for `t` in `[0, 1]` (clamped; NaN maps to 0), linearly
/// interpolated between the table entries.
pub(crate) fn viridis(t: f64) -> (u8, u8, u8) {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let pos = t * (VIRIDIS.len() - 1) as f64;
    let i = (pos.floor() as usize).min(VIRIDIS.len() - 2);
    let f = pos - i as f64;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    let mix = |x: u8, y: u8| (f64::from(x) + (f64::from(y) - f64::from(x)) * f).round() as u8;
    (mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Relative luminance in `[0, 1]` (sRGB weights, no gamma), used to pick a
/// readable annotation colour.
pub(crate) fn luminance((r, g, b): (u8, u8, u8)) -> f64 {
    (0.2126 * f64::from(r) + 0.7152 * f64::from(g) + 0.0722 * f64::from(b)) / 255.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viridis_endpoints_and_middle_match_matplotlib() {
        assert_eq!(viridis(0.0), (68, 1, 84));
        assert_eq!(viridis(0.5), (33, 145, 140));
        assert_eq!(viridis(1.0), (253, 231, 37));
    }

    #[test]
    fn viridis_clamps_and_interpolates() {
        assert_eq!(viridis(-3.0), viridis(0.0));
        assert_eq!(viridis(7.0), viridis(1.0));
        assert_eq!(viridis(f64::NAN), viridis(0.0));
        // Halfway between the 0.9 and 1.0 entries.
        assert_eq!(viridis(0.95), (221, 227, 38));
    }

    #[test]
    fn viridis_gets_brighter() {
        let mut last = -1.0;
        for k in 0..=20 {
            let l = luminance(viridis(f64::from(k) / 20.0));
            assert!(l > last, "luminance not increasing at step {k}");
            last = l;
        }
    }
}
