//! Fashion-MNIST from a folder of its four IDX files, plain or `.gz`.

use std::path::{Path, PathBuf};

use super::idx::{read_idx, IdxArray};
use super::{DataError, DatasetName, ImageSet, VisionData};

/// Where Debian's `dataset-fashion-mnist` package installs the four `.gz` files.
pub const DEBIAN_FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// The file names of (images, labels) per split, without `.gz`.
const TRAIN: (&str, &str) = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte");
const TEST: (&str, &str) = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte");

/// Whether `dir` holds all four files (plain or `.gz`).
pub(crate) fn has_files(dir: &Path) -> bool {
    [TRAIN.0, TRAIN.1, TEST.0, TEST.1].iter().all(|name| find(dir, name).is_ok())
}

/// Reads both splits from `dir`.
pub(crate) fn read_fashion_mnist(dir: &Path) -> Result<VisionData, DataError> {
    if !dir.is_dir() {
        return Err(DataError::wrong_source(
            dir,
            "Fashion-MNIST is imported from a folder holding train-images-idx3-ubyte(.gz), \
             train-labels-idx1-ubyte(.gz), t10k-images-idx3-ubyte(.gz) and t10k-labels-idx1-ubyte(.gz)",
        ));
    }
    let train = read_split(dir, TRAIN)?;
    let test = read_split(dir, TEST)?;
    VisionData::new(DatasetName::FashionMnist, train, test, dir)
}

fn read_split(dir: &Path, (images_name, labels_name): (&str, &str)) -> Result<ImageSet, DataError> {
    let images_path = find(dir, images_name)?;
    let labels_path = find(dir, labels_name)?;
    let IdxArray { dims, data: images } = read_idx(&images_path)?;
    let &[n, height, width] = dims.as_slice() else {
        return Err(DataError::corrupt(&images_path, format!("images must be N×28×28, found {dims:?}")));
    };
    let labels = read_idx(&labels_path)?;
    if labels.dims != [n] {
        return Err(DataError::corrupt(
            &labels_path,
            format!("{:?} labels for the {n} images of {}", labels.dims, images_path.display()),
        ));
    }
    let labels = labels.data.iter().map(|&l| i64::from(l)).collect();
    let set = ImageSet { images, labels, n, channels: 1, height, width };
    set.check(DatasetName::FashionMnist, images_name, &images_path)?;
    Ok(set)
}

/// `dir/name`, else `dir/name.gz`.
fn find(dir: &Path, name: &str) -> Result<PathBuf, DataError> {
    let plain = dir.join(name);
    let gz = dir.join(format!("{name}.gz"));
    [plain, gz]
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| DataError::wrong_source(dir, format!("no {name} or {name}.gz in this folder")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::fixtures::write_fashion_mnist;

    #[test]
    fn reads_a_folder_of_plain_or_gzipped_files() {
        for gz in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let (train, test) = write_fashion_mnist(dir.path(), 5, 3, gz);
            let data = read_fashion_mnist(dir.path()).unwrap();
            assert_eq!((data.train.n, data.test.n, data.classes), (5, 3, 10));
            assert_eq!(data.train, train);
            assert_eq!(data.test, test);
        }
    }

    #[test]
    fn a_missing_file_names_the_folder_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        write_fashion_mnist(dir.path(), 2, 2, true);
        fs_err::remove_file(dir.path().join("t10k-labels-idx1-ubyte.gz")).unwrap();
        let err = read_fashion_mnist(dir.path()).unwrap_err().to_string();
        assert!(err.contains("no t10k-labels-idx1-ubyte or t10k-labels-idx1-ubyte.gz"), "{err}");
    }

    #[test]
    fn label_count_must_match_image_count() {
        let dir = tempfile::tempdir().unwrap();
        write_fashion_mnist(dir.path(), 2, 2, false);
        let labels = crate::vision::fixtures::idx_bytes(&[3], &[0, 1, 2]);
        fs_err::write(dir.path().join("t10k-labels-idx1-ubyte"), labels).unwrap();
        let err = read_fashion_mnist(dir.path()).unwrap_err().to_string();
        assert!(err.contains("t10k-labels-idx1-ubyte: [3] labels for the 2 images"), "{err}");
    }

    /// The real data, where Debian's `dataset-fashion-mnist` is installed.
    #[test]
    #[allow(clippy::print_stderr)] // the note says why nothing was checked
    fn reads_the_debian_fashion_mnist_when_installed() {
        let dir = Path::new(DEBIAN_FASHION_MNIST_DIR);
        if !has_files(dir) {
            eprintln!(
                "note: {DEBIAN_FASHION_MNIST_DIR} absent (apt-get install dataset-fashion-mnist); skipped"
            );
            return;
        }
        let data = read_fashion_mnist(dir).unwrap();
        assert_eq!((data.train.n, data.test.n), (60_000, 10_000));
        assert_eq!((data.train.channels, data.train.height, data.train.width), (1, 28, 28));
        assert_eq!(data.train.images.len(), 60_000 * 784);
        assert_eq!(data.train.class_counts(10), vec![6000; 10]);
        assert_eq!(data.test.class_counts(10), vec![1000; 10]);
        // The first training labels: ankle boot, T-shirt/top, T-shirt/top.
        assert_eq!(data.train.labels[..3], [9, 0, 0]);
    }
}
