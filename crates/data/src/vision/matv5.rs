//! Numeric arrays out of MATLAB level-5 MAT-files (`save -v7`, what SVHN ships), read as a
//! stream so a 180 MB file is decompressed once and never held twice.
//!
//! The format (MathWorks, "MAT-File Format", matfile_format.pdf, "Level 5"): a 128-byte header (text,
//! subsystem offset, version 0x0100, endian indicator `IM` for little-endian), then data
//! elements, each an 8-byte tag (u32 type, u32 byte count) and its data padded to 8 bytes.
//! A variable is an `miMATRIX` element holding sub-elements: array flags (class in the low
//! byte), dimensions (`miINT32`), name (`miINT8`), real part. `miCOMPRESSED` elements hold one
//! zlib-compressed element and carry no padding. A tag whose upper 16 bits are non-zero is a
//! "small data element": type in the low 16 bits, byte count in the upper, data in the next
//! 4 bytes. The stored type of the real part may be narrower than the class (MATLAB stores a
//! double array of small integers as `miUINT8`); values are converted on access.
//! Only little-endian, real, non-sparse numeric arrays are read; other variables are skipped.
//! MATLAB 7.3 files (HDF5) are refused with a message saying so.

use std::io::{self, Read};
use std::path::Path;

use flate2::read::ZlibDecoder;

use super::DataError;

const HEADER_LEN: usize = 128;
const MI_INT8: u32 = 1;
const MI_UINT8: u32 = 2;
const MI_INT16: u32 = 3;
const MI_UINT16: u32 = 4;
const MI_INT32: u32 = 5;
const MI_UINT32: u32 = 6;
const MI_SINGLE: u32 = 7;
const MI_DOUBLE: u32 = 9;
const MI_INT64: u32 = 12;
const MI_UINT64: u32 = 13;
const MI_MATRIX: u32 = 14;
const MI_COMPRESSED: u32 = 15;
/// mxDOUBLE_CLASS..=mxUINT64_CLASS: the numeric classes.
const NUMERIC_CLASSES: std::ops::RangeInclusive<u8> = 6..=15;
const COMPLEX_FLAG: u32 = 0x0800;

/// One numeric variable: MATLAB dimensions (column-major) and the stored real part.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MatArray {
    /// The variable's name.
    pub name: String,
    /// MATLAB dimensions; element `(i, j, k, …)` is at `i + d0·(j + d1·(k + …))`.
    pub dims: Vec<usize>,
    /// The `mi*` type the values are stored as.
    stored_type: u32,
    /// Little-endian values of `stored_type`, `dims.product()` of them.
    bytes: Vec<u8>,
}

impl MatArray {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.dims.iter().product()
    }

    /// The values as bytes; an error (naming `path`) unless every value is an integer 0..=255.
    pub fn into_u8(self, path: &Path) -> Result<Vec<u8>, DataError> {
        if self.stored_type == MI_UINT8 {
            return Ok(self.bytes);
        }
        let values = self.to_f64();
        values
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                exact_byte(v).ok_or_else(|| {
                    DataError::corrupt(
                        path,
                        format!("variable `{}`: element {i} is {v}, not a byte", self.name),
                    )
                })
            })
            .collect()
    }

    /// The values as f64 (exact for every stored type but 64-bit integers above 2^53).
    #[allow(clippy::cast_precision_loss)] // documented above
    pub fn to_f64(&self) -> Vec<f64> {
        let b = &self.bytes;
        match self.stored_type {
            MI_INT8 => b.iter().map(|&x| f64::from(x as i8)).collect(),
            MI_UINT8 => b.iter().map(|&x| f64::from(x)).collect(),
            MI_INT16 => b.chunks_exact(2).map(|c| f64::from(i16::from_le_bytes([c[0], c[1]]))).collect(),
            MI_UINT16 => b.chunks_exact(2).map(|c| f64::from(u16::from_le_bytes([c[0], c[1]]))).collect(),
            MI_INT32 => {
                b.chunks_exact(4).map(|c| f64::from(i32::from_le_bytes(c.try_into().unwrap()))).collect()
            }
            MI_UINT32 => {
                b.chunks_exact(4).map(|c| f64::from(u32::from_le_bytes(c.try_into().unwrap()))).collect()
            }
            MI_SINGLE => {
                b.chunks_exact(4).map(|c| f64::from(f32::from_le_bytes(c.try_into().unwrap()))).collect()
            }
            MI_DOUBLE => b.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect(),
            MI_INT64 => b.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
            MI_UINT64 => {
                b.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap()) as f64).collect()
            }
            other => unreachable!("stored type {other} is rejected when read"),
        }
    }
}

