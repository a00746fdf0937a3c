//! `torch.save` checkpoints: read (zip container or the legacy format) without executing
//! anything, and write (zip container).
//!
//! Reading is three steps, in this order so that a hostile file is stopped before any storage
//! is touched: decode the whole pickle (globals checked against the allow-list), turn the
//! decoded mapping into named views, check each view against its storage's declared size and
//! each storage record against the views ([`StateDictFile::open`]), then read the storages
//! into room the caller made for the views ([`StateDictFile::read_into`]: the importer's is its
//! safetensors file, so a contiguous tensor's bytes are copied once, from the page cache).

mod legacy;
mod write;
mod zipped;

use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

pub use write::{write_state_dict, write_state_dict_to};

use crate::pickle::{TensorRef, Value};
use crate::tensor::{gather_into, is_whole, layout, swap_bytes, Layout, LayoutError, Tensor};
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
/// not have written (a zip record that fails its CRC included).
pub fn read_state_dict(path: &Path) -> Result<Vec<Tensor>> {
    let mut file = StateDictFile::open(path)?;
    // Each view fits a storage record checked to lie in the file, so these sizes are bounded.
    let mut data: Vec<Vec<u8>> =
        file.views.iter().map(|v| vec![0; v.layout.numel * v.layout.dtype.size()]).collect();
    file.read_into(&mut data, &mut Vec::new())?;
    Ok(file
        .views
        .into_iter()
        .zip(data)
        .map(|(v, data)| Tensor { name: v.name, dtype: v.layout.dtype, shape: v.layout.shape, data })
        .collect())
}

/// Where a decoded state dict's storages come from: each format's reader implements this.
pub(crate) trait StorageSource {
    /// Called once before any `storage_len`, with each storage key's bytes per declared element.
    fn index(&mut self, _units: &HashMap<Rc<str>, u64>) -> Result<()> {
        Ok(())
    }
    /// The byte length of storage `key`, checked to be at least `needed` and to lie in the
    /// file, before anything of it is read.
    fn storage_len(&mut self, key: &str, needed: u64) -> Result<u64>;
    /// Read storage `key` whole into `dest`, [`storage_len`](Self::storage_len) bytes long,
    /// with the container's own checks (the zip CRC).
    fn read_storage(&mut self, key: &str, dest: &mut [u8]) -> Result<()>;
    /// Whether the stored elements are big-endian (zip `byteorder` record says `big`).
    fn big_endian(&self) -> bool {
        false
    }
}

/// Where the elements of each view go: view `i`'s slot is exactly its `numel × dtype size`
/// bytes.
pub(crate) trait TensorSlots {
    fn slot(&mut self, view: usize) -> &mut [u8];
}

impl TensorSlots for Vec<Vec<u8>> {
    fn slot(&mut self, view: usize) -> &mut [u8] {
        &mut self[view]
    }
}

/// One state-dict entry of a checkpoint, checked to fit its storage.
pub(crate) struct View {
    /// The state-dict key.
    pub(crate) name: String,
    pub(crate) layout: Layout,
}

/// One storage record: its key, its length in bytes, and the views (indices) that read it.
struct Storage {
    key: Rc<str>,
    len: usize,
    views: Vec<usize>,
}

/// A checkpoint decoded and checked, its storages not yet read: steps one and two of
/// [`read_state_dict`], so that a caller sees, and can check, every name, dtype and shape
/// before it makes room for the bytes.
pub(crate) struct StateDictFile {
    /// In the file's order.
    pub(crate) views: Vec<View>,
    storages: Vec<Storage>,
    source: Box<dyn StorageSource>,
}

impl StateDictFile {
    /// Decode `path`'s pickle (globals checked against the allow-list), check every view
    /// against its storage's declared size, then find every storage record and check that it
    /// holds at least that many bytes.
    ///
    /// # Errors
    /// As [`read_state_dict`], but for the zip's CRC, which is checked as the bytes are read.
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let mut file = fs_err::File::open(path)?;
        let mut magic = [0u8; 4];
        let n = std::io::Read::read(&mut file, &mut magic)?;
        drop(file);
        let (value, mut source) =
            if n == 4 && magic == *b"PK\x03\x04" { zipped::open(path)? } else { legacy::open(path)? };
        let entries = entries_of(path, &value)?;
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
        let mut storages: Vec<Storage> = Vec::new();
        let mut position: HashMap<Rc<str>, usize> = HashMap::new();
        let mut views = Vec::with_capacity(entries.len());
        for (i, ((name, tensor), layout)) in entries.into_iter().zip(layouts).enumerate() {
            let key = &tensor.storage.key;
            if let Some(&s) = position.get(key) {
                storages[s].views.push(i);
            } else {
                let len = source.storage_len(key, needed[key])?;
                let len = usize::try_from(len).map_err(|_| Error::Corrupt {
                    path: path.to_owned(),
                    message: format!("storage `{key}` is too large for this machine"),
                })?;
                position.insert(key.clone(), storages.len());
                storages.push(Storage { key: key.clone(), len, views: vec![i] });
            }
            views.push(View { name, layout });
        }
        Ok(Self { views, storages, source })
    }

    /// Step three: read every storage once and put each view's elements, row-major and
    /// little-endian, into its slot. A storage that is exactly one contiguous view (what
    /// `torch.save(model.state_dict())` writes) is read straight into that view's slot; others
    /// are read into `scratch` (grown as needed, for reuse) and their views gathered from it.
    ///
    /// # Errors
    /// [`Error::Corrupt`] or [`Error::Zip`] for a record that cannot be read or fails its CRC.
    pub(crate) fn read_into(&mut self, slots: &mut dyn TensorSlots, scratch: &mut Vec<u8>) -> Result<()> {
        let big_endian = self.source.big_endian();
        for storage in &self.storages {
            let whole = match storage.views[..] {
                [only] => is_whole(&self.views[only].layout, storage.len).then_some(only),
                _ => None,
            };
            if let Some(view) = whole {
                self.source.read_storage(&storage.key, slots.slot(view))?;
            } else {
                scratch.clear();
                scratch.resize(storage.len, 0);
                self.source.read_storage(&storage.key, scratch)?;
                for &view in &storage.views {
                    gather_into(&self.views[view].layout, scratch, slots.slot(view));
                }
            }
            if big_endian {
                for &view in &storage.views {
                    swap_bytes(slots.slot(view), self.views[view].layout.dtype.size());
                }
            }
        }
        Ok(())
    }
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
