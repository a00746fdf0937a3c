//! Writing a state dict that `torch.load(weights_only=True)` reads: the zip container with the
//! records torch ≥ 2.0 writes, and a protocol-2 pickle of an `OrderedDict` of tensors built from
//! the same opcodes `torch.save` emits (see the dump in the crate's tests). One storage per
//! tensor, each contiguous and 64-byte aligned like torch's own (`.storage_alignment`).

use std::io::{Seek, Write};
use std::path::Path;

use zip::write::FileOptions;
use zip::{CompressionMethod, ZipWriter};

use crate::dtype::{object_name_of, storage_class_of};
use crate::{Error, Result, Tensor};

/// Torch's record alignment for storages (torch/serialization.py `_get_storage_alignment`).
const ALIGNMENT: u16 = 64;

/// Write `tensors` to `path` as `torch.save(OrderedDict(...))` would, atomically: a temporary
/// file in the same folder, synced, then renamed over `path`. The archive folder is the file's
/// name, as torch names it.
///
/// # Errors
/// An inconsistent tensor ([`Error::InvalidTensor`]: data length, duplicate name, a dtype torch
/// cannot store), checked before anything is written; or I/O.
pub fn write_state_dict(path: &Path, tensors: &[Tensor]) -> Result<()> {
    validate(tensors)?;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let archive = path.file_stem().and_then(|s| s.to_str()).filter(|s| is_plain(s)).unwrap_or("archive");
    let named = |e: std::io::Error| std::io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    let tmp = tempfile::NamedTempFile::new_in(dir).map_err(named)?;
    let tmp = write_state_dict_to(tmp, archive, tensors)?;
    tmp.as_file().sync_all().map_err(named)?;
    tmp.persist(path).map_err(|e| named(e.error))?;
    Ok(())
}

/// Write `tensors` as a torch zip checkpoint into `out`, records under folder `archive`.
/// Returns `out` after the zip's central directory has been written.
///
/// # Errors
/// As [`write_state_dict`].
pub fn write_state_dict_to<W: Write + Seek>(out: W, archive: &str, tensors: &[Tensor]) -> Result<W> {
    validate(tensors)?;
    if !is_plain(archive) {
        return Err(Error::InvalidTensor {
            tensor: archive.into(),
            message: "archive folder name must be plain ASCII".into(),
        });
    }
    let zip_error = |e: zip::result::ZipError| match e {
        zip::result::ZipError::Io(e) => Error::Io(e),
        other => Error::Io(std::io::Error::other(format!("writing the zip container: {other}"))),
    };
    let big = tensors.iter().any(|t| t.data.len() as u64 >= u64::from(u32::MAX));
    let options = FileOptions::default().compression_method(CompressionMethod::Stored).large_file(big);
    let mut zip = ZipWriter::new(out);
    let record = |zip: &mut ZipWriter<W>, name: &str, bytes: &[u8]| -> Result<()> {
        zip.start_file_aligned(format!("{archive}/{name}"), options, ALIGNMENT).map_err(zip_error)?;
        zip.write_all(bytes)?;
        Ok(())
    };
    record(&mut zip, "data.pkl", &pickle(tensors))?;
    record(&mut zip, ".format_version", b"1")?;
    record(&mut zip, ".storage_alignment", ALIGNMENT.to_string().as_bytes())?;
    record(&mut zip, "byteorder", b"little")?;
    for (key, tensor) in tensors.iter().enumerate() {
        record(&mut zip, &format!("data/{key}"), &tensor.data)?;
    }
    record(&mut zip, "version", b"3\n")?;
    zip.finish().map_err(zip_error)
}

fn is_plain(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
}

fn validate(tensors: &[Tensor]) -> Result<()> {
    let mut names = std::collections::HashSet::new();
    for t in tensors {
        let invalid = |message: String| Error::InvalidTensor { tensor: t.name.clone(), message };
        if !names.insert(&t.name) {
            return Err(invalid("appears twice".into()));
        }
        if storage_class_of(t.dtype).is_none() && object_name_of(t.dtype).is_none() {
            return Err(invalid(format!("dtype {:?} has no torch storage", t.dtype)));
        }
        let bytes = t.shape.iter().try_fold(t.dtype.size(), |n, &d| n.checked_mul(d));
        if bytes != Some(t.data.len()) {
            return Err(invalid(format!(
                "shape {:?} of {:?} does not match {} data bytes",
                t.shape,
                t.dtype,
                t.data.len()
            )));
        }
    }
    Ok(())
}

