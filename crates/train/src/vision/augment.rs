//! Train-time augmentation of uint8 image batches on their device, as PTMZ's torchvision
//! pipeline: `RandomCrop(size, padding)`, `RandomHorizontalFlip()`, `RandomRotation(degrees)`,
//! `ToTensor()`, `Normalize(mean, std)` (SPEC §1.2), in that order.
//!
//! The random choices of a batch are drawn on the CPU from a ChaCha8 stream (see
//! [`super::augment_rng`]) and sent to the device as small tensors, so a batch is the same on
//! CPU and CUDA and never touches libtorch's global generator. Crop is an exact gather; flip and
//! rotation are one nearest-neighbour `grid_sample` (torchvision's `rotate` on tensors is the same
//! `affine_grid` + `grid_sample`); pixels that the rotation brings in from outside are 0 before
//! normalisation, as torchvision's default `fill=0`.
//!
//! # Shapes
//! In: `[N, C, H, W]` uint8. Out: `[N, C, H, W]` float32 on the same device.

use rand::Rng;
use tch::{Device, Kind, Tensor};

/// One dataset's augmentation and normalisation.
#[derive(Debug, Clone, PartialEq)]
pub struct Augmentation {
    /// Zero padding on every side before cropping back to H×W (`RandomCrop(padding=pad)`); 0: no crop.
    pub pad: i64,
    /// Random horizontal flip with probability ½ (off for SVHN, whose digits are not symmetric).
    pub flip: bool,
    /// Rotation by an angle uniform in ±`rotate_degrees`, counter-clockwise for positive; 0: none.
    pub rotate_degrees: f64,
    /// Per-channel mean of pixel/255, subtracted after scaling to [0, 1].
    pub mean: Vec<f64>,
    /// Per-channel standard deviation of pixel/255, divided by after the mean.
    pub std: Vec<f64>,
}

/// The random choices for the images of one batch, in batch order.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchDraws {
    /// `[row, col]` of each crop's top-left corner in the padded image, each in `0..=2·pad`.
    pub crop_offsets: Vec<[i64; 2]>,
    /// Whether each image is flipped left–right.
    pub flips: Vec<bool>,
    /// Each image's rotation in degrees, counter-clockwise.
    pub angles_degrees: Vec<f64>,
}

impl Augmentation {
    /// PTMZ's train transform (SPEC §1.2): crop with padding 4, flip if `flip`, rotation ±20°.
    #[must_use]
    pub fn ptmz(mean: Vec<f64>, std: Vec<f64>, flip: bool) -> Self {
        Self { pad: 4, flip, rotate_degrees: 20.0, mean, std }
    }

    /// The choices for `n` images: per image, crop row and column, flip, angle, as torchvision
    /// draws them; a disabled transform draws nothing and leaves its identity.
    pub fn draw(&self, n: usize, rng: &mut impl Rng) -> BatchDraws {
        let mut draws =
            BatchDraws { crop_offsets: vec![[0, 0]; n], flips: vec![false; n], angles_degrees: vec![0.0; n] };
        for i in 0..n {
            if self.pad > 0 {
                draws.crop_offsets[i] = [rng.gen_range(0..=2 * self.pad), rng.gen_range(0..=2 * self.pad)];
            }
            if self.flip {
                draws.flips[i] = rng.gen_bool(0.5);
            }
            if self.rotate_degrees > 0.0 {
                draws.angles_degrees[i] = rng.gen_range(-self.rotate_degrees..=self.rotate_degrees);
            }
        }
        draws
    }

    /// A training batch: draw from `rng`, augment, normalise.
    ///
    /// # Panics
    /// If `images` is not `[N, C, H, W]` uint8 with C = `mean.len()` (a wiring bug, not bad data).
    pub fn train_batch(&self, images: &Tensor, rng: &mut impl Rng) -> Tensor {
        let n = usize::try_from(images.size()[0]).expect("batch size");
        let draws = self.draw(n, rng);
        self.apply(images, &draws)
    }

