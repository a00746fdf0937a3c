//! SVHN cropped digits from `train_32x32.mat` and `test_32x32.mat`.
//!
//! Each file holds `X`, uint8 of MATLAB shape 32×32×3×N (row, column, channel, image;
//! column-major), and `y`, double N×1 with labels 1..=10 where 10 stands for the digit 0.
//! As torchvision's `SVHN` does (`np.transpose(X, (3, 2, 0, 1))`, `y == 10 → 0`), images become
//! `[N, 3, 32, 32]` and labels the digits 0..=9.

use std::path::{Path, PathBuf};

use super::matv5::{read_mat, MatArray};
use super::{DataError, DatasetName, ImageSet, VisionData};

const SIDE: usize = 32;
const TRAIN: &str = "train_32x32.mat";
const TEST: &str = "test_32x32.mat";

/// Reads both splits from the folder holding the two `.mat` files (or from one of the files,
/// taking its sibling from the same folder).
pub(crate) fn read_svhn(from: &Path) -> Result<VisionData, DataError> {
    let dir = if from.is_dir() { from } else { from.parent().unwrap_or(Path::new(".")) };
    let find = |name: &str| -> Result<PathBuf, DataError> {
        let path = dir.join(name);
        path.is_file().then_some(path).ok_or_else(|| {
            DataError::wrong_source(
                from,
                format!(
                    "no {name} in {}; SVHN is imported from the folder holding {TRAIN} and {TEST}",
                    dir.display()
                ),
            )
        })
    };
    let (train, test) = (find(TRAIN)?, find(TEST)?);
    VisionData::new(DatasetName::Svhn, read_split(&train)?, read_split(&test)?, dir)
}

fn read_split(path: &Path) -> Result<ImageSet, DataError> {
    let mut arrays = read_mat(path, &["X", "y"])?;
    let take = |arrays: &mut Vec<MatArray>, name: &str| {
        let i = arrays.iter().position(|a| a.name == name).expect("read_mat returns every wanted name");
        arrays.swap_remove(i)
    };
    let x = take(&mut arrays, "X");
    let y = take(&mut arrays, "y");
    let &[SIDE, SIDE, 3, n] = x.dims.as_slice() else {
        return Err(DataError::corrupt(path, format!("`X` is {:?}, expected 32×32×3×N", x.dims)));
    };
    if y.len() != n || y.dims.len() != 2 {
        return Err(DataError::corrupt(path, format!("`y` is {:?} for the {n} images of `X`", y.dims)));
    }
    let labels = y
        .to_f64()
        .into_iter()
        .enumerate()
        .map(|(i, label)| {
            digit(label).ok_or_else(|| {
                DataError::corrupt(path, format!("`y` element {i} is {label}; SVHN labels are 1..=10"))
            })
        })
        .collect::<Result<Vec<i64>, _>>()?;
    let images = to_nchw(&x.into_u8(path)?, n);
    Ok(ImageSet { images, labels, n, channels: 3, height: SIDE, width: SIDE })
}

/// The digit of an SVHN label: 1..=9 are themselves, 10 is the digit 0.
#[allow(clippy::cast_possible_truncation)] // exact: an integer in 1..=10, checked first
fn digit(label: f64) -> Option<i64> {
    let integral = label.fract() == 0.0 && (1.0..=10.0).contains(&label);
    integral.then_some(label as i64 % 10)
}

