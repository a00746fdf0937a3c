//! IDX files, the MNIST format: two zero bytes, a type byte (0x08 = uint8), the number of
//! dimensions, each dimension as a big-endian u32, then the data row-major.
//! Plain and gzip-compressed files are both read; gzip is recognised by its magic bytes, not
//! the file name. Reference: <http://yann.lecun.com/exdb/mnist/> ("FILE FORMATS").

use std::io::Read;
use std::path::Path;

use flate2::read::GzDecoder;

use super::DataError;

/// A decoded IDX array of uint8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdxArray {
    /// Dimensions, outermost first.
    pub dims: Vec<usize>,
    /// Row-major data, `dims.product()` bytes.
    pub data: Vec<u8>,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const UBYTE: u8 = 0x08;

/// Reads an IDX file, plain or gzip-compressed.
pub(crate) fn read_idx(path: &Path) -> Result<IdxArray, DataError> {
    let raw = fs_err::read(path)?;
    if raw.starts_with(&GZIP_MAGIC) {
        let mut bytes = Vec::new();
        GzDecoder::new(raw.as_slice())
            .read_to_end(&mut bytes)
            .map_err(|e| DataError::corrupt(path, format!("gzip stream is damaged or truncated: {e}")))?;
        decode_idx(path, &bytes)
    } else {
        decode_idx(path, &raw)
    }
}

/// Parses IDX bytes (already decompressed); `path` names the file in errors.
pub(crate) fn decode_idx(path: &Path, bytes: &[u8]) -> Result<IdxArray, DataError> {
    let corrupt = |message: String| DataError::corrupt(path, message);
    let &[0, 0, kind, ndims, ..] = bytes else {
        return Err(corrupt(format!(
            "not an IDX file: it starts with {:02x?}, IDX files start with 00 00 08 <dims>",
            &bytes[..bytes.len().min(4)]
        )));
    };
    if kind != UBYTE {
        return Err(corrupt(format!("IDX element type 0x{kind:02x}; only uint8 (0x08) is read")));
    }
    let header_len = 4 + 4 * usize::from(ndims);
    let header = bytes.get(4..header_len).ok_or_else(|| {
        corrupt(format!(
            "the header promises {ndims} dimensions but the file ends after {} bytes",
            bytes.len()
        ))
    })?;
    let dims: Vec<usize> =
        header.chunks_exact(4).map(|d| u32::from_be_bytes([d[0], d[1], d[2], d[3]]) as usize).collect();
    let expected = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let data = &bytes[header_len..];
    if expected != Some(data.len()) {
        return Err(corrupt(format!(
            "the header says {dims:?} ({} bytes of data) but the file holds {} bytes of data{}",
            expected.map_or_else(|| "too many".to_owned(), |e| e.to_string()),
            data.len(),
            if expected.is_some_and(|e| e > data.len()) { " (truncated)" } else { "" }
        )));
    }
    Ok(IdxArray { dims, data: data.to_vec() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::fixtures::{gzip, idx_bytes};

    #[test]
    fn reads_plain_and_gzipped_files_alike() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = idx_bytes(&[2, 3], &[1, 2, 3, 4, 5, 6]);
        fs_err::write(dir.path().join("a"), &bytes).unwrap();
        fs_err::write(dir.path().join("a.gz"), gzip(&bytes)).unwrap();
        for name in ["a", "a.gz"] {
            let array = read_idx(&dir.path().join(name)).unwrap();
            assert_eq!(array, IdxArray { dims: vec![2, 3], data: vec![1, 2, 3, 4, 5, 6] });
        }
    }

    #[test]
    fn a_truncated_file_is_an_error_naming_it() {
        let bytes = idx_bytes(&[2, 3], &[1, 2, 3, 4, 5, 6]);
        let err = decode_idx(Path::new("x/train-images-idx3-ubyte"), &bytes[..bytes.len() - 1])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("x/train-images-idx3-ubyte: the header says [2, 3]"), "{err}");
        assert!(err.contains("(truncated)"), "{err}");
        let err = decode_idx(Path::new("f"), &bytes[..9]).unwrap_err().to_string();
        assert!(err.contains("promises 2 dimensions"), "{err}");
    }

    #[test]
    fn a_wrong_magic_is_an_error() {
        let err = decode_idx(Path::new("f"), b"PK\x03\x04rest").unwrap_err().to_string();
        assert!(err.contains("not an IDX file"), "{err}");
        let err = decode_idx(Path::new("f"), &[0, 0, 0x0d, 1, 0, 0, 0, 0]).unwrap_err().to_string();
        assert!(err.contains("element type 0x0d"), "{err}");
    }

    #[test]
    fn a_truncated_gzip_stream_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let gz = gzip(&idx_bytes(&[64], &[7; 64]));
        let path = dir.path().join("t.gz");
        fs_err::write(&path, &gz[..gz.len() / 2]).unwrap();
        let err = read_idx(&path).unwrap_err().to_string();
        assert!(err.starts_with(&format!("{}: gzip stream", path.display())), "{err}");
    }
}
