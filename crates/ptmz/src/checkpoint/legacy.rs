//! The legacy format (torch < 1.6, or `_use_new_zipfile_serialization=False`;
//! torch/serialization.py `_legacy_save`): five pickles back to back (magic number, protocol
//! version, system info, the object, the sorted storage keys), then per key an 8-byte
//! little-endian element count and the storage's raw bytes.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::StorageSource;
use crate::pickle::{decode, Value};
use crate::{Error, Result};

/// `MAGIC_NUMBER` of torch/serialization.py, 0x1950a86a20f9469cfc6c, as LONG1 pickles it.
const MAGIC: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
/// `PROTOCOL_VERSION` of the legacy format.
const PROTOCOL_VERSION: i64 = 1001;

/// The decoded state-dict pickle and the file's storage records.
pub(super) fn open(path: &Path) -> Result<(Value, Box<dyn StorageSource>)> {
    let data = fs_err::read(path)?;
    let corrupt = |message: &str| Error::Corrupt { path: path.to_owned(), message: message.to_owned() };
    let mut pos = 0;
    let mut next = |what: &str| -> Result<(Value, Range<usize>)> {
        let (value, used) = decode(&data[pos..]).map_err(|e| match e {
            // Before the magic number is confirmed, any failure means "not a checkpoint".
            _ if pos == 0 => {
                corrupt("neither a torch zip checkpoint nor the legacy format (no magic number)")
            }
            e => Error::pickle(path.to_owned(), e),
        })?;
        let range = pos..pos + used;
        pos += used;
        if range.is_empty() {
            return Err(corrupt(&format!("empty {what} pickle")));
        }
        Ok((value, range))
    };
    match next("magic")?.0 {
        Value::BigInt(bytes) if *bytes == MAGIC => {}
        _ => {
            return Err(corrupt("neither a torch zip checkpoint nor the legacy format (wrong magic number)"))
        }
    }
    if !matches!(next("protocol")?.0, Value::Int(PROTOCOL_VERSION)) {
        return Err(corrupt("legacy format with an unknown protocol version (expected 1001)"));
    }
    if !little_endian(&next("sys_info")?.0) {
        return Err(corrupt("written on a big-endian machine, which this reader does not support"));
    }
    let (object, _) = next("state dict")?;
    let (keys, _) = next("storage keys")?;
    let keys = storage_keys(&keys).ok_or_else(|| corrupt("the storage key list is not a list of str"))?;
    let records_start = pos;
    let source = LegacyStorages { path: path.to_owned(), data, records_start, keys, index: HashMap::new() };
    Ok((object, Box::new(source)))
}

fn little_endian(sys_info: &Value) -> bool {
    let Value::Dict(items) = sys_info else { return false };
    let items = items.borrow();
    items.iter().any(|(k, v)| matches!((k, v), (Value::Str(k), Value::Bool(true)) if &**k == "little_endian"))
}

fn storage_keys(keys: &Value) -> Option<Vec<Rc<str>>> {
    let Value::List(items) = keys else { return None };
    let items = items.borrow();
    items.iter().map(|k| if let Value::Str(k) = k { Some(k.clone()) } else { None }).collect()
}

struct LegacyStorages {
    path: PathBuf,
    /// The whole file.
    data: Vec<u8>,
    records_start: usize,
    keys: Vec<Rc<str>>,
    /// Byte range of each storage's raw bytes, filled by `index`.
    index: HashMap<Rc<str>, Range<usize>>,
}

impl StorageSource for LegacyStorages {
    /// Walk the records in key order. Each header counts elements, so the element size of
    /// every listed storage must be known from the pickle before the next record can be found.
    fn index(&mut self, units: &HashMap<Rc<str>, u64>) -> Result<()> {
        let corrupt = |message: String| Error::Corrupt { path: self.path.to_owned(), message };
        let mut pos = self.records_start;
        for key in &self.keys {
            let unit = *units
                .get(key)
                .ok_or_else(|| corrupt(format!("storage `{key}` is listed but no tensor uses it")))?;
            let header = self
                .data
                .get(pos..pos + 8)
                .ok_or_else(|| corrupt(format!("storage `{key}`: file ends before its header")))?;
            let numel = u64::from_le_bytes(header.try_into().expect("8 bytes"));
            pos += 8;
            let left = (self.data.len() - pos) as u64;
            let bytes = numel.checked_mul(unit).filter(|&b| b <= left).ok_or(Error::StorageTooShort {
                path: self.path.to_owned(),
                key: key.to_string(),
                expected: numel.saturating_mul(unit),
                got: left,
            })?;
            let end = pos + usize::try_from(bytes).expect("bounded by the file length");
            self.index.insert(key.clone(), pos..end);
            pos = end;
        }
        Ok(())
    }

    fn storage_len(&mut self, key: &str, needed: u64) -> Result<u64> {
        let range = self.index.get(key).ok_or_else(|| Error::Corrupt {
            path: self.path.to_owned(),
            message: format!("storage `{key}` is not in the storage key list"),
        })?;
        let got = range.len() as u64;
        if got < needed {
            return Err(Error::StorageTooShort {
                path: self.path.to_owned(),
                key: key.into(),
                expected: needed,
                got,
            });
        }
        Ok(got)
    }

    fn read_storage(&mut self, key: &str, dest: &mut [u8]) -> Result<()> {
        // `storage_len` found the key.
        dest.copy_from_slice(&self.data[self.index[key].clone()]);
        Ok(())
    }
}
