use super::*;

type Rgb = (u8, u8, u8);

/// Reference colours from matplotlib 3.11.2, each channel `floor(255 c + 0.5)`:
///
/// ```python
/// import matplotlib as mpl
/// for name in ["viridis", "viridis_r", "cividis", "RdBu", "RdBu_r"]:
///     cmap = mpl.colormaps[name]
///     print(name, [tuple(int(c * 255 + 0.5) for c in cmap(t)[:3]) for t in (0, .25, .5, .75, 1)])
/// ```
///
/// The float values at 0, 0.5 and 1 (before rounding), for the record:
/// viridis (0.267004, 0.004874, 0.329415), (0.127568, 0.566949, 0.550556),
/// (0.993248, 0.906157, 0.143936); cividis (0, 0.135112, 0.304751),
/// (0.488697, 0.485318, 0.471008), (0.995737, 0.909344, 0.217772); RdBu
/// (0.403922, 0, 0.121569), (0.965705, 0.967243, 0.968089), (0.019608, 0.188235, 0.380392).
const MATPLOTLIB: [(ColorMap, [Rgb; 5]); 5] = [
    (ColorMap::Viridis, [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)]),
    (ColorMap::ViridisR, [(253, 231, 37), (92, 200, 99), (33, 144, 141), (59, 81, 139), (68, 1, 84)]),
    (ColorMap::Cividis, [(0, 34, 78), (67, 78, 108), (125, 124, 120), (188, 174, 108), (254, 232, 56)]),
    (ColorMap::RdBu, [(103, 0, 31), (229, 131, 104), (246, 247, 247), (104, 171, 208), (5, 48, 97)]),
    (ColorMap::RdBuR, [(5, 48, 97), (107, 172, 209), (247, 246, 246), (228, 128, 102), (103, 0, 31)]),
];

#[test]
fn endpoints_quarters_and_middles_equal_matplotlib() {
    for (map, want) in MATPLOTLIB {
        for (t, want) in [0.0, 0.25, 0.5, 0.75, 1.0].into_iter().zip(want) {
            assert_eq!(map.rgb(t), want, "{}({t})", map.name());
        }
    }
}

#[test]
fn rdbu_table_entries_equal_matplotlib() {
    // `(mpl.colormaps["RdBu"](np.arange(256))[:, :3] * 255 + 0.5).astype(int)` at these rows:
    // the interpolated table, not only the ColorBrewer anchors.
    let rows = [
        (0, (103, 0, 31)),
        (64, (229, 131, 104)),
        (127, (247, 246, 246)),
        (128, (246, 247, 247)),
        (191, (107, 172, 209)),
        (255, (5, 48, 97)),
    ];
    for (i, want) in rows {
        assert_eq!(rdbu_entry(i), want, "entry {i}");
    }
}

#[test]
fn the_middle_of_a_diverging_map_is_near_white() {
    for map in [ColorMap::RdBu, ColorMap::RdBuR] {
        let (r, g, b) = map.rgb(0.5);
        assert!(r.min(g).min(b) >= 245, "{}(0.5) = {:?}", map.name(), (r, g, b));
    }
}

#[test]
fn reversed_maps_read_the_table_backwards() {
    // Just below the boundary k / 256 the reversed map reads entry 256 - k, which the map
    // itself gives at 1 - k / 256 (exact in binary).
    for k in 1..256 {
        let t = f64::from(k) / 256.0;
        assert_eq!(ColorMap::ViridisR.rgb(t - 1e-9), ColorMap::Viridis.rgb(1.0 - t), "t = {t}");
        assert_eq!(ColorMap::RdBuR.rgb(t - 1e-9), ColorMap::RdBu.rgb(1.0 - t), "t = {t}");
    }
    assert_eq!(ColorMap::RdBuR.rgb(0.0), ColorMap::RdBu.rgb(1.0));
    assert_eq!(ColorMap::ViridisR.rgb(1.0), ColorMap::Viridis.rgb(0.0));
}

#[test]
fn out_of_range_and_nan_clamp() {
    for map in ColorMap::ALL {
        assert_eq!(map.rgb(-3.0), map.rgb(0.0), "{}", map.name());
        assert_eq!(map.rgb(7.0), map.rgb(1.0), "{}", map.name());
        assert_eq!(map.rgb(f64::NAN), map.rgb(0.0), "{}", map.name());
    }
}

#[test]
fn sequential_maps_get_brighter() {
    for map in [ColorMap::Viridis, ColorMap::Cividis] {
        let mut last = -1.0;
        for k in 0..=20 {
            let l = luminance(map.rgb(f64::from(k) / 20.0));
            assert!(l > last, "{} luminance not increasing at step {k}", map.name());
            last = l;
        }
    }
}
