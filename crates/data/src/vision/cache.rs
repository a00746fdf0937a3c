//! The decoded-dataset cache: one safetensors file per dataset, `<data_dir>/<name>.safetensors`.
//!
//! Tensors: `train_images`, `test_images` uint8 `[N, C, H, W]`; `train_labels`, `test_labels`
//! int64 `[N]`. Metadata: `format` = `phasezoo-vision`, `format_version`, `dataset`, `classes`,
//! `source` (what it was imported from). The file loads in PyTorch with
//! `safetensors.torch.load_file`. It is written streaming through the store's atomic write
//! (the header is built from the `safetensors` crate's own `TensorInfo`), and read back by
//! seeking to each tensor, so a 1.3 GB TinyImageNet cache is never held twice in memory.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use safetensors::tensor::{Metadata, TensorInfo};
use safetensors::Dtype;

use super::{DataError, DatasetName, ImageSet, VisionData};

const FORMAT: &str = "phasezoo-vision";
/// Bumped when the cache layout changes; an older cache is refused with a re-import hint.
const FORMAT_VERSION: &str = "1";
/// The safetensors crate's own header limit.
const MAX_HEADER: u64 = 100_000_000;

/// The cache file of `name` in `data_dir`.
#[must_use]
pub fn cache_path(data_dir: &Path, name: DatasetName) -> PathBuf {
    data_dir.join(format!("{name}.safetensors"))
}

/// `$PHASEZOO_DATA`, else `$XDG_CACHE_HOME/phasezoo/data`, else `~/.cache/phasezoo/data`
/// (`./phasezoo-data` where there is no home either).
#[must_use]
pub fn default_data_dir() -> PathBuf {
    data_dir_from(|name| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from))
}

/// [`default_data_dir`] over an environment lookup, so tests need not touch the process's.
fn data_dir_from(var: impl Fn(&str) -> Option<PathBuf>) -> PathBuf {
    if let Some(dir) = var("PHASEZOO_DATA") {
        return dir;
    }
    if let Some(cache) = var("XDG_CACHE_HOME") {
        return cache.join("phasezoo/data");
    }
    var("HOME").map_or_else(|| PathBuf::from("phasezoo-data"), |home| home.join(".cache/phasezoo/data"))
}

/// The four tensors in file order: int64 first, as the safetensors writer orders by alignment.
const TENSORS: [&str; 4] = ["test_labels", "train_labels", "test_images", "train_images"];

/// Writes `data` to `path` atomically: a reader sees the old cache or the new one, never a mix.
pub(crate) fn write_cache(path: &Path, data: &VisionData, source: &Path) -> Result<(), DataError> {
    let metadata = HashMap::from([
        ("format".to_owned(), FORMAT.to_owned()),
        ("format_version".to_owned(), FORMAT_VERSION.to_owned()),
        ("dataset".to_owned(), data.name.to_string()),
        ("classes".to_owned(), data.classes.to_string()),
        ("source".to_owned(), source.display().to_string()),
    ]);
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), serde_json::to_value(&metadata).expect("strings serialize"));
    let mut offset = 0;
    for name in TENSORS {
        let (set, labels) = split(data, name);
        let (dtype, shape, len) = if labels {
            (Dtype::I64, vec![set.n], 8 * set.n)
        } else {
            (Dtype::U8, vec![set.n, set.channels, set.height, set.width], set.images.len())
        };
        let info = TensorInfo { dtype, shape, data_offsets: (offset, offset + len) };
        header.insert(name.into(), serde_json::to_value(info).expect("tensor info serializes"));
        offset += len;
    }
    let mut header = serde_json::to_vec(&header).expect("JSON map serializes");
    // The format pads the header with spaces to a multiple of 8, keeping int64 data aligned.
    header.resize(header.len().next_multiple_of(8), b' ');
    pz_store::atomic_write_with(path, |w| {
        w.write_all(&(header.len() as u64).to_le_bytes())?;
        w.write_all(&header)?;
        for name in TENSORS {
            let (set, labels) = split(data, name);
            if labels {
                for label in &set.labels {
                    w.write_all(&label.to_le_bytes())?;
                }
            } else {
                w.write_all(&set.images)?;
            }
        }
        Ok(())
    })?;
    Ok(())
}

