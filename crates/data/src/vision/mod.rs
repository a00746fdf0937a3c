//! Image datasets for the ResNet zoos: Fashion-MNIST, CIFAR-10, CIFAR-100, SVHN, TinyImageNet;
//! and MNIST and STL-10, the fine-tuning targets of Fashion-MNIST and CIFAR-10 zoos.
//!
//! A dataset gets into phasezoo once, by [`fetch`] (download the canonical files, verify their
//! SHA-256, import) or [`import`] (decode a local copy). Either writes a uint8 cache,
//! `<data_dir>/<name>.safetensors`, which [`load`] reads into a [`VisionData`] with images
//! `[N, C, H, W]` uint8 and labels int64. The readers are pure Rust (no libtorch): putting
//! the images on a device, normalising and augmenting them is the trainer's job, with the
//! statistics of [`DatasetInfo`].
//!
//! ```no_run
//! use pz_data::vision::{default_data_dir, import, load, DatasetName};
//! let dir = default_data_dir();
//! import(DatasetName::Cifar10, "cifar-10-binary.tar.gz".as_ref(), &dir)?;
//! let cifar = load(DatasetName::Cifar10, &dir)?;
//! assert_eq!(cifar.train.image(0).len(), 3 * 32 * 32);
//! # Ok::<(), pz_data::vision::DataError>(())
//! ```

mod cache;
mod catalog;
mod cifar;
mod download;
mod error;
mod fashion_mnist;
mod fetch;
mod idx;
mod image_set;
mod import;
mod jpeg;
mod matv5;
mod mnist;
mod stl10;
mod svhn;
mod tar_archive;
mod tiny_imagenet;
mod tree;
mod verify;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
pub(crate) mod test_server;

pub use cache::{cache_path, default_data_dir};
pub use catalog::{DatasetInfo, DatasetName, RemoteFile};
pub use download::Download;
// The language-model corpora (`crate::text`) download and check their files the same way.
pub(crate) use download::download;
pub use error::DataError;
pub use fashion_mnist::DEBIAN_FASHION_MNIST_DIR;
pub use fetch::{fetch, fetch_files, FetchReport};
pub use image_set::{ImageSet, VisionData};
pub use import::{decode, import, load};
pub(crate) use verify::digests;
pub use verify::Verification;
