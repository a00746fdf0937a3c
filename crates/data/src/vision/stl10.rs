//! STL-10, binary release: `stl10_binary.tar.gz`, or its extracted `stl10_binary` folder.
//!
//! `stl10_binary/train_X.bin` (5,000 images) and `test_X.bin` (8,000) hold uint8 images one
//! after another, 3×96×96 each: channel by channel, and within a channel column by column
//! (the files were written from MATLAB, which is column-major). torchvision reads them as
//! `reshape(-1, 3, 96, 96)` and then swaps the last two axes; so does this reader, into the
//! crate's row-major `[C, H, W]`. `train_y.bin` / `test_y.bin` hold one byte per image, the
//! classes 1..=10, stored as 0..=9. `unlabeled_X.bin` (100,000 images) is not read.
//! Reference: <https://cs.stanford.edu/~acoates/stl10/> and torchvision's `datasets/stl10.py`.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::tar_archive::{corrupt_archive, open_tar};
use super::{DataError, DatasetName, ImageSet, VisionData};

const SIDE: usize = 96;
const PLANE: usize = SIDE * SIDE;
const PIXELS: usize = 3 * PLANE;
const FOLDER: &str = "stl10_binary";
/// The files read, in the order of [`Parts`].
const FILES: [&str; 4] = ["train_X.bin", "train_y.bin", "test_X.bin", "test_y.bin"];

/// Per file of [`FILES`]: where it is (for errors) and its bytes, images already `[C, H, W]`.
type Parts = [Option<(PathBuf, Vec<u8>)>; 4];

/// Reads both splits from `from`: the `.tar.gz` (or `.tar`), the `stl10_binary` folder, or
/// the folder holding it.
pub(crate) fn read_stl10(from: &Path) -> Result<VisionData, DataError> {
    let parts = if from.is_dir() { read_folder(from)? } else { read_archive(from)? };
    let [Some(train_x), Some(train_y), Some(test_x), Some(test_y)] = parts else {
        unreachable!("read_folder and read_archive return every file or an error")
    };
    let train = split(train_x, train_y)?;
    let test = split(test_x, test_y)?;
    VisionData::new(DatasetName::Stl10, train, test, from)
}

fn read_folder(from: &Path) -> Result<Parts, DataError> {
    let nested = from.join(FOLDER);
    let dir = if nested.is_dir() { nested } else { from.to_path_buf() };
    if !dir.join(FILES[2]).is_file() {
        return Err(DataError::wrong_source(
            from,
            format!(
                "no {} here or in {FOLDER}/; STL-10 is imported from stl10_binary.tar.gz or its \
                 extracted folder",
                FILES[2]
            ),
        ));
    }
    let mut parts = Parts::default();
    for (i, file) in FILES.iter().enumerate() {
        let path = dir.join(file);
        let mut reader = std::io::BufReader::new(fs_err::File::open(&path)?);
        let len = fs_err::metadata(&path)?.len();
        parts[i] = Some(read_part(i, &path, &mut reader, len)?);
    }
    Ok(parts)
}

/// Reads the four files out of a tar archive, gzip-compressed or not.
fn read_archive(archive_path: &Path) -> Result<Parts, DataError> {
    let corrupt = corrupt_archive(archive_path);
    let mut archive = open_tar(archive_path)?;
    let mut parts = Parts::default();
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let member = entry.path().map_err(corrupt)?.into_owned();
        let Some(i) = member.file_name().and_then(|f| FILES.iter().position(|w| f == *w)) else {
            continue;
        };
        let len = entry.size();
        parts[i] = Some(read_part(i, &archive_path.join(&member), &mut entry, len)?);
        // Done: the 2.7 GB of `unlabeled_X.bin`, if it comes later, need not be decompressed.
        if parts.iter().all(Option::is_some) {
            return Ok(parts);
        }
    }
    let missing = FILES.iter().zip(&parts).find(|(_, p)| p.is_none()).map_or("", |(f, _)| f);
    Err(DataError::corrupt(
        archive_path,
        format!("the archive has no {FOLDER}/{missing} (truncated, or not the STL-10 binary release?)"),
    ))
}

/// File `i` of [`FILES`], `len` bytes from `reader`: labels as they are, images transposed.
fn read_part(
    i: usize,
    path: &Path,
    reader: &mut dyn Read,
    len: u64,
) -> Result<(PathBuf, Vec<u8>), DataError> {
    let cannot_read = |e: std::io::Error| {
        DataError::corrupt(path, format!("cannot read all {len} bytes (damaged or truncated?): {e}"))
    };
    let len = usize::try_from(len).map_err(|_| DataError::corrupt(path, "too large for this machine"))?;
    let is_labels = i % 2 == 1;
    if is_labels {
        let mut bytes = vec![0u8; len];
        reader.read_exact(&mut bytes).map_err(cannot_read)?;
        return Ok((path.to_path_buf(), bytes));
    }
    if len == 0 || !len.is_multiple_of(PIXELS) {
        return Err(DataError::corrupt(
            path,
            format!(
                "{len} bytes is not a whole, non-zero number of {PIXELS}-byte (3×96×96) images (truncated?)"
            ),
        ));
    }
    // One image at a time, so a 221 MB test_X.bin is never held twice.
    let mut images = vec![0u8; len];
    let mut raw = vec![0u8; PIXELS];
    for out in images.chunks_exact_mut(PIXELS) {
        reader.read_exact(&mut raw).map_err(cannot_read)?;
        transpose(&raw, out);
    }
    Ok((path.to_path_buf(), images))
}

/// One image from the release's column-major channels to row-major ones.
fn transpose(raw: &[u8], out: &mut [u8]) {
    for (raw, out) in raw.chunks_exact(PLANE).zip(out.chunks_exact_mut(PLANE)) {
        for (col, column) in raw.chunks_exact(SIDE).enumerate() {
            for (row, &pixel) in column.iter().enumerate() {
                out[row * SIDE + col] = pixel;
            }
        }
    }
}

/// A split from its images and labels, the labels checked against the images and 1..=10.
fn split(
    (x_path, images): (PathBuf, Vec<u8>),
    (y_path, labels): (PathBuf, Vec<u8>),
) -> Result<ImageSet, DataError> {
    let n = images.len() / PIXELS;
    if labels.len() != n {
        return Err(DataError::corrupt(
            &y_path,
            format!("{} labels for the {n} images of {} (truncated?)", labels.len(), x_path.display()),
        ));
    }
    let labels = labels
        .iter()
        .enumerate()
        .map(|(i, &label)| match label {
            1..=10 => Ok(i64::from(label) - 1),
            _ => Err(DataError::corrupt(&y_path, format!("label {i} is {label}; STL-10 labels are 1..=10"))),
        })
        .collect::<Result<Vec<i64>, _>>()?;
    Ok(ImageSet { images, labels, n, channels: 3, height: SIDE, width: SIDE })
}

#[cfg(test)]
#[path = "stl10_tests.rs"]
mod tests;