/// The protocol-2 pickle of `OrderedDict((name, tensor) ...)`, storage `i` for tensor `i`.
/// Typed storages and `_rebuild_tensor_v2` for the dtypes that have a storage class, an untyped
/// storage plus a dtype object and `_rebuild_tensor_v3` for the rest, exactly as torch 2.x.
fn pickle(tensors: &[Tensor]) -> Vec<u8> {
    let mut p = Pickle(vec![0x80, 2]);
    p.global("collections", "OrderedDict");
    p.op(b')');
    p.op(b'R');
    if !tensors.is_empty() {
        p.op(b'(');
        for (key, t) in tensors.iter().enumerate() {
            p.unicode(&t.name);
            let class = storage_class_of(t.dtype);
            p.global(
                "torch._utils",
                if class.is_some() { "_rebuild_tensor_v2" } else { "_rebuild_tensor_v3" },
            );
            p.op(b'(');
            // The persistent id: ('storage', class, key, location, numel).
            p.op(b'(');
            p.unicode("storage");
            let numel = t.shape.iter().product::<usize>();
            match class {
                Some(class) => {
                    p.global("torch", class);
                    p.unicode(&key.to_string());
                    p.unicode("cpu");
                    p.int(numel);
                }
                None => {
                    p.global("torch.storage", "UntypedStorage");
                    p.unicode(&key.to_string());
                    p.unicode("cpu");
                    p.int(t.data.len());
                }
            }
            p.op(b't');
            p.op(b'Q');
            p.int(0); // storage offset
            p.ints(&t.shape);
            p.ints(&contiguous_strides(&t.shape));
            p.op(0x89); // requires_grad = False
            p.global("collections", "OrderedDict"); // backward hooks: empty
            p.op(b')');
            p.op(b'R');
            if class.is_none() {
                p.global("torch", object_name_of(t.dtype).expect("validated"));
            }
            p.op(b't');
            p.op(b'R');
        }
        p.op(b'u');
    }
    p.op(b'.');
    p.0
}

fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * shape[i + 1];
    }
    strides
}

struct Pickle(Vec<u8>);

impl Pickle {
    fn op(&mut self, op: u8) {
        self.0.push(op);
    }

    fn global(&mut self, module: &str, name: &str) {
        self.0.push(b'c');
        for part in [module, name] {
            self.0.extend_from_slice(part.as_bytes());
            self.0.push(b'\n');
        }
    }

    fn unicode(&mut self, s: &str) {
        self.0.push(b'X');
        self.0.extend_from_slice(&u32::try_from(s.len()).expect("names are short").to_le_bytes());
        self.0.extend_from_slice(s.as_bytes());
    }

    /// BININT for what fits in i32, else LONG1 with 8 bytes (the values are never negative).
    fn int(&mut self, v: usize) {
        if let Ok(small) = i32::try_from(v) {
            self.0.push(b'J');
            self.0.extend_from_slice(&small.to_le_bytes());
        } else {
            self.0.extend_from_slice(&[0x8a, 8]);
            self.0.extend_from_slice(&(v as u64).to_le_bytes());
        }
    }

    fn ints(&mut self, values: &[usize]) {
        self.op(b'(');
        values.iter().for_each(|&v| self.int(v));
        self.op(b't');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::Dtype;

    #[test]
    fn strides_are_row_major() {
        assert_eq!(contiguous_strides(&[2, 3, 4]), vec![12, 4, 1]);
        assert_eq!(contiguous_strides(&[]), Vec::<usize>::new());
    }

    #[test]
    fn inconsistent_tensors_are_refused_before_writing() {
        let t = |name: &str, shape: Vec<usize>, len: usize| Tensor {
            name: name.into(),
            dtype: Dtype::F32,
            shape,
            data: vec![0; len],
        };
        assert!(validate(&[t("a", vec![2], 8), t("b", vec![], 4)]).is_ok());
        assert!(validate(&[t("a", vec![2], 7)]).is_err());
        assert!(validate(&[t("a", vec![2], 8), t("a", vec![2], 8)]).is_err());
        assert!(validate(&[t("a", vec![usize::MAX, 2], 8)]).is_err());
    }
}