/// `v` as a byte if it is an integer in 0..=255.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // exact: checked first
fn exact_byte(v: f64) -> Option<u8> {
    (v.fract() == 0.0 && (0.0..=255.0).contains(&v)).then_some(v as u8)
}

/// Reads the numeric variables named in `wanted` from the MAT-file at `path`; others are
/// skipped without being decompressed further than their name. Missing names are an error.
pub(crate) fn read_mat(path: &Path, wanted: &[&str]) -> Result<Vec<MatArray>, DataError> {
    let file = fs_err::File::open(path)?;
    let mut reader = io::BufReader::with_capacity(1 << 20, file);
    let corrupt = |message: String| DataError::corrupt(path, message);
    let mut header = [0u8; HEADER_LEN];
    reader
        .read_exact(&mut header)
        .map_err(|_| corrupt("shorter than a MAT-file header (128 bytes)".into()))?;
    if !header.starts_with(b"MATLAB") {
        return Err(corrupt("not a MATLAB MAT-file (it does not start with `MATLAB`)".into()));
    }
    if &header[126..128] != b"IM" {
        return Err(corrupt(
            "a big-endian MAT-file (or a damaged header); only little-endian files are read".into(),
        ));
    }
    match u16::from_le_bytes([header[124], header[125]]) {
        0x0100 => {}
        0x0200 => return Err(corrupt("a MATLAB 7.3 (HDF5) MAT-file; save it again with -v7".into())),
        v => return Err(corrupt(format!("MAT-file version 0x{v:04x}; only level 5 (0x0100) is read"))),
    }
    let mut found = Vec::new();
    while let Some((kind, len)) = read_tag(&mut reader).map_err(|e| corrupt(describe(&e)))? {
        let mut element = (&mut reader).take(len);
        let array = match kind {
            MI_COMPRESSED => {
                let mut inflated = ZlibDecoder::new(&mut element);
                match read_tag(&mut inflated) {
                    Ok(Some((MI_MATRIX, inner_len))) => read_matrix(&mut inflated.take(inner_len), wanted),
                    Ok(_) => Ok(None), // a compressed element that is not a variable
                    Err(e) => Err(e),
                }
            }
            MI_MATRIX => read_matrix(&mut element, wanted),
            _ => Ok(None),
        }
        .map_err(|e| corrupt(describe(&e)))?;
        // Skip what the matrix reader left (other variables, padding); a short skip is truncation.
        io::copy(&mut element, &mut io::sink()).map_err(|e| corrupt(describe(&e)))?;
        if element.limit() != 0 {
            return Err(corrupt(format!("the file ends inside a {len}-byte element (truncated)")));
        }
        if kind == MI_MATRIX {
            // MATLAB pads a top-level matrix to 8 bytes (its length is a multiple of 8 when the
            // sub-elements are); a missing pad at the very end of the file is harmless.
            io::copy(&mut (&mut reader).take((8 - len % 8) % 8), &mut io::sink())
                .map_err(|e| corrupt(describe(&e)))?;
        }
        found.extend(array);
    }
    for name in wanted {
        if !found.iter().any(|a: &MatArray| a.name == *name) {
            return Err(corrupt(format!("no numeric variable `{name}` in this MAT-file")));
        }
    }
    Ok(found)
}

/// The next tag as (type, byte count); `None` at a clean end of stream.
fn read_tag(r: &mut impl Read) -> io::Result<Option<(u32, u64)>> {
    let mut tag = [0u8; 8];
    let mut got = 0;
    while got < 8 {
        match r.read(&mut tag[got..])? {
            0 if got == 0 => return Ok(None),
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => got += n,
        }
    }
    let kind = u32::from_le_bytes([tag[0], tag[1], tag[2], tag[3]]);
    let len = u32::from_le_bytes([tag[4], tag[5], tag[6], tag[7]]);
    Ok(Some((kind, u64::from(len))))
}