/// The split a tensor belongs to and whether it is the labels.
fn split<'a>(data: &'a VisionData, tensor: &str) -> (&'a ImageSet, bool) {
    let set = if tensor.starts_with("train") { &data.train } else { &data.test };
    (set, tensor.ends_with("labels"))
}

/// Reads the cache of `name` at `path`, checking it against the dataset's shape and classes.
pub(crate) fn read_cache(path: &Path, name: DatasetName) -> Result<VisionData, DataError> {
    let corrupt = |message: String| DataError::CorruptCache { path: path.to_path_buf(), name, message };
    let mut file = fs_err::File::open(path)?;
    let file_len = file.metadata()?.len();
    let mut len = [0u8; 8];
    file.read_exact(&mut len).map_err(|_| corrupt("shorter than a safetensors header".into()))?;
    let header_len = u64::from_le_bytes(len);
    if header_len > MAX_HEADER || 8 + header_len > file_len {
        return Err(corrupt(format!("header length {header_len} does not fit the {file_len}-byte file")));
    }
    let mut header = vec![0u8; usize::try_from(header_len).expect("at most 100 MB")];
    file.read_exact(&mut header)?;
    let header: Metadata = serde_json::from_slice(&header)
        .map_err(|e| corrupt(format!("not a safetensors file (bad header: {e})")))?;
    let meta = header.metadata().clone().unwrap_or_default();
    let get = |key: &str| meta.get(key).map_or("", String::as_str);
    if get("format") != FORMAT || get("format_version") != FORMAT_VERSION {
        return Err(corrupt(format!(
            "not a phasezoo dataset cache of format version {FORMAT_VERSION} (format `{}`, version `{}`)",
            get("format"),
            get("format_version")
        )));
    }
    if get("dataset") != name.as_str() {
        return Err(corrupt(format!("holds dataset `{}`, not {name}", get("dataset"))));
    }
    let data_len = file_len - 8 - header_len;
    let mut read_tensor = |tensor: &str,
                           dtype: Dtype,
                           rank: usize|
     -> Result<(Vec<usize>, Vec<u8>), DataError> {
        let info = header.info(tensor).ok_or_else(|| corrupt(format!("no tensor `{tensor}`")))?;
        let (start, end) = info.data_offsets;
        let elements = info.shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
        let bytes = elements.and_then(|e| e.checked_mul(dtype.size()));
        if info.dtype != dtype || info.shape.len() != rank || end < start || bytes != Some(end - start) {
            return Err(corrupt(format!(
                "tensor `{tensor}` is {:?} {:?}, expected {dtype:?} of rank {rank}",
                info.dtype, info.shape
            )));
        }
        if end as u64 > data_len {
            return Err(corrupt(format!("tensor `{tensor}` ends at byte {end} of {data_len} (truncated)")));
        }
        file.seek(SeekFrom::Start(8 + header_len + start as u64))?;
        let mut buffer = vec![0u8; end - start];
        file.read_exact(&mut buffer).map_err(|e| corrupt(format!("cannot read tensor `{tensor}`: {e}")))?;
        Ok((info.shape.clone(), buffer))
    };
    let mut read_set = |split: &str| -> Result<ImageSet, DataError> {
        let (shape, images) = read_tensor(&format!("{split}_images"), Dtype::U8, 4)?;
        let (label_shape, labels) = read_tensor(&format!("{split}_labels"), Dtype::I64, 1)?;
        if label_shape[0] != shape[0] {
            return Err(corrupt(format!("{} {split} labels for {} images", label_shape[0], shape[0])));
        }
        let labels =
            labels.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes"))).collect();
        Ok(ImageSet { images, labels, n: shape[0], channels: shape[1], height: shape[2], width: shape[3] })
    };
    let train = read_set("train")?;
    let test = read_set("test")?;
    VisionData::new(name, train, test, path).map_err(|e| match e {
        DataError::Corrupt { message, .. } => corrupt(message),
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> VisionData {
        let set = |n: usize, seed: u8| ImageSet {
            images: (0..n * 784).map(|i| (i as u8).wrapping_add(seed)).collect(),
            labels: (0..n as i64).map(|i| (i * 3) % 10).collect(),
            n,
            channels: 1,
            height: 28,
            width: 28,
        };
        VisionData::new(DatasetName::FashionMnist, set(5, 0), set(3, 100), Path::new("src")).unwrap()
    }

    #[test]
    fn a_cache_round_trips_and_reads_with_the_safetensors_crate() {
        let dir = tempfile::tempdir().unwrap();
        let path = cache_path(dir.path(), DatasetName::FashionMnist);
        assert!(path.ends_with("fashion-mnist.safetensors"));
        let data = small();
        write_cache(&path, &data, Path::new("/from/here")).unwrap();
        assert_eq!(read_cache(&path, DatasetName::FashionMnist).unwrap(), data);

        let bytes = fs_err::read(&path).unwrap();
        let parsed = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let images = parsed.tensor("train_images").unwrap();
        assert_eq!((images.dtype(), images.shape()), (Dtype::U8, &[5usize, 1, 28, 28][..]));
        assert_eq!(images.data(), &data.train.images[..]);
        let labels = parsed.tensor("test_labels").unwrap();
        assert_eq!((labels.dtype(), labels.shape()), (Dtype::I64, &[3usize][..]));
        assert_eq!(labels.data()[8..16], 3i64.to_le_bytes());
        let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        let meta = header.metadata().clone().unwrap();
        assert_eq!(meta["dataset"], "fashion-mnist");
        assert_eq!(meta["classes"], "10");
        assert_eq!(meta["source"], "/from/here");
    }

    #[test]
    fn a_truncated_or_foreign_cache_is_an_error_saying_to_delete_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = cache_path(dir.path(), DatasetName::FashionMnist);
        write_cache(&path, &small(), Path::new("src")).unwrap();
        let bytes = fs_err::read(&path).unwrap();
        for cut in [4, 40, bytes.len() - 1] {
            fs_err::write(&path, &bytes[..cut]).unwrap();
            let err = read_cache(&path, DatasetName::FashionMnist).unwrap_err().to_string();
            assert!(err.starts_with(&format!("{}: ", path.display())), "cut {cut}: {err}");
            assert!(err.contains("hint: delete this file and import again"), "cut {cut}: {err}");
        }
        fs_err::write(&path, &bytes).unwrap();
        let err = read_cache(&path, DatasetName::Cifar10).unwrap_err().to_string();
        assert!(err.contains("holds dataset `fashion-mnist`, not cifar10"), "{err}");
    }

    #[test]
    fn the_data_dir_is_phasezoo_data_then_xdg_cache_then_home() {
        fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<PathBuf> + 'a {
            move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| PathBuf::from(v))
        }
        let all = [("PHASEZOO_DATA", "/d"), ("XDG_CACHE_HOME", "/x"), ("HOME", "/h")];
        assert_eq!(data_dir_from(env(&all)), PathBuf::from("/d"));
        assert_eq!(data_dir_from(env(&all[1..])), PathBuf::from("/x/phasezoo/data"));
        assert_eq!(data_dir_from(env(&all[2..])), PathBuf::from("/h/.cache/phasezoo/data"));
        assert_eq!(data_dir_from(env(&[])), PathBuf::from("phasezoo-data"));
    }
}
