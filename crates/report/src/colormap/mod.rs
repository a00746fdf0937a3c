//! Colour maps as matplotlib defines them: viridis, cividis and RdBu, each also reversed where the
//! original's panels use it (SPEC §6.2).
//!
//! matplotlib turns a map into a 256-entry lookup table and colours `t` in `[0, 1]` with entry
//! `min(floor(256 t), 255)` (no interpolation between entries); a reversed map is the table read
//! backwards. Listed maps (viridis, cividis) are their table ([`listed`]); RdBu is a
//! `LinearSegmentedColormap` made from ColorBrewer's eleven colours, sampled linearly at
//! `i / 255`. Doing the same here gives the colours matplotlib draws, to the byte.

mod listed;

/// A colour map, by its matplotlib name ([`ColorMap::name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorMap {
    /// `viridis`: dark purple (low) to yellow (high).
    #[default]
    Viridis,
    /// `viridis_r`: yellow (low) to dark purple (high).
    ViridisR,
    /// `cividis`: dark blue (low) to yellow (high).
    Cividis,
    /// `RdBu`: dark red (low), near white (middle), dark blue (high); diverging.
    RdBu,
    /// `RdBu_r`: dark blue (low), near white (middle), dark red (high); diverging.
    RdBuR,
}

/// Entries of matplotlib's lookup tables (`rcParams["image.lut"]`, default 256).
const LUT_SIZE: usize = 256;

/// `_RdBu_data` in matplotlib's `lib/matplotlib/_cm.py` (ColorBrewer RdBu, 11 classes), evenly
/// spaced from `t = 0` (dark red) to `t = 1` (dark blue).
#[allow(clippy::unreadable_literal, clippy::excessive_precision)] // copied digit for digit
const RDBU: [[f64; 3]; 11] = [
    [0.40392156862745099, 0.0, 0.12156862745098039],
    [0.69803921568627447, 0.09411764705882353, 0.16862745098039217],
    [0.83921568627450982, 0.37647058823529411, 0.30196078431372547],
    [0.95686274509803926, 0.6470588235294118, 0.50980392156862742],
    [0.99215686274509807, 0.85882352941176465, 0.7803921568627451],
    [0.96862745098039216, 0.96862745098039216, 0.96862745098039216],
    [0.81960784313725488, 0.89803921568627454, 0.94117647058823528],
    [0.5725490196078431, 0.77254901960784317, 0.87058823529411766],
    [0.2627450980392157, 0.57647058823529407, 0.76470588235294112],
    [0.12941176470588237, 0.4, 0.67450980392156867],
    [0.0196078431372549, 0.18823529411764706, 0.38039215686274508],
];

impl ColorMap {
    /// Every map.
    pub const ALL: [ColorMap; 5] = [Self::Viridis, Self::ViridisR, Self::Cividis, Self::RdBu, Self::RdBuR];

    /// matplotlib's name of the map (`viridis`, `viridis_r`, `cividis`, `RdBu`, `RdBu_r`).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Viridis => "viridis",
            Self::ViridisR => "viridis_r",
            Self::Cividis => "cividis",
            Self::RdBu => "RdBu",
            Self::RdBuR => "RdBu_r",
        }
    }

    /// The colour matplotlib gives `t` (clamped to `[0, 1]`; NaN counts as 0), as 8-bit sRGB.
    #[must_use]
    pub fn rgb(self, t: f64) -> (u8, u8, u8) {
        let i = lut_index(t);
        match self {
            Self::Viridis => unpack(listed::VIRIDIS[i]),
            Self::ViridisR => unpack(listed::VIRIDIS[LUT_SIZE - 1 - i]),
            Self::Cividis => unpack(listed::CIVIDIS[i]),
            Self::RdBu => rdbu_entry(i),
            Self::RdBuR => rdbu_entry(LUT_SIZE - 1 - i),
        }
    }
}

/// matplotlib's `Colormap.__call__`: `floor(N t)`, with `t = 1` the last entry.
fn lut_index(t: f64) -> usize {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // 0 <= t * 256 <= 256
    ((t * LUT_SIZE as f64).floor() as usize).min(LUT_SIZE - 1)
}

fn unpack(c: u32) -> (u8, u8, u8) {
    let [_, r, g, b] = c.to_be_bytes();
    (r, g, b)
}

/// Entry `i` of RdBu's table: `_RdBu_data` interpolated linearly at `x = i / 255`, as
/// `LinearSegmentedColormap.from_list` builds it, each channel rounded as Agg rounds it.
fn rdbu_entry(i: usize) -> (u8, u8, u8) {
    #[allow(clippy::cast_precision_loss)] // small integers
    let pos = i as f64 / (LUT_SIZE - 1) as f64 * (RDBU.len() - 1) as f64;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // 0 <= pos <= 10
    let k = (pos.floor() as usize).min(RDBU.len() - 2);
    #[allow(clippy::cast_precision_loss)]
    let f = pos - k as f64;
    let channel = |c: usize| {
        let v = RDBU[k][c] + f * (RDBU[k + 1][c] - RDBU[k][c]);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // 0 <= v <= 1
        let byte = (v * 255.0 + 0.5).floor() as u8;
        byte
    };
    (channel(0), channel(1), channel(2))
}

/// Relative luminance in `[0, 1]` (sRGB weights, no gamma), used to pick a
/// readable annotation colour.
pub(crate) fn luminance((r, g, b): (u8, u8, u8)) -> f64 {
    (0.2126 * f64::from(r) + 0.7152 * f64::from(g) + 0.0722 * f64::from(b)) / 255.0
}

#[cfg(test)]
mod tests;
