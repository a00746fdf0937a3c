//! Decoded datasets in memory: uint8 images `[N, C, H, W]` and int64 labels `[N]`.

use std::path::Path;

use super::{DataError, DatasetName};

/// One split of a dataset.
///
/// # Shapes
/// `images`: `[n, channels, height, width]` row-major uint8 (0..=255, not normalised);
/// `labels`: `[n]`, each in `0..classes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSet {
    /// Pixels, `n·channels·height·width` bytes.
    pub images: Vec<u8>,
    /// Class index per image.
    pub labels: Vec<i64>,
    /// Number of images.
    pub n: usize,
    /// Channels per image (1 or 3).
    pub channels: usize,
    /// Rows per image.
    pub height: usize,
    /// Columns per image.
    pub width: usize,
}

impl ImageSet {
    /// Bytes of one image (`channels·height·width`).
    #[must_use]
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Image `i`, `[C, H, W]`.
    ///
    /// # Panics
    /// If `i >= n`.
    #[must_use]
    pub fn image(&self, i: usize) -> &[u8] {
        let len = self.image_len();
        &self.images[i * len..(i + 1) * len]
    }

    /// Images per class, `[classes]`.
    #[must_use]
    pub fn class_counts(&self, classes: usize) -> Vec<usize> {
        let mut counts = vec![0; classes];
        for &label in &self.labels {
            if let Some(count) = usize::try_from(label).ok().and_then(|l| counts.get_mut(l)) {
                *count += 1;
            }
        }
        counts
    }

    /// Checks that the buffers match the shape and that every label is a class of `name`;
    /// `path` is the file the set came from, named in the error.
    pub(crate) fn check(&self, name: DatasetName, split: &str, path: &Path) -> Result<(), DataError> {
        let info = name.info();
        let shape = (self.channels, self.height, self.width);
        if shape != (info.channels, info.height, info.width) {
            return Err(DataError::corrupt(
                path,
                format!(
                    "{split} images are {}×{}×{}, {name} images are {}×{}×{}",
                    shape.0, shape.1, shape.2, info.channels, info.height, info.width
                ),
            ));
        }
        if self.images.len() != self.n * self.image_len() || self.labels.len() != self.n {
            return Err(DataError::corrupt(
                path,
                format!(
                    "{split} split: {} image bytes and {} labels for {} images",
                    self.images.len(),
                    self.labels.len(),
                    self.n
                ),
            ));
        }
        if let Some((i, label)) =
            self.labels.iter().enumerate().find(|(_, &l)| !(0..info.classes as i64).contains(&l))
        {
            return Err(DataError::corrupt(
                path,
                format!("{split} label {i} is {label}; {name} has classes 0..{}", info.classes),
            ));
        }
        Ok(())
    }
}

/// A dataset: both splits and what they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisionData {
    /// Which dataset.
    pub name: DatasetName,
    /// Number of classes.
    pub classes: usize,
    /// The training split (with the PTMZ convention that augmentation is applied later).
    pub train: ImageSet,
    /// The test split (SVHN: `test`; TinyImageNet: the labelled `val`).
    pub test: ImageSet,
}

impl VisionData {
    /// Wraps two decoded splits after checking them against `name`'s shape and classes.
    pub(crate) fn new(
        name: DatasetName,
        train: ImageSet,
        test: ImageSet,
        path: &Path,
    ) -> Result<Self, DataError> {
        train.check(name, "train", path)?;
        test.check(name, "test", path)?;
        Ok(Self { name, classes: name.info().classes, train, test })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(labels: Vec<i64>) -> ImageSet {
        let n = labels.len();
        ImageSet { images: vec![0; n * 784], labels, n, channels: 1, height: 28, width: 28 }
    }

    #[test]
    fn check_rejects_labels_outside_the_classes_naming_the_file() {
        let path = Path::new("some/file");
        let err = VisionData::new(DatasetName::FashionMnist, set(vec![0, 9]), set(vec![10]), path)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("some/file: test label 0 is 10"), "{err}");
    }

    #[test]
    fn check_rejects_a_shape_of_another_dataset() {
        let err = set(vec![0]).check(DatasetName::Cifar10, "train", Path::new("f")).unwrap_err();
        assert!(err.to_string().contains("train images are 1×28×28, cifar10 images are 3×32×32"));
    }

    #[test]
    fn class_counts_and_image_slices() {
        let mut s = set(vec![1, 1, 3]);
        s.images[784] = 7;
        assert_eq!(s.class_counts(4), vec![0, 2, 0, 1]);
        assert_eq!(s.image(1)[0], 7);
    }
}