    /// A training batch with the choices given (tests pin them through this).
    ///
    /// # Panics
    /// As [`Augmentation::train_batch`], or if `draws` is not for `N` images.
    pub fn apply(&self, images: &Tensor, draws: &BatchDraws) -> Tensor {
        let n = images.size4().expect("images [N, C, H, W]").0;
        assert_eq!(usize::try_from(n).ok(), Some(draws.flips.len()), "draws for another batch size");
        let cropped =
            if self.pad > 0 { crop(images, self.pad, &draws.crop_offsets) } else { images.shallow_clone() };
        // Integers 0..=255 in float32 are exact, and nearest sampling moves them unchanged.
        let pixels = cropped.to_kind(Kind::Float);
        let resampled = if self.flip || self.rotate_degrees > 0.0 {
            flip_and_rotate(&pixels, &draws.flips, &draws.angles_degrees)
        } else {
            pixels
        };
        self.normalize(&resampled)
    }

    /// A test batch: `ToTensor` + `Normalize` only.
    ///
    /// # Panics
    /// As [`Augmentation::train_batch`].
    pub fn eval_batch(&self, images: &Tensor) -> Tensor {
        self.normalize(&images.to_kind(Kind::Float))
    }

    /// `(x/255 − mean)/std` per channel, each step in float32 as torchvision does it.
    fn normalize(&self, pixels: &Tensor) -> Tensor {
        let c = pixels.size()[1];
        assert!(
            usize::try_from(c).ok() == Some(self.mean.len()) && self.mean.len() == self.std.len(),
            "{} channels but {} means and {} stds",
            c,
            self.mean.len(),
            self.std.len()
        );
        #[allow(clippy::cast_possible_truncation)] // torchvision casts them to float32 too
        let stats: Vec<f32> = self.mean.iter().chain(&self.std).map(|&x| x as f32).collect();
        let stats = to_device(&Tensor::from_slice(&stats), pixels.device()).view([2, 1, c, 1, 1]);
        (pixels / 255.0 - stats.get(0)) / stats.get(1)
    }
}

/// Each image's H×W window at its offset in the image zero-padded by `pad` on every side.
fn crop(images: &Tensor, pad: i64, offsets: &[[i64; 2]]) -> Tensor {
    let (n, c, h, w) = images.size4().expect("images [N, C, H, W]");
    let device = images.device();
    let padded = images.constant_pad_nd([pad, pad, pad, pad]);
    let offsets = to_device(&Tensor::from_slice(offsets.as_flattened()), device).view([n, 2]);
    let range = |len: i64| Tensor::arange(len, (Kind::Int64, device));
    // Broadcast indices [N, C, H, W] into the padded batch: one gather kernel.
    let rows = offsets.select(1, 0).view([n, 1, 1, 1]) + range(h).view([1, 1, h, 1]);
    let cols = offsets.select(1, 1).view([n, 1, 1, 1]) + range(w).view([1, 1, 1, w]);
    let index =
        [Some(range(n).view([n, 1, 1, 1])), Some(range(c).view([1, c, 1, 1])), Some(rows), Some(cols)];
    padded.index(&index)
}

/// Flip (first) and rotation (second) of float images by one nearest-neighbour resampling.
///
/// torchvision's `rotate` samples output pixel centre p (in pixels, relative to the image centre)
/// from the input at `M·p` with `M = [[cos a, −sin a], [sin a, cos a]]`: counter-clockwise on
/// screen, whose y axis points down. The flip before it negates the x of that input point. The
/// matrix is then expressed in `affine_grid`'s normalised coordinates (x/(W/2), y/(H/2)), whose
/// `align_corners = false` grid puts the samples at pixel centres as torchvision's does.
fn flip_and_rotate(pixels: &Tensor, flips: &[bool], angles_degrees: &[f64]) -> Tensor {
    let (n, c, h, w) = pixels.size4().expect("images [N, C, H, W]");
    #[allow(clippy::cast_precision_loss)] // image sides are small integers
    let aspect = h as f64 / w as f64;
    let mut theta = Vec::with_capacity(flips.len() * 6);
    for (&flip, &angle) in flips.iter().zip(angles_degrees) {
        let (sin, cos) = angle.to_radians().sin_cos();
        let sign = if flip { -1.0 } else { 1.0 };
        theta.extend([sign * cos, sign * -sin * aspect, 0.0, sin / aspect, cos, 0.0]);
    }
    // torchvision builds its float images' matrix in float32 too.
    let theta = to_device(&Tensor::from_slice(&theta).to_kind(Kind::Float), pixels.device()).view([n, 2, 3]);
    let grid = Tensor::affine_grid_generator(&theta, [n, c, h, w], false);
    const NEAREST: i64 = 1;
    const ZEROS: i64 = 0;
    pixels.grid_sampler(&grid, NEAREST, ZEROS, false)
}