/// MATLAB column-major `[32, 32, 3, N]` (row fastest) → row-major `[N, 3, 32, 32]`: within
/// each (image, channel) plane the stored order is column by column, so each plane is
/// transposed.
fn to_nchw(column_major: &[u8], n: usize) -> Vec<u8> {
    let mut out = vec![0u8; column_major.len()];
    let plane = SIDE * SIDE;
    debug_assert_eq!(column_major.len(), n * 3 * plane);
    for (src, dst) in column_major.chunks_exact(plane).zip(out.chunks_exact_mut(plane)) {
        for col in 0..SIDE {
            for row in 0..SIDE {
                dst[row * SIDE + col] = src[col * SIDE + row];
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::fixtures::{mat_file, MatVar};

    /// MATLAB's `X(r, c, ch, k)` for the test images: distinct for every index.
    fn pixel(r: usize, c: usize, ch: usize, k: usize) -> u8 {
        ((r * 7 + c * 3 + ch * 101 + k * 37) % 256) as u8
    }

    /// An SVHN-layout `.mat` with `n` images and the given labels (1..=10).
    fn svhn_mat(n: usize, labels: &[f64], compressed: bool) -> Vec<u8> {
        let mut x = Vec::new();
        // Column-major: the first index (row) varies fastest.
        for k in 0..n {
            for ch in 0..3 {
                for c in 0..SIDE {
                    for r in 0..SIDE {
                        x.push(pixel(r, c, ch, k));
                    }
                }
            }
        }
        let vars = [MatVar::uint8("X", &[32, 32, 3, n], &x), MatVar::double("y", &[n, 1], labels)];
        mat_file(&vars, compressed)
    }

    #[test]
    fn reads_both_splits_transposed_to_nchw_with_ten_as_zero() {
        for compressed in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            fs_err::write(dir.path().join(TRAIN), svhn_mat(3, &[10.0, 1.0, 9.0], compressed)).unwrap();
            fs_err::write(dir.path().join(TEST), svhn_mat(2, &[5.0, 10.0], compressed)).unwrap();
            let data = read_svhn(dir.path()).unwrap();
            assert_eq!(data.train.labels, vec![0, 1, 9]);
            assert_eq!(data.test.labels, vec![5, 0]);
            for (set, n) in [(&data.train, 3), (&data.test, 2)] {
                for k in 0..n {
                    let image = set.image(k);
                    for (ch, r, c) in [(0, 0, 1), (1, 5, 2), (2, 31, 30), (2, 3, 17)] {
                        assert_eq!(
                            image[(ch * 32 + r) * 32 + c],
                            pixel(r, c, ch, k),
                            "k {k} ch {ch} r {r} c {c}"
                        );
                    }
                }
            }
            // One of the files given: the folder is its parent.
            assert_eq!(read_svhn(&dir.path().join(TEST)).unwrap(), data);
        }
    }

    #[test]
    fn a_label_outside_one_to_ten_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join(TRAIN), svhn_mat(1, &[11.0], true)).unwrap();
        fs_err::write(dir.path().join(TEST), svhn_mat(1, &[1.0], true)).unwrap();
        let err = read_svhn(dir.path()).unwrap_err().to_string();
        assert!(err.contains("train_32x32.mat: `y` element 0 is 11"), "{err}");
    }

    #[test]
    fn a_truncated_or_foreign_file_is_an_error_naming_it_and_a_missing_one_names_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = svhn_mat(2, &[1.0, 2.0], true);
        fs_err::write(dir.path().join(TRAIN), &bytes[..bytes.len() - 100]).unwrap();
        let html = format!("<html><body>{}</body></html>", "Not Found. ".repeat(30));
        fs_err::write(dir.path().join(TEST), html).unwrap();
        let err = read_svhn(dir.path()).unwrap_err().to_string();
        assert!(err.starts_with(&format!("{}: ", dir.path().join(TRAIN).display())), "{err}");
        fs_err::write(dir.path().join(TRAIN), &bytes).unwrap();
        let err = read_svhn(dir.path()).unwrap_err().to_string();
        assert!(err.starts_with(&format!("{}: not a MATLAB", dir.path().join(TEST).display())), "{err}");
        fs_err::remove_file(dir.path().join(TEST)).unwrap();
        let err = read_svhn(dir.path()).unwrap_err().to_string();
        assert!(err.contains("no test_32x32.mat in"), "{err}");
    }

    #[test]
    fn x_of_another_shape_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let vars = [MatVar::uint8("X", &[28, 28, 1, 1], &[0; 784]), MatVar::double("y", &[1, 1], &[1.0])];
        fs_err::write(dir.path().join(TRAIN), mat_file(&vars, false)).unwrap();
        let err = read_split(&dir.path().join(TRAIN)).unwrap_err().to_string();
        assert!(err.contains("`X` is [28, 28, 1, 1], expected 32×32×3×N"), "{err}");
    }
}
