//! The zip container of torch ≥ 1.6 (torch/serialization.py `_save`): one folder (named after
//! the file, `archive` for buffers) holding `data.pkl`, `byteorder`, `version` and one
//! `data/<key>` record of raw bytes per storage.

use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use zip::read::ZipFile;
use zip::{CompressionMethod, ZipArchive};

use super::StorageSource;
use crate::pickle::{decode, Value};
use crate::{Error, Result};

type Archive = ZipArchive<BufReader<fs_err::File>>;

/// Bytes read at a time: the zip reader's CRC then runs over bytes still in the CPU's cache.
const CHUNK: usize = 256 << 10;

/// The decoded `data.pkl` and the archive's storage records.
pub(super) fn open(path: &Path) -> Result<(Value, Box<dyn StorageSource>)> {
    let file = fs_err::File::open(path)?;
    let file_len = file.metadata()?.len();
    let mut archive = ZipArchive::new(BufReader::new(file))
        .map_err(|source| Error::Zip { path: path.to_owned(), source })?;
    let prefix = archive_folder(path, &archive)?;
    let corrupt = |message: String| Error::Corrupt { path: path.to_owned(), message };
    let pickle_name = format!("{prefix}/data.pkl");
    let pickle = read_record(path, &mut archive, &pickle_name, file_len, file_len)?
        .ok_or_else(|| corrupt(format!("no `{pickle_name}` record")))?;
    let big_endian = match read_record(path, &mut archive, &format!("{prefix}/byteorder"), 16, file_len)? {
        None => false, // torch before 1.12 wrote no record and only little-endian files
        Some(order) if order == b"little" => false,
        Some(order) if order == b"big" => true,
        Some(order) => {
            return Err(corrupt(format!("byteorder record says {:?}", String::from_utf8_lossy(&order))))
        }
    };
    let (value, _) = decode(&pickle).map_err(|e| Error::pickle(path.to_owned(), e))?;
    let source = ZipStorages { path: path.to_owned(), archive, prefix, file_len, big_endian };
    Ok((value, Box::new(source)))
}

/// Torch names the folder after the file (`checkpoints/`) or `archive/`; the reader takes the
/// first record's folder, as torch's `PyTorchStreamReader` does.
fn archive_folder(path: &Path, archive: &Archive) -> Result<String> {
    let first = archive.file_names().next().unwrap_or_default();
    match first.split_once('/') {
        Some((folder, _)) if !folder.is_empty() => Ok(folder.to_owned()),
        _ => Err(Error::Corrupt {
            path: path.to_owned(),
            message: format!("first record `{first}` is not in a folder"),
        }),
    }
}

/// A record's bytes, or `None` when absent. Refuses records larger than `limit` bytes before
/// reading ([`checked_size`]).
fn read_record(
    path: &Path,
    archive: &mut Archive,
    name: &str,
    limit: u64,
    file_len: u64,
) -> Result<Option<Vec<u8>>> {
    let mut record = match archive.by_name(name) {
        Ok(record) => record,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(source) => return Err(Error::Zip { path: path.to_owned(), source }),
    };
    let size = checked_size(path, &record, name, limit, file_len)?;
    let mut data = vec![0; size];
    read_exactly(path, &mut record, name, &mut data)?;
    Ok(Some(data))
}

/// A record's declared size, refused when larger than `limit`; a stored (uncompressed) record is
/// also checked to lie inside the file, so its declared size bounds an allocation by what is
/// really on disk.
fn checked_size(path: &Path, record: &ZipFile<'_>, name: &str, limit: u64, file_len: u64) -> Result<usize> {
    let corrupt = |message: String| Error::Corrupt { path: path.to_owned(), message };
    let size = record.size();
    if size > limit {
        return Err(corrupt(format!(
            "record `{name}` declares {size} bytes, more than the {limit} expected"
        )));
    }
    if record.compression() == CompressionMethod::Stored {
        let inside = record.compressed_size() == size
            && record.data_start().checked_add(size).is_some_and(|end| end <= file_len);
        if !inside {
            return Err(corrupt(format!("record `{name}` claims more bytes than the file holds")));
        }
    }
    usize::try_from(size).map_err(|_| corrupt(format!("record `{name}` too large")))
}

