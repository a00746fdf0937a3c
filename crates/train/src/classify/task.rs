//! A dataset laid out on a device for training: uint8 images and int64 labels, plus its
//! transforms. Each training worker builds one and trains all its models on it (with `--jobs N`
//! on one GPU that is N copies: fine for Fashion-MNIST and CIFAR, ~1.3 GB each for TinyImageNet).

use pz_data::vision::{ImageSet, VisionData};
use pz_spec::ImageConfig;
use tch::{Device, Kind, Tensor};

use crate::vision::Augmentation;

/// The train and test sets on one device.
#[derive(Debug)]
pub struct ImageTask {
    /// Training images, uint8, N×C×H×W.
    pub train_images: Tensor,
    /// Training labels, int64, N.
    pub train_labels: Tensor,
    /// Test images, uint8.
    pub test_images: Tensor,
    /// Test labels, int64.
    pub test_labels: Tensor,
    /// Number of classes.
    pub classes: i64,
    /// Image channels.
    pub channels: i64,
    /// Image side (square images).
    pub image_size: i64,
    /// Train-time transform (augmentation + normalization).
    pub train_transform: Augmentation,
    /// Test-time transform (normalization only).
    pub eval_transform: Augmentation,
}

impl ImageTask {
    /// The dataset's subsets of `config` on `device`.
    #[must_use]
    pub fn new(data: &VisionData, config: &ImageConfig, device: Device) -> Self {
        pz_device::outside_captures(|| Self::upload(data, config, device))
    }

    fn upload(data: &VisionData, config: &ImageConfig, device: Device) -> Self {
        let info = data.name.info();
        let mean: Vec<f64> = info.mean.iter().map(|&v| f64::from(v)).collect();
        let std: Vec<f64> = info.std.iter().map(|&v| f64::from(v)).collect();
        let eval_transform =
            Augmentation { pad: 0, flip: false, rotate_degrees: 0.0, mean: mean.clone(), std: std.clone() };
        let train_transform = if config.augment {
            Augmentation::ptmz(mean.clone(), std.clone(), info.horizontal_flip)
        } else {
            eval_transform.clone()
        };
        let (train_images, train_labels) = to_device(&data.train, config.train_subset, device);
        let (test_images, test_labels) = to_device(&data.test, config.test_subset, device);
        #[allow(clippy::cast_possible_wrap)]
        Self {
            train_images,
            train_labels,
            test_images,
            test_labels,
            classes: data.classes as i64,
            channels: data.train.channels as i64,
            image_size: data.train.height as i64,
            train_transform,
            eval_transform,
        }
    }

    /// Training images.
    #[must_use]
    pub fn train_len(&self) -> usize {
        usize::try_from(self.train_labels.size()[0]).expect("a length")
    }

    /// Optimizer steps of one epoch at `batch_size` (the last batch may be partial, as with
    /// PyTorch's DataLoader default `drop_last = False`).
    #[must_use]
    pub fn steps_per_epoch(&self, batch_size: u32) -> u64 {
        (self.train_len() as u64).div_ceil(u64::from(batch_size))
    }
}

/// The first `subset` images (0 = all) as device tensors.
fn to_device(set: &ImageSet, subset: usize, device: Device) -> (Tensor, Tensor) {
    let n = if subset == 0 { set.n } else { subset.min(set.n) };
    let per_image = set.channels * set.height * set.width;
    #[allow(clippy::cast_possible_wrap)]
    let shape = [n as i64, set.channels as i64, set.height as i64, set.width as i64];
    let images = Tensor::from_slice(&set.images[..n * per_image]).reshape(shape).to_device(device);
    let labels = Tensor::from_slice(&set.labels[..n]).to_kind(Kind::Int64).to_device(device);
    (images, labels)
}