/// One sub-element of a matrix: (type, data), consuming its padding.
fn read_sub_element(r: &mut impl Read) -> io::Result<(u32, Vec<u8>)> {
    let mut tag = [0u8; 8];
    r.read_exact(&mut tag)?;
    let first = u32::from_le_bytes([tag[0], tag[1], tag[2], tag[3]]);
    if first >> 16 != 0 {
        // Small data element: type and length share the first word, data in the second.
        let len = (first >> 16) as usize;
        if len > 4 {
            return Err(invalid(format!("small data element of {len} bytes (at most 4)")));
        }
        return Ok((first & 0xffff, tag[4..4 + len].to_vec()));
    }
    let len = u64::from(u32::from_le_bytes([tag[4], tag[5], tag[6], tag[7]]));
    let data = read_exactly(r, len)?;
    let padding = (8 - len % 8) % 8;
    io::copy(&mut r.take(padding), &mut io::sink())?;
    Ok((first, data))
}

/// The body of an `miMATRIX` element: `Some` if it is a wanted numeric array.
fn read_matrix(r: &mut impl Read, wanted: &[&str]) -> io::Result<Option<MatArray>> {
    let (_, flags) = read_sub_element(r)?;
    let flags = flags.get(..4).map(|f| u32::from_le_bytes([f[0], f[1], f[2], f[3]]));
    let flags = flags.ok_or_else(|| invalid("array flags shorter than 4 bytes".into()))?;
    let (_, dims) = read_sub_element(r)?;
    let dims: Vec<usize> = dims
        .chunks_exact(4)
        .map(|d| usize::try_from(i32::from_le_bytes([d[0], d[1], d[2], d[3]])))
        .collect::<Result<_, _>>()
        .map_err(|_| invalid("a negative dimension".into()))?;
    let (_, name) = read_sub_element(r)?;
    let name = String::from_utf8_lossy(&name).into_owned();
    #[allow(clippy::cast_possible_truncation)] // the class is the low byte by definition
    let class = (flags & 0xff) as u8;
    if !wanted.contains(&name.as_str()) || !NUMERIC_CLASSES.contains(&class) {
        return Ok(None);
    }
    if flags & COMPLEX_FLAG != 0 {
        return Err(invalid(format!("variable `{name}` is complex; only real arrays are read")));
    }
    let mut tag = [0u8; 8];
    r.read_exact(&mut tag)?;
    let first = u32::from_le_bytes([tag[0], tag[1], tag[2], tag[3]]);
    let (stored_type, len, small) = if first >> 16 == 0 {
        (first, u64::from(u32::from_le_bytes([tag[4], tag[5], tag[6], tag[7]])), None)
    } else if first >> 16 <= 4 {
        (first & 0xffff, u64::from(first >> 16), Some(&tag[4..]))
    } else {
        return Err(invalid(format!("variable `{name}`: small data element of {} bytes", first >> 16)));
    };
    let Some(width) = type_width(stored_type) else {
        return Err(invalid(format!("variable `{name}` stored as unsupported type {stored_type}")));
    };
    let count = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d as u64));
    if count.and_then(|c| c.checked_mul(width)) != Some(len) {
        return Err(invalid(format!("variable `{name}`: {len} data bytes for dimensions {dims:?}")));
    }
    let bytes = match small {
        #[allow(clippy::cast_possible_truncation)] // len <= 4, checked above
        Some(data) => data[..len as usize].to_vec(),
        None => read_exactly(r, len)?,
    };
    Ok(Some(MatArray { name, dims, stored_type, bytes }))
}

fn type_width(stored_type: u32) -> Option<u64> {
    match stored_type {
        MI_INT8 | MI_UINT8 => Some(1),
        MI_INT16 | MI_UINT16 => Some(2),
        MI_INT32 | MI_UINT32 | MI_SINGLE => Some(4),
        MI_DOUBLE | MI_INT64 | MI_UINT64 => Some(8),
        _ => None,
    }
}