/// Fill `dest` (the record's declared size) from the record, a chunk at a time, then read once
/// more: the record must end there (a deflate stream that inflates past its declared size is
/// refused), and only that read, at the record's end, makes zip compare the CRC.
fn read_exactly(path: &Path, record: &mut ZipFile<'_>, name: &str, dest: &mut [u8]) -> Result<()> {
    let corrupt = |message: String| Error::Corrupt { path: path.to_owned(), message };
    let len = dest.len();
    for chunk in dest.chunks_mut(CHUNK) {
        record.read_exact(chunk).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => {
                corrupt(format!("record `{name}` holds fewer than its {len} bytes"))
            }
            _ => corrupt(format!("record `{name}`: {e}")),
        })?;
    }
    match record.read(&mut [0u8; 1]) {
        Ok(0) => Ok(()),
        Ok(_) => Err(corrupt(format!("record `{name}` holds more than its {len} bytes"))),
        // zip's only error here: "Invalid checksum".
        Err(e) => Err(corrupt(format!("record `{name}`: {e} (damaged?)"))),
    }
}

struct ZipStorages {
    path: PathBuf,
    archive: Archive,
    prefix: String,
    file_len: u64,
    big_endian: bool,
}

impl ZipStorages {
    fn record(&mut self, key: &str) -> Result<(String, ZipFile<'_>)> {
        let name = format!("{}/data/{key}", self.prefix);
        match self.archive.by_name(&name) {
            Ok(record) => Ok((name, record)),
            Err(zip::result::ZipError::FileNotFound) => Err(Error::Corrupt {
                path: self.path.clone(),
                message: format!("storage record `{name}` is missing"),
            }),
            Err(source) => Err(Error::Zip { path: self.path.clone(), source }),
        }
    }
}

impl StorageSource for ZipStorages {
    fn storage_len(&mut self, key: &str, needed: u64) -> Result<u64> {
        let (path, file_len) = (self.path.clone(), self.file_len);
        let (name, record) = self.record(key)?;
        let size = record.size();
        if size < needed {
            return Err(Error::StorageTooShort { path, key: key.into(), expected: needed, got: size });
        }
        checked_size(&path, &record, &name, file_len, file_len)?;
        Ok(size)
    }

    fn read_storage(&mut self, key: &str, dest: &mut [u8]) -> Result<()> {
        let path = self.path.clone();
        let (name, mut record) = self.record(key)?;
        // `storage_len` checked this record; the same archive cannot have changed.
        assert_eq!(record.size(), dest.len() as u64, "room for `{name}` is its checked size");
        read_exactly(&path, &mut record, &name, dest)
    }

    fn big_endian(&self) -> bool {
        self.big_endian
    }
}

#[cfg(test)]
mod tests {
    use crate::{read_state_dict, write_state_dict, Dtype, Error, Tensor};

    #[test]
    fn a_storage_record_with_a_flipped_byte_fails_its_crc_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoints");
        let data: Vec<u8> = (0..=255).collect();
        let tensor = Tensor { name: "w".into(), dtype: Dtype::U8, shape: vec![256], data: data.clone() };
        write_state_dict(&path, &[tensor]).unwrap();
        assert_eq!(read_state_dict(&path).unwrap()[0].data, data);
        // Torch stores records uncompressed: the tensor's bytes lie in the file as they are.
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.windows(data.len()).position(|w| w == data.as_slice()).unwrap();
        bytes[at + 100] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        match read_state_dict(&path) {
            Err(e @ Error::Corrupt { .. }) => {
                let text = e.to_string();
                assert!(text.contains("checkpoints: record `checkpoints/data/0`"), "{text}");
                assert!(text.contains("Invalid checksum"), "{text}");
            }
            other => panic!("expected a failed CRC, got {other:?}"),
        }
    }
}
