//! A state-dict entry as plain bytes, and the step from a pickled view (storage, offset, shape,
//! strides) to those bytes: every size is checked against the storage before a byte is
//! allocated, so a forged shape cannot ask for terabytes.

use std::collections::HashSet;

use crate::dtype::Dtype;
use crate::pickle::{TensorDtype, TensorRef};

/// One state-dict entry: contiguous row-major little-endian elements.
///
/// Field for field what `pz_store::NamedTensor` holds (same [`Dtype`]), so an importer moves
/// these into the store without conversion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tensor {
    /// State-dict key, e.g. `layer1.0.conv1.weight`.
    pub name: String,
    /// Element type.
    pub dtype: Dtype,
    /// Shape, outermost first; empty for a scalar.
    pub shape: Vec<usize>,
    /// `numel × dtype.size()` bytes, little-endian, row-major.
    pub data: Vec<u8>,
}

impl Tensor {
    /// Number of elements (1 for a scalar).
    #[must_use]
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// The `module.` prefix `torch.nn.DataParallel` puts on every key; PTMZ loaders strip it (SPEC §2.4).
pub const MODULE_PREFIX: &str = "module.";

/// Strip [`MODULE_PREFIX`] from every name that has it, as torch's
/// `consume_prefix_in_state_dict_if_present` does. Returns how many names changed.
///
/// # Errors
/// Stripping would give two tensors one name (`module.fc.weight` beside `fc.weight`); the
/// names are left as they were.
pub fn strip_module_prefix(tensors: &mut [Tensor]) -> crate::Result<usize> {
    strip_module_prefix_of(&mut tensors.iter_mut().map(|t| &mut t.name).collect::<Vec<_>>())
}

/// [`strip_module_prefix`] over the names alone.
pub(crate) fn strip_module_prefix_of(names: &mut [&mut String]) -> crate::Result<usize> {
    let stripped = |name: &str| name.strip_prefix(MODULE_PREFIX).unwrap_or(name).to_owned();
    let mut seen = HashSet::new();
    for name in names.iter() {
        let name = stripped(name);
        if !seen.insert(name.clone()) {
            return Err(crate::Error::InvalidTensor {
                tensor: name,
                message: "appears both with and without the `module.` prefix".into(),
            });
        }
    }
    let mut changed = 0;
    for name in names.iter_mut() {
        if let Some(rest) = name.strip_prefix(MODULE_PREFIX) {
            **name = rest.to_owned();
            changed += 1;
        }
    }
    Ok(changed)
}

/// Where a tensor's elements lie in its storage, checked to fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    pub(crate) dtype: Dtype,
    pub(crate) shape: Vec<usize>,
    pub(crate) stride: Vec<usize>,
    /// In elements from the start of the storage (view offset included).
    pub(crate) offset: usize,
    pub(crate) numel: usize,
}

/// Why a pickled view cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LayoutError {
    Unsupported(String),
    Bad(String),
}

/// Check a pickled view against its storage's declared size. Expanded views (stride 0, more
/// elements than the storage) are refused: a state dict never holds them, and allowing them
/// would let a one-element storage claim any size.
pub(crate) fn layout(tensor: &TensorRef) -> Result<Layout, LayoutError> {
    let bad = |m: String| LayoutError::Bad(m);
    let dtype = match &tensor.dtype {
        TensorDtype::Known(d) => *d,
        TensorDtype::Unsupported(name) => return Err(LayoutError::Unsupported(name.to_string())),
    };
    let storage = &tensor.storage;
    let unit =
        storage.kind.unit_size().ok_or_else(|| LayoutError::Unsupported(format!("{:?}", storage.kind)))?;
    let storage_bytes =
        storage.numel.checked_mul(unit as u64).ok_or_else(|| bad("storage size overflows".into()))?;
    let capacity = storage_bytes / dtype.size() as u64;
    let to_usize = |v: i64, what: &str| {
        usize::try_from(v).map_err(|_| {
            bad(format!("negative {what} ({v}) in size {:?} stride {:?}", tensor.shape, tensor.stride))
        })
    };
    let shape = tensor.shape.iter().map(|&d| to_usize(d, "dimension")).collect::<Result<Vec<_>, _>>()?;
    let stride = tensor.stride.iter().map(|&s| to_usize(s, "stride")).collect::<Result<Vec<_>, _>>()?;
    let offset = to_usize(tensor.offset, "storage offset")?;
    let numel = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| bad(format!("element count of shape {shape:?} overflows")))?;
    if numel as u64 > capacity {
        return Err(bad(format!("shape {shape:?} has {numel} elements but its storage holds {capacity}")));
    }
    if numel > 0 {
        let last = shape
            .iter()
            .zip(&stride)
            .try_fold(offset, |end, (&d, &s)| (d - 1).checked_mul(s).and_then(|x| end.checked_add(x)))
            .ok_or_else(|| bad("last element's position overflows".into()))?;
        if last as u64 >= capacity {
            return Err(bad(format!(
                "view (offset {offset}, shape {shape:?}, stride {stride:?}) reaches element {last} of a storage of {capacity}"
            )));
        }
    }
    let view_offset = usize::try_from(
        storage.view_offset.checked_mul(unit as u64).ok_or_else(|| bad("view offset overflows".into()))?
            / dtype.size() as u64,
    )
    .map_err(|_| bad("view offset overflows".into()))?;
    let offset = offset.checked_add(view_offset).ok_or_else(|| bad("offset overflows".into()))?;
    Ok(Layout { dtype, shape, stride, offset, numel })
}