/// A small CPU tensor on `device` without blocking the host. The copy starts from pinned
/// memory: CUDA copies from pageable memory first wait for the stream to drain, which would
/// cost a device synchronization per batch and leave the GPU idle while the host queues the
/// next step (measured on an H100: ~30% of the step time at batch 16).
fn to_device(t: &Tensor, device: Device) -> Tensor {
    if device.is_cuda() {
        pz_device::pin_memory(t).to_device_(device, t.kind(), true, false)
    } else {
        t.to_device(device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::augment_rng;

    /// `[N, C, H, W]` uint8 with distinct, non-zero values (so a fill of 0 is visible).
    fn numbered(n: i64, c: i64, h: i64, w: i64) -> Tensor {
        (Tensor::arange(n * c * h * w, (Kind::Int64, Device::Cpu)).remainder(251) + 1)
            .to_kind(Kind::Uint8)
            .view([n, c, h, w])
    }

    /// Mean 0, std 1: the output is pixel/255, so 255·output recovers the pixels.
    fn plain(c: usize, pad: i64, flip: bool, rotate_degrees: f64) -> Augmentation {
        Augmentation { pad, flip, rotate_degrees, mean: vec![0.0; c], std: vec![1.0; c] }
    }

    fn pixels(t: &Tensor) -> Tensor {
        (t * 255.0).round().to_kind(Kind::Uint8)
    }

    fn draws(offsets: Vec<[i64; 2]>, flips: Vec<bool>, angles_degrees: Vec<f64>) -> BatchDraws {
        BatchDraws { crop_offsets: offsets, flips, angles_degrees }
    }

    fn assert_same(got: &Tensor, want: &Tensor, what: &str) {
        assert_eq!(got.size(), want.size(), "{what}: shape");
        assert!(got.equal(want), "{what}:\ngot {got}\nwant {want}");
    }

    #[test]
    fn crop_is_the_window_of_the_zero_padded_image_at_the_offset() {
        let images = numbered(3, 2, 5, 6);
        let offsets = vec![[0, 0], [4, 4], [8, 3]];
        let got = pixels(
            &plain(2, 4, false, 0.0).apply(&images, &draws(offsets.clone(), vec![false; 3], vec![0.0; 3])),
        );
        let padded = images.constant_pad_nd([4, 4, 4, 4]);
        for (i, [row, col]) in (0..).zip(offsets) {
            let want = padded.get(i).narrow(1, row, 5).narrow(2, col, 6);
            assert_same(&got.get(i), &want, &format!("image {i}"));
        }
        assert_same(&got.get(1), &images.get(1), "the centred window is the image");
    }

    #[test]
    fn flip_mirrors_left_and_right_of_the_chosen_images_only() {
        let images = numbered(2, 3, 4, 5);
        let flips = draws(vec![[0, 0]; 2], vec![true, false], vec![0.0; 2]);
        let got = pixels(&plain(3, 0, true, 0.0).apply(&images, &flips));
        assert_same(&got.get(0), &images.get(0).flip([2]), "flipped");
        assert_same(&got.get(1), &images.get(1), "kept");
    }

    #[test]
    fn rotation_by_0_is_the_identity_and_by_90_turns_counter_clockwise() {
        let images = numbered(4, 3, 6, 6);
        let angles = draws(vec![[0, 0]; 4], vec![false, false, false, true], vec![0.0, 90.0, -90.0, 90.0]);
        let got = pixels(&plain(3, 0, false, 20.0).apply(&images, &angles));
        assert_same(&got.get(0), &images.get(0), "0°");
        // rot90 with k = 1 turns the first axis into the second: counter-clockwise on screen.
        assert_same(&got.get(1), &images.get(1).rot90(1, [1, 2]), "90°");
        assert_same(&got.get(1), &images.get(1).transpose(1, 2).flip([1]), "90° as transpose + flip");
        assert_same(&got.get(2), &images.get(2).rot90(-1, [1, 2]), "−90°");
        assert_same(&got.get(3), &images.get(3).flip([2]).rot90(1, [1, 2]), "flip, then 90°");
    }

    #[test]
    fn rotation_of_a_wide_image_keeps_the_pixel_centres_and_fills_with_zero() {
        // 90° of a 4×6 image about its centre: out[i][j] = in[j − 1][4 − i] where that exists.
        let images = numbered(1, 1, 4, 6);
        let got =
            pixels(&plain(1, 0, false, 20.0).apply(&images, &draws(vec![[0, 0]], vec![false], vec![90.0])));
        let (src, out) = (images.get(0).get(0), got.get(0).get(0));
        for i in 0..4 {
            for j in 0..6 {
                let want = if (1..=4).contains(&j) { src.int64_value(&[j - 1, 4 - i]) } else { 0 };
                assert_eq!(out.int64_value(&[i, j]), want, "pixel ({i}, {j})");
            }
        }
    }

    #[test]
    fn normalizes_like_to_tensor_then_normalize_and_fills_before_normalizing() {
        let mean = vec![0.4914, 0.4822, 0.4465];
        let std = vec![0.2470, 0.2435, 0.2616];
        let augmentation =
            Augmentation { pad: 0, flip: false, rotate_degrees: 45.0, mean: mean.clone(), std: std.clone() };
        let images = Tensor::full([1, 3, 8, 8], 200, (Kind::Uint8, Device::Cpu));
        let eval = augmentation.eval_batch(&images);
        let rotated = augmentation.apply(&images, &draws(vec![[0, 0]], vec![false], vec![45.0]));
        assert_eq!(eval.kind(), Kind::Float);
        for c in 0..3 {
            #[allow(clippy::cast_possible_truncation)]
            let (m, s) = (mean[c] as f32, std[c] as f32);
            let c = i64::try_from(c).unwrap();
            let value = |t: &Tensor, i: i64, j: i64| t.double_value(&[0, c, i, j]);
            assert_eq!(value(&eval, 3, 5), f64::from((200.0f32 / 255.0 - m) / s), "channel {c}");
            assert_eq!(value(&rotated, 4, 4), value(&eval, 4, 4), "the centre stays");
            assert_eq!(value(&rotated, 0, 0), f64::from((0.0 - m) / s), "a corner comes from outside");
        }
    }

    #[test]
    fn a_seed_epoch_and_batch_fix_the_batch_and_other_seeds_change_it() {
        let images = numbered(8, 3, 32, 32);
        let augmentation = Augmentation::ptmz(vec![0.5; 3], vec![0.25; 3], true);
        let batch = |seed| augmentation.train_batch(&images, &mut augment_rng(seed, 2, 5));
        assert!(batch(0).equal(&batch(0)));
        assert!(!batch(0).equal(&batch(1)));
        let first = augmentation.draw(8, &mut augment_rng(0, 2, 5));
        assert!(first.crop_offsets.iter().flatten().all(|o| (0..=8).contains(o)));
        assert!(first.angles_degrees.iter().all(|a| a.abs() <= 20.0));
        assert!(first.flips.iter().any(|&f| f) && first.flips.iter().any(|&f| !f), "{first:?}");
    }

    #[test]
    fn keeps_the_shapes_of_grey_28_and_colour_32_pixel_batches() {
        for (c, side) in [(1, 28), (3, 32)] {
            let images = numbered(5, c, side, side);
            let channels = usize::try_from(c).unwrap();
            let augmentation = Augmentation::ptmz(vec![0.5; channels], vec![0.25; channels], true);
            let train = augmentation.train_batch(&images, &mut augment_rng(0, 0, 0));
            assert_eq!((train.size(), train.kind()), (vec![5, c, side, side], Kind::Float));
            assert_eq!(augmentation.eval_batch(&images).size(), [5, c, side, side]);
        }
    }

    /// The same draws on CUDA and on the CPU give the same batch (skipped without CUDA).
    #[test]
    fn cuda_and_cpu_agree() {
        let Some(cuda) = crate::vision::cuda_for_tests() else { return };
        let images = numbered(64, 3, 32, 32);
        let augmentation = Augmentation::ptmz(vec![0.49, 0.48, 0.45], vec![0.25, 0.24, 0.26], true);
        let draws = augmentation.draw(64, &mut augment_rng(7, 1, 3));
        let cpu = augmentation.apply(&images, &draws);
        let cuda = augmentation.apply(&images.to_device(cuda), &draws).to_device(Device::Cpu);
        // The arithmetic may differ in the last bits (CUDA divides by a scalar through its
        // reciprocal); a different pixel moves a value by at least 1/255/std ≈ 0.015. Nearest
        // sampling can pick another pixel only where a sample sits on a tie between two.
        let differing = i64::try_from((cpu - cuda).abs().gt(1e-4).sum(Kind::Int64)).unwrap();
        assert!(differing <= 3 * 4, "{differing} values differ");
    }
}
