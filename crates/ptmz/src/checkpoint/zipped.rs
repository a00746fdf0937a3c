//! The zip container of torch ≥ 1.6 (torch/serialization.py `_save`): one folder (named after
//! the file, `archive` for buffers) holding `data.pkl`, `byteorder`, `version` and one
//! `data/<key>` record of raw bytes per storage.

use std::io::{BufReader, Read};
use std::path::Path;

use zip::{CompressionMethod, ZipArchive};

use super::{tensors_of, StorageSource};
use crate::pickle::decode;
use crate::tensor::Tensor;
use crate::{Error, Result};

type Archive = ZipArchive<BufReader<fs_err::File>>;

pub(super) fn read(path: &Path) -> Result<Vec<Tensor>> {
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
    let mut source = ZipStorages { path, archive, prefix, file_len, big_endian };
    let (value, _) = decode(&pickle).map_err(|e| Error::pickle(path.to_owned(), e))?;
    tensors_of(path, &value, &mut source)
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
/// reading; a stored (uncompressed) record is also checked to lie inside the file, so its
/// declared size bounds the allocation by what is really on disk.
fn read_record(
    path: &Path,
    archive: &mut Archive,
    name: &str,
    limit: u64,
    file_len: u64,
) -> Result<Option<Vec<u8>>> {
    let corrupt = |message: String| Error::Corrupt { path: path.to_owned(), message };
    let mut record = match archive.by_name(name) {
        Ok(record) => record,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(source) => return Err(Error::Zip { path: path.to_owned(), source }),
    };
    let size = record.size();
    if size > limit {
        return Err(corrupt(format!(
            "record `{name}` declares {size} bytes, more than the {limit} expected"
        )));
    }
    let mut data = Vec::new();
    if record.compression() == CompressionMethod::Stored {
        let inside = record.compressed_size() == size
            && record.data_start().checked_add(size).is_some_and(|end| end <= file_len);
        if !inside {
            return Err(corrupt(format!("record `{name}` claims more bytes than the file holds")));
        }
        data.reserve_exact(usize::try_from(size).map_err(|_| corrupt(format!("record `{name}` too large")))?);
    }
    // Through `take` so a record whose deflate stream inflates past its declared size is
    // cut off; zip checks the CRC when the whole record has been read.
    record
        .by_ref()
        .take(size)
        .read_to_end(&mut data)
        .map_err(|e| corrupt(format!("record `{name}`: {e}")))?;
    if data.len() as u64 != size {
        return Err(corrupt(format!("record `{name}` holds {} of its {size} bytes", data.len())));
    }
    Ok(Some(data))
}

struct ZipStorages<'a> {
    path: &'a Path,
    archive: Archive,
    prefix: String,
    file_len: u64,
    big_endian: bool,
}

impl StorageSource for ZipStorages<'_> {
    fn storage(&mut self, key: &str, needed: u64) -> Result<Vec<u8>> {
        let name = format!("{}/data/{key}", self.prefix);
        let size = match self.archive.by_name(&name) {
            Ok(record) => record.size(),
            Err(zip::result::ZipError::FileNotFound) => {
                return Err(Error::Corrupt {
                    path: self.path.to_owned(),
                    message: format!("storage record `{name}` is missing"),
                })
            }
            Err(source) => return Err(Error::Zip { path: self.path.to_owned(), source }),
        };
        if size < needed {
            return Err(Error::StorageTooShort {
                path: self.path.to_owned(),
                key: key.into(),
                expected: needed,
                got: size,
            });
        }
        let data = read_record(self.path, &mut self.archive, &name, self.file_len, self.file_len)?;
        Ok(data.expect("the record was just found"))
    }

    fn big_endian(&self) -> bool {
        self.big_endian
    }
}
