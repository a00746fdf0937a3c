//! JPEG files → uint8 RGB `[3, H, W]`, decoded on all cores.
//!
//! As PIL's `Image.open(f).convert("RGB")` in the PTMZ TinyImageNet loader: grayscale images
//! get their one channel copied to R, G and B. Decoding is by `jpeg-decoder` (pure Rust); its
//! IDCT and chroma upsampling round like libjpeg's defaults but are not bit-identical to
//! them, so a pixel may differ from PIL's by a small amount.

use std::path::PathBuf;

use jpeg_decoder::{Decoder, PixelFormat};

use super::DataError;

/// One encoded image and the path (or archive member) it came from, named in errors.
pub(crate) struct EncodedImage {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
}

/// Decodes every image, which must all be `width`×`height`, into `[N, 3, height, width]`.
pub(crate) fn decode_all(images: &[EncodedImage], height: usize, width: usize) -> Result<Vec<u8>, DataError> {
    let len = 3 * height * width;
    let mut out = vec![0u8; images.len() * len];
    if images.is_empty() {
        return Ok(out);
    }
    let threads = std::thread::available_parallelism().map_or(1, usize::from).min(images.len());
    let per_thread = images.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = images
            .chunks(per_thread)
            .zip(out.chunks_mut(per_thread * len))
            .map(|(inputs, outputs)| {
                scope.spawn(move || {
                    for (image, out) in inputs.iter().zip(outputs.chunks_exact_mut(len)) {
                        decode_rgb_into(image, height, width, out)?;
                    }
                    Ok::<(), DataError>(())
                })
            })
            .collect();
        workers.into_iter().try_for_each(|w| w.join().expect("a JPEG decoding thread panicked"))
    })?;
    Ok(out)
}

/// Decodes one image into `out`, `[3, height, width]`.
fn decode_rgb_into(
    image: &EncodedImage,
    height: usize,
    width: usize,
    out: &mut [u8],
) -> Result<(), DataError> {
    let corrupt = |message: String| DataError::corrupt(&image.path, message);
    let mut decoder = Decoder::new(image.bytes.as_slice());
    let pixels = decoder.decode().map_err(|e| corrupt(format!("not a decodable JPEG: {e}")))?;
    let info = decoder.info().ok_or_else(|| corrupt("JPEG without a frame header".into()))?;
    if (usize::from(info.height), usize::from(info.width)) != (height, width) {
        return Err(corrupt(format!("image is {}×{}, expected {height}×{width}", info.width, info.height)));
    }
    let plane = height * width;
    match info.pixel_format {
        PixelFormat::RGB24 => {
            for (i, rgb) in pixels.chunks_exact(3).enumerate() {
                out[i] = rgb[0];
                out[plane + i] = rgb[1];
                out[2 * plane + i] = rgb[2];
            }
        }
        PixelFormat::L8 => {
            for channel in out.chunks_exact_mut(plane) {
                channel.copy_from_slice(&pixels);
            }
        }
        PixelFormat::L16 => {
            // 12-bit JPEGs decode to big-endian 16-bit samples; PIL keeps the high byte.
            for channel in out.chunks_exact_mut(plane) {
                for (o, sample) in channel.iter_mut().zip(pixels.chunks_exact(2)) {
                    *o = sample[0];
                }
            }
        }
        PixelFormat::CMYK32 => return Err(corrupt("a CMYK JPEG; only RGB and grayscale are read".into())),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::fixtures::{jpeg_gray, jpeg_rgb};

    #[test]
    fn gray_images_become_three_equal_channels_and_rgb_is_split_into_planes() {
        let gray: Vec<u8> = (0..16).map(|i| (i * 16) as u8).collect();
        let rgb: Vec<u8> = (0..16).flat_map(|i| [i as u8 * 10, 100, 250 - i as u8 * 5]).collect();
        let images = [
            EncodedImage { path: "g.JPEG".into(), bytes: jpeg_gray(&gray, 4, 4) },
            EncodedImage { path: "c.JPEG".into(), bytes: jpeg_rgb(&rgb, 4, 4) },
        ];
        let out = decode_all(&images, 4, 4).unwrap();
        // Layout checked exactly against the `image` crate's decoding of the same bytes.
        let reference_gray = image::load_from_memory(&images[0].bytes).unwrap().to_luma8().into_raw();
        let reference_rgb = image::load_from_memory(&images[1].bytes).unwrap().to_rgb8().into_raw();
        for c in 0..3 {
            assert_eq!(out[c * 16..(c + 1) * 16], reference_gray[..]);
            let plane: Vec<u8> = reference_rgb.iter().skip(c).step_by(3).copied().collect();
            assert_eq!(out[48 + c * 16..48 + (c + 1) * 16], plane[..]);
        }
        // Values checked against the encoded ones, within JPEG's loss at quality 100.
        for (i, &g) in gray.iter().enumerate() {
            assert!(out[i].abs_diff(g) <= 3, "gray pixel {i}: {} vs {g}", out[i]);
        }
        for i in 0..16 {
            for c in 0..3 {
                let (got, want) = (out[48 + c * 16 + i], rgb[3 * i + c]);
                assert!(got.abs_diff(want) <= 6, "rgb pixel {i} channel {c}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn a_wrong_size_or_a_broken_file_names_the_image() {
        let images = [EncodedImage { path: "a/b.JPEG".into(), bytes: jpeg_gray(&[0; 4], 2, 2) }];
        let err = decode_all(&images, 4, 4).unwrap_err().to_string();
        assert!(err.starts_with("a/b.JPEG: image is 2×2, expected 4×4"), "{err}");
        let mut bytes = jpeg_gray(&[0; 16], 4, 4);
        bytes.truncate(bytes.len() / 3);
        let err = decode_all(&[EncodedImage { path: "t.JPEG".into(), bytes }], 4, 4).unwrap_err().to_string();
        assert!(err.starts_with("t.JPEG: not a decodable JPEG"), "{err}");
    }
}