/// Exactly `len` bytes, growing the buffer as data arrives so a corrupt length cannot
/// allocate gigabytes up front.
fn read_exactly(r: &mut impl Read, len: u64) -> io::Result<Vec<u8>> {
    let mut data = Vec::with_capacity(usize::try_from(len.min(1 << 26)).unwrap_or(0));
    r.take(len).read_to_end(&mut data)?;
    if data.len() as u64 == len {
        Ok(data)
    } else {
        Err(io::ErrorKind::UnexpectedEof.into())
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// An I/O error of the element reader as the error message says it to the user.
fn describe(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => "the file ends early (truncated)".to_owned(),
        // flate2 reports a damaged zlib stream as InvalidInput.
        io::ErrorKind::InvalidInput => format!("damaged compressed data: {e}"),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::fixtures::{mat_file, MatVar};

    fn write(dir: &Path, vars: &[MatVar], compressed: bool) -> std::path::PathBuf {
        let path = dir.join("v.mat");
        fs_err::write(&path, mat_file(vars, compressed)).unwrap();
        path
    }

    #[test]
    fn reads_uint8_and_double_arrays_compressed_or_not() {
        let dir = tempfile::tempdir().unwrap();
        for compressed in [false, true] {
            let vars = [
                MatVar::uint8("X", &[2, 3], &[1, 2, 3, 4, 5, 6]),
                MatVar::double("skipped", &[1, 1], &[0.5]),
                MatVar::double("y", &[3, 1], &[10.0, 1.0, 2.5]),
            ];
            let path = write(dir.path(), &vars, compressed);
            let arrays = read_mat(&path, &["X", "y"]).unwrap();
            assert_eq!(arrays.len(), 2);
            assert_eq!((arrays[0].name.as_str(), arrays[0].dims.clone()), ("X", vec![2, 3]));
            assert_eq!(arrays[0].clone().into_u8(&path).unwrap(), vec![1, 2, 3, 4, 5, 6]);
            assert_eq!(arrays[1].to_f64(), vec![10.0, 1.0, 2.5]);
            assert_eq!(arrays[1].len(), 3);
            let err = arrays[1].clone().into_u8(&path).unwrap_err().to_string();
            assert!(err.contains("variable `y`: element 2 is 2.5, not a byte"), "{err}");
        }
    }

    #[test]
    fn a_double_class_stored_as_uint8_reads_as_its_values() {
        let dir = tempfile::tempdir().unwrap();
        let var =
            MatVar { stored_type: MI_UINT8, ..MatVar::double("y", &[2, 1], &[]) }.with_bytes(vec![10, 3]);
        let path = write(dir.path(), &[var], true);
        let arrays = read_mat(&path, &["y"]).unwrap();
        assert_eq!(arrays[0].to_f64(), vec![10.0, 3.0]);
    }

    #[test]
    fn a_missing_variable_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), &[MatVar::uint8("X", &[1, 1], &[1])], false);
        let err = read_mat(&path, &["X", "y"]).unwrap_err().to_string();
        assert!(err.starts_with(&format!("{}: no numeric variable `y`", path.display())), "{err}");
    }

    #[test]
    fn truncated_files_are_errors_compressed_or_not() {
        let dir = tempfile::tempdir().unwrap();
        for compressed in [false, true] {
            let bytes = mat_file(&[MatVar::uint8("X", &[40, 40], &[9; 1600])], compressed);
            let path = dir.path().join("t.mat");
            for cut in [100, 140, bytes.len() - 20] {
                fs_err::write(&path, &bytes[..cut]).unwrap();
                let err = read_mat(&path, &["X"]).unwrap_err().to_string();
                assert!(err.starts_with(&format!("{}: ", path.display())), "cut {cut}: {err}");
            }
        }
    }

    #[test]
    fn a_wrong_magic_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.mat");
        fs_err::write(&path, [b'x'; 200]).unwrap();
        let err = read_mat(&path, &["X"]).unwrap_err().to_string();
        assert!(err.contains("not a MATLAB MAT-file"), "{err}");
        let mut big_endian = mat_file(&[], false);
        big_endian[126..128].copy_from_slice(b"MI");
        fs_err::write(&path, big_endian).unwrap();
        assert!(read_mat(&path, &[]).unwrap_err().to_string().contains("big-endian"));
    }
}