/// Whether the view is its whole storage of `storage_len` bytes, in order: then the storage's
/// bytes are the tensor's, and can be read straight into its place.
pub(crate) fn is_whole(layout: &Layout, storage_len: usize) -> bool {
    layout.offset == 0
        && layout.numel.checked_mul(layout.dtype.size()) == Some(storage_len)
        && is_contiguous(&layout.shape, &layout.stride)
}

/// Copy the view's elements, row-major, out of `storage` (the whole root storage, at least as
/// long as [`layout`] checked) into `out` (exactly `numel × dtype size` bytes). Contiguous views
/// are one copy; others copy runs of the innermost dimension.
///
/// # Panics
/// `out` is not the view's length (a bug: callers size it from the same layout).
pub(crate) fn gather_into(layout: &Layout, storage: &[u8], out: &mut [u8]) {
    let e = layout.dtype.size();
    assert_eq!(out.len(), layout.numel * e, "a view's room is its numel × dtype size");
    if layout.numel == 0 {
        return;
    }
    if is_contiguous(&layout.shape, &layout.stride) {
        let start = layout.offset * e;
        out.copy_from_slice(&storage[start..start + layout.numel * e]);
        return;
    }
    let (outer, inner) = layout.shape.split_at(layout.shape.len() - 1);
    let (inner_len, inner_stride) = (inner[0], layout.stride[layout.shape.len() - 1]);
    let mut index = vec![0usize; outer.len()];
    let mut at_out = 0;
    loop {
        let base = layout.offset + index.iter().zip(&layout.stride).map(|(i, s)| i * s).sum::<usize>();
        if inner_stride == 1 {
            out[at_out..at_out + inner_len * e].copy_from_slice(&storage[base * e..(base + inner_len) * e]);
            at_out += inner_len * e;
        } else {
            for i in 0..inner_len {
                let at = (base + i * inner_stride) * e;
                out[at_out..at_out + e].copy_from_slice(&storage[at..at + e]);
                at_out += e;
            }
        }
        // Odometer over the outer dimensions, last fastest.
        let mut dim = outer.len();
        loop {
            if dim == 0 {
                return;
            }
            dim -= 1;
            index[dim] += 1;
            if index[dim] < outer[dim] {
                break;
            }
            index[dim] = 0;
        }
    }
}

/// Row-major contiguity, ignoring the stride of size-1 dimensions (torch's rule).
fn is_contiguous(shape: &[usize], stride: &[usize]) -> bool {
    let mut expected = 1;
    for (&d, &s) in shape.iter().zip(stride).rev() {
        if d != 1 && s != expected {
            return false;
        }
        expected *= d;
    }
    true
}

/// Reverse each element's bytes: a checkpoint written on a big-endian machine.
pub(crate) fn swap_bytes(data: &mut [u8], element_size: usize) {
    if element_size > 1 {
        data.chunks_exact_mut(element_size).for_each(<[u8]>::reverse);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pickle::{StorageKind, StorageRef};
    use std::rc::Rc;

    fn view(numel: u64, offset: i64, shape: &[i64], stride: &[i64]) -> TensorRef {
        TensorRef {
            storage: Rc::new(StorageRef {
                kind: StorageKind::Typed(Dtype::U8),
                key: "0".into(),
                numel,
                view_offset: 0,
            }),
            dtype: TensorDtype::Known(Dtype::U8),
            offset,
            shape: shape.to_vec(),
            stride: stride.to_vec(),
        }
    }

    fn gather(layout: &Layout, storage: &[u8]) -> Vec<u8> {
        let mut out = vec![0; layout.numel * layout.dtype.size()];
        gather_into(layout, storage, &mut out);
        out
    }

    #[test]
    fn a_transposed_view_is_gathered_row_major() {
        let storage: Vec<u8> = (0..12).collect();
        let layout = layout(&view(12, 0, &[4, 3], &[1, 4])).unwrap();
        assert_eq!(gather(&layout, &storage), vec![0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
    }

    #[test]
    fn a_strided_slice_with_offset_is_gathered() {
        let storage: Vec<u8> = (0..12).collect();
        let layout = layout(&view(12, 1, &[2, 2], &[6, 2])).unwrap();
        assert_eq!(gather(&layout, &storage), vec![1, 3, 7, 9]);
    }

    #[test]
    fn forged_views_are_refused_before_allocating() {
        let refused = |v: TensorRef| matches!(layout(&v), Err(LayoutError::Bad(_)));
        assert!(refused(view(12, 0, &[1 << 40, 1 << 40], &[1, 1])), "overflowing element count");
        assert!(refused(view(12, 0, &[13], &[1])), "more elements than storage");
        assert!(!refused(view(12, 0, &[6], &[0])), "a stride-0 view within its storage is fine");
        assert!(refused(view(12, 0, &[13], &[0])), "a stride-0 view larger than its storage");
        assert!(refused(view(12, 10, &[3], &[1])), "runs past the end");
        assert!(refused(view(12, 0, &[2], &[-1])), "negative stride");
        assert!(refused(view(12, -1, &[2], &[1])), "negative offset");
        assert!(refused(view(12, 0, &[-2], &[1])), "negative dimension");
    }

    #[test]
    fn module_prefix_is_stripped_unless_names_collide() {
        let t = |name: &str| Tensor { name: name.into(), dtype: Dtype::U8, shape: vec![], data: vec![0] };
        let mut ok = vec![t("module.fc.weight"), t("module.fc.bias")];
        assert_eq!(strip_module_prefix(&mut ok).unwrap(), 2);
        assert_eq!(ok[0].name, "fc.weight");
        let mut clash = vec![t("module.fc.weight"), t("fc.weight")];
        assert!(strip_module_prefix(&mut clash).is_err());
        assert_eq!(clash[0].name, "module.fc.weight");
    }
}
