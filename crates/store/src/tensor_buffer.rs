//! A safetensors file assembled in place: the header is computed from the tensors' names, dtypes
//! and shapes first, then the caller writes each tensor's bytes straight into its slot. One buffer
//! serves a whole loop of files (it grows, never shrinks), so converting thousands of checkpoints
//! allocates and page-faults its memory once instead of once per file (issue 19: fresh 45 MB
//! buffers cost the PTMZ import a third of its CPU time).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::Path;

use safetensors::View;

use crate::{Dtype, Error, Result, TensorLayout};

/// The bytes of one safetensors file, header first, tensors in the slots [`lay_out`] made.
///
/// [`lay_out`]: TensorFileBuffer::lay_out
#[derive(Debug, Default)]
pub struct TensorFileBuffer {
    /// At least `len` bytes; what lies past `len` is left from a larger earlier file.
    bytes: Vec<u8>,
    /// The current file's length.
    len: usize,
    /// Each tensor's bytes within `bytes`, in the order given to `lay_out`.
    slots: Vec<Range<usize>>,
}

/// A tensor that has a length but no bytes yet. `safetensors::serialize` over such views returns
/// exactly the header (length prefix and padded JSON) it writes for the real tensors: its header
/// code is private, and calling it keeps the two byte-identical by construction.
struct Unfilled<'a> {
    layout: &'a TensorLayout,
    len: usize,
}

impl View for &Unfilled<'_> {
    fn dtype(&self) -> Dtype {
        self.layout.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.layout.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&[])
    }
    fn data_len(&self) -> usize {
        self.len
    }
}

impl TensorFileBuffer {
    /// An empty buffer; the first [`lay_out`](Self::lay_out) allocates.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Lay out the file [`encode_tensors`](crate::encode_tensors) writes for `tensors` (with
    /// their bytes) and `metadata`: the header is written, and tensor `i` of `tensors` gets
    /// [`slot_mut(i)`](Self::slot_mut), exactly its `numel × dtype size` bytes. The slots hold
    /// stale bytes until the caller writes every one of them. The buffer grows to the file's
    /// size: the caller bounds the shapes (e.g. by the model's own) before laying them out.
    ///
    /// # Errors
    /// [`Error::Corrupt`] naming `path` (the destination) when a name appears twice or a size
    /// overflows.
    pub fn lay_out(
        &mut self,
        path: &Path,
        tensors: &[TensorLayout],
        metadata: &HashMap<String, String>,
    ) -> Result<()> {
        let mut names = HashSet::new();
        let unfilled = tensors
            .iter()
            .map(|t| {
                if !names.insert(t.name.as_str()) {
                    return Err(Error::corrupt(path, format!("tensor `{}` appears twice", t.name)));
                }
                let len =
                    t.shape.iter().try_fold(t.dtype.size(), |n, &d| n.checked_mul(d)).ok_or_else(|| {
                        Error::corrupt(path, format!("tensor `{}`: shape {:?} overflows", t.name, t.shape))
                    })?;
                Ok(Unfilled { layout: t, len })
            })
            .collect::<Result<Vec<_>>>()?;
        if unfilled.iter().try_fold(0usize, |sum, u| sum.checked_add(u.len)).is_none() {
            return Err(Error::corrupt(path, "the tensors' total size overflows"));
        }
        let metadata = (!metadata.is_empty()).then(|| metadata.clone());
        let header = safetensors::serialize(unfilled.iter().map(|u| (u.layout.name.as_str(), u)), &metadata)
            .map_err(|e| Error::corrupt(path, format!("cannot serialize: {e}")))?;
        // The slots come from the offsets the header itself records, so they cannot disagree.
        let offsets: HashMap<String, serde_json::Value> = serde_json::from_slice(&header[8..])
            .map_err(|e| Error::corrupt(path, format!("safetensors wrote a header it cannot read: {e}")))?;
        let start = header.len();
        let mut end = start;
        self.slots.clear();
        for t in tensors {
            let offset = |i: usize| {
                offsets[&t.name]["data_offsets"][i]
                    .as_u64()
                    .and_then(|o| usize::try_from(o).ok())
                    .and_then(|o| start.checked_add(o))
                    .ok_or_else(|| Error::corrupt(path, format!("tensor `{}`: offset overflows", t.name)))
            };
            let slot = offset(0)?..offset(1)?;
            end = end.max(slot.end);
            self.slots.push(slot);
        }
        if self.bytes.len() < end {
            self.bytes.resize(end, 0);
        }
        self.bytes[..start].copy_from_slice(&header);
        self.len = end;
        Ok(())
    }

    /// Tensor `index`'s bytes (in the order given to [`lay_out`](Self::lay_out)), to be filled
    /// with its little-endian row-major elements.
    ///
    /// # Panics
    /// `index` is not a tensor of the last layout.
    pub fn slot_mut(&mut self, index: usize) -> &mut [u8] {
        let slot = self.slots[index].clone();
        &mut self.bytes[slot]
    }

    /// The file: header and every slot.
    #[must_use]
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{encode_tensors, NamedTensor};

    fn t(name: &str, dtype: Dtype, shape: &[usize], seed: u8) -> NamedTensor {
        let len = shape.iter().product::<usize>() * dtype.size();
        NamedTensor {
            name: name.into(),
            dtype,
            shape: shape.to_vec(),
            data: (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect(),
        }
    }

    fn filled(buffer: &mut TensorFileBuffer, tensors: &[NamedTensor], meta: &HashMap<String, String>) {
        let layouts: Vec<TensorLayout> = tensors.iter().map(TensorLayout::from).collect();
        buffer.lay_out(Path::new("x"), &layouts, meta).unwrap();
        for (i, t) in tensors.iter().enumerate() {
            buffer.slot_mut(i).copy_from_slice(&t.data);
        }
    }

    #[test]
    fn a_buffer_filled_in_place_is_byte_identical_to_encode_tensors_and_reusable() {
        // Mixed dtypes (the format orders by alignment, then name), a scalar, an empty tensor,
        // names out of order; then a smaller file and a larger one through the same buffer.
        let files = [
            vec![
                t("net.0.weight", Dtype::F32, &[3, 5], 1),
                t("bn.num_batches_tracked", Dtype::I64, &[], 2),
                t("a.mask", Dtype::U8, &[7], 3),
                t("empty", Dtype::F16, &[0, 4], 4),
                t("b.half", Dtype::BF16, &[9], 5),
            ],
            vec![t("w", Dtype::F64, &[2], 6)],
            vec![t("z", Dtype::F32, &[64, 33], 7), t("y", Dtype::I32, &[5], 8), t("x", Dtype::U8, &[3], 9)],
        ];
        let metas = [HashMap::from([("format".to_string(), "pt".to_string())]), HashMap::new()];
        let mut buffer = TensorFileBuffer::new();
        for meta in &metas {
            for tensors in &files {
                filled(&mut buffer, tensors, meta);
                assert_eq!(buffer.bytes(), encode_tensors(Path::new("x"), tensors, meta).unwrap());
            }
        }
    }

    #[test]
    fn a_repeated_name_is_refused_naming_the_file() {
        let w = TensorLayout { name: "w".into(), dtype: Dtype::F32, shape: vec![2] };
        let err = TensorFileBuffer::new()
            .lay_out(Path::new("ckpt/model.safetensors"), &[w.clone(), w], &HashMap::new())
            .unwrap_err();
        assert_eq!(err.to_string(), "ckpt/model.safetensors: tensor `w` appears twice");
    }
}
