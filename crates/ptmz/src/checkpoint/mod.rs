//! `torch.save` checkpoints: read (zip container or the legacy format) without executing
//! anything, and write (zip container).
//!
//! Reading is three steps, in this order so that a hostile file is stopped before any storage
//! is touched: decode the whole pickle (globals checked against the allow-list), turn the
//! decoded mapping into named views and check each view against its storage's declared size,
//! then read the storages and copy the views out.

mod legacy;
mod write;
mod zipped;

use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

pub use write::{write_state_dict, write_state_dict_to};

use crate::pickle::{TensorRef, Value};
use crate::tensor::{gather, layout, swap_bytes, Layout, LayoutError, Tensor};
use crate::{Error, Result};

/// Read the state dict `torch.save` wrote to `path`, in the file's order.
///
/// Accepts the zip container of torch ≥ 1.6 (any archive folder name) and the legacy format
/// (`_use_new_zipfile_serialization=False`). The top-level object must be a `dict` or
/// `collections.OrderedDict` of tensors (or `nn.Parameter`s); views are copied out contiguous,
/// honouring strides and storage offsets. Key prefixes are kept; see
/// [`strip_module_prefix`](crate::strip_module_prefix).
///
/// # Errors
/// [`Error::RefusedGlobal`] for any global outside the allow-list (naming the file and the
/// global), [`Error::UnsupportedDtype`], [`Error::BadTensor`] for views that do not fit their
/// storage, [`Error::StorageTooShort`], [`Error::Zip`] for a truncated container, and
/// [`Error::Pickle`]/[`Error::Corrupt`]/[`Error::NotAStateDict`] for anything else torch would
/// not have written.
pub fn read_state_dict(path: &Path) -> Result<Vec<Tensor>> {
    let mut file = fs_err::File::open(path)?;
    let mut magic = [0u8; 4];
    let n = std::io::Read::read(&mut file, &mut magic)?;
    drop(file);
    if n == 4 && magic == *b"PK\x03\x04" {
        zipped::read(path)
    } else {
        legacy::read(path)
    }
}

/// Where a decoded state dict's storages come from: each format's reader implements this.
pub(crate) trait StorageSource {
    /// Called once before any `storage`, with each storage key's bytes per declared element.
    fn index(&mut self, _units: &HashMap<Rc<str>, u64>) -> Result<()> {
        Ok(())
    }
    /// The bytes of storage `key`, at least `needed` long (checked before reading).
    fn storage(&mut self, key: &str, needed: u64) -> Result<Vec<u8>>;
    /// Whether the stored elements are big-endian (zip `byteorder` record says `big`).
    fn big_endian(&self) -> bool {
        false
    }
}

/// Steps two and three of [`read_state_dict`], shared by both formats.
pub(crate) fn tensors_of(path: &Path, value: &Value, source: &mut dyn StorageSource) -> Result<Vec<Tensor>> {
    let entries = entries_of(path, value)?;
    let layouts = entries
        .iter()
        .map(|(name, tensor)| checked_layout(path, name, tensor))
        .collect::<Result<Vec<Layout>>>()?;
    // Each storage is read once, at the largest extent any view declares for it.
    let mut needed: HashMap<Rc<str>, u64> = HashMap::new();
    let mut units: HashMap<Rc<str>, u64> = HashMap::new();
    for (_, tensor) in &entries {
        let unit = tensor.storage.kind.unit_size().unwrap_or(1) as u64;
        units.insert(tensor.storage.key.clone(), unit);
        let extent = tensor.storage.view_offset.saturating_add(tensor.storage.numel).saturating_mul(unit);
        let slot = needed.entry(tensor.storage.key.clone()).or_default();
        *slot = (*slot).max(extent);
    }
    source.index(&units)?;
    let mut storages: HashMap<Rc<str>, Vec<u8>> = HashMap::new();
    let mut tensors = Vec::with_capacity(entries.len());
    for ((name, tensor), layout) in entries.iter().zip(layouts) {
        let key = &tensor.storage.key;
        if !storages.contains_key(key) {
            let bytes = source.storage(key, needed[key])?;
            storages.insert(key.clone(), bytes);
        }
        let mut data = gather(&layout, &storages[key]);
        if source.big_endian() {
            swap_bytes(&mut data, layout.dtype.size());
        }
        tensors.push(Tensor { name: name.clone(), dtype: layout.dtype, shape: layout.shape, data });
    }
    Ok(tensors)
}

/// The top-level mapping as (name, view) in file order; a repeated key keeps its first
/// position and last value, as a Python dict does.
fn entries_of(path: &Path, value: &Value) -> Result<Vec<(String, Rc<TensorRef>)>> {
    let not_a_state_dict = |message: String| Error::NotAStateDict { path: path.to_owned(), message };
    let Value::Dict(items) = value else {
        return Err(not_a_state_dict(format!("the checkpoint holds a {}, not a dict", value.kind())));
    };
    let mut entries: Vec<(String, Rc<TensorRef>)> = Vec::new();
    let mut position: HashMap<String, usize> = HashMap::new();
    for (key, value) in items.borrow().iter() {
        let Value::Str(name) = key else {
            return Err(not_a_state_dict(format!("a key is a {}, not a str", key.kind())));
        };
        let Value::Tensor(tensor) = value else {
            return Err(not_a_state_dict(format!("`{name}` is a {}, not a tensor", value.kind())));
        };
        match position.get(&**name) {
            Some(&i) => entries[i].1 = tensor.clone(),
            None => {
                position.insert(name.to_string(), entries.len());
                entries.push((name.to_string(), tensor.clone()));
            }
        }
    }
    Ok(entries)
}

fn checked_layout(path: &Path, name: &str, tensor: &TensorRef) -> Result<Layout> {
    layout(tensor).map_err(|e| match e {
        LayoutError::Unsupported(dtype) => {
            Error::UnsupportedDtype { path: path.to_owned(), tensor: name.into(), dtype }
        }
        LayoutError::Bad(message) => Error::BadTensor { path: path.to_owned(), tensor: name.into(), message },
    })
}
