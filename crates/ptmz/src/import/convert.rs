//! One PTMZ checkpoint into the bytes of phasezoo's `model.safetensors`, with one copy of its
//! tensors: the pickle is decoded and every name, dtype and shape checked against phasezoo's
//! model first, the safetensors header laid out from them, then each storage record read from
//! the zip straight into its tensor's place in the file (issue 19's speed point).

use std::collections::HashMap;
use std::path::Path;

use pz_store::{Checkpoint, FileLayout, TensorFileBuffer, TensorLayout};

use crate::checkpoint::{StateDictFile, TensorSlots};
use crate::tensor::strip_module_prefix_of;
use crate::{Error, Result};

/// A thread's buffers, reused from checkpoint to checkpoint (they grow, never shrink), so the
/// memory of a 45 MB checkpoint is allocated and page-faulted once per thread, not per file.
#[derive(Default)]
pub(super) struct Converter {
    file: TensorFileBuffer,
    /// Storages that are not one whole tensor (shared, or strided views); none in PTMZ's files.
    scratch: Vec<u8>,
}

/// The importer's room for a checkpoint's views is its safetensors file.
struct FileSlots<'a>(&'a mut TensorFileBuffer);

impl TensorSlots for FileSlots<'_> {
    fn slot(&mut self, view: usize) -> &mut [u8] {
        self.0.slot_mut(view)
    }
}

impl Converter {
    /// The checkpoint at `path` (`module.` stripped from its names) as the bytes of a
    /// checkpoint's `model.safetensors`: what [`Checkpoint::write`] writes for its tensors.
    ///
    /// # Errors
    /// The reader's errors, naming the file; [`Error::Layout`] naming the file and the first
    /// tensor missing, unknown to phasezoo's model, or of another dtype or shape, found before
    /// any storage is read.
    pub(super) fn convert(&mut self, path: &Path, layout: &FileLayout) -> Result<&[u8]> {
        let mut file = StateDictFile::open(path)?;
        strip_module_prefix_of(&mut file.views.iter_mut().map(|v| &mut v.name).collect::<Vec<_>>()).map_err(
            |e| match e {
                Error::InvalidTensor { tensor, message } => {
                    Error::Layout { path: path.to_owned(), tensor, message }
                }
                other => other,
            },
        )?;
        let tensors: Vec<TensorLayout> = file
            .views
            .iter()
            .map(|v| TensorLayout {
                name: v.name.clone(),
                dtype: v.layout.dtype,
                shape: v.layout.shape.clone(),
            })
            .collect();
        check_layout(path, &tensors, layout)?;
        // Sizes are phasezoo's model's own now, so the buffer's size is bounded by it.
        self.file.lay_out(path, &tensors, &Checkpoint::model_metadata())?;
        file.read_into(&mut FileSlots(&mut self.file), &mut self.scratch)?;
        Ok(self.file.bytes())
    }
}

/// [`Error::Layout`] for the first tensor of `tensors` that phasezoo's model does not have or
/// has with another dtype or shape, or the first one it needs that is missing.
fn check_layout(path: &Path, tensors: &[TensorLayout], layout: &FileLayout) -> Result<()> {
    let fail = |tensor: &str, message: String| Error::Layout {
        path: path.to_owned(),
        tensor: tensor.to_owned(),
        message,
    };
    let expected: HashMap<&str, &TensorLayout> =
        layout.required.iter().chain(&layout.optional).map(|t| (t.name.as_str(), t)).collect();
    for t in tensors {
        let Some(e) = expected.get(t.name.as_str()) else {
            return Err(fail(&t.name, "phasezoo's model has no such tensor (not a torchvision ResNet state dict of this architecture?)".into()));
        };
        if (t.dtype, &t.shape) != (e.dtype, &e.shape) {
            return Err(fail(
                &t.name,
                format!("{:?} {:?}, phasezoo's model expects {:?} {:?}", t.dtype, t.shape, e.dtype, e.shape),
            ));
        }
    }
    if let Some(missing) = layout.required.iter().find(|e| !tensors.iter().any(|t| t.name == e.name)) {
        return Err(fail(&missing.name, "missing; phasezoo's model needs it".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{read_state_dict, strip_module_prefix, write_state_dict, Dtype, Tensor};
    use pz_store::{encode_tensors, NamedTensor};

    fn tensor(name: &str, dtype: Dtype, shape: &[usize], seed: u8) -> Tensor {
        let len = shape.iter().product::<usize>() * dtype.size();
        let data = (0..len).map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed)).collect();
        Tensor { name: name.into(), dtype, shape: shape.to_vec(), data }
    }

    /// What the import wrote before converting in place: the reader's tensors, stripped, encoded
    /// as `Checkpoint::write` encodes a model.
    fn through_the_reader(path: &Path) -> Vec<u8> {
        let mut tensors = read_state_dict(path).unwrap();
        strip_module_prefix(&mut tensors).unwrap();
        let named: Vec<NamedTensor> = tensors
            .into_iter()
            .map(|Tensor { name, dtype, shape, data }| NamedTensor { name, dtype, shape, data })
            .collect();
        encode_tensors(path, &named, &Checkpoint::model_metadata()).unwrap()
    }

    fn layout_of(tensors: &[Tensor]) -> FileLayout {
        let required = tensors
            .iter()
            .map(|t| TensorLayout {
                name: t.name.trim_start_matches("module.").into(),
                dtype: t.dtype,
                shape: t.shape.clone(),
            })
            .collect();
        FileLayout { required, optional: Vec::new() }
    }

    #[test]
    fn a_checkpoint_converts_to_the_bytes_the_reader_and_encoder_give_through_one_reused_buffer() {
        let dir = tempfile::tempdir().unwrap();
        let big = vec![
            tensor("module.conv1.weight", Dtype::F32, &[64, 3, 3, 3], 1),
            tensor("module.bn1.num_batches_tracked", Dtype::I64, &[], 2),
            tensor("module.bn1.running_var", Dtype::F32, &[64], 3),
            tensor("module.fc.weight", Dtype::F16, &[10, 64], 4),
            tensor("module.mask", Dtype::U8, &[5], 5),
        ];
        let small = vec![tensor("fc.bias", Dtype::F64, &[10], 6)];
        let mut converter = Converter::default();
        for (name, tensors) in [("big", &big), ("small", &small), ("big_again", &big)] {
            let path = dir.path().join(name);
            write_state_dict(&path, tensors).unwrap();
            let converted = converter.convert(&path, &layout_of(tensors)).unwrap().to_vec();
            assert_eq!(converted, through_the_reader(&path), "{name}");
        }
    }

    #[test]
    fn a_tensor_of_another_shape_is_refused_by_file_and_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoints");
        let tensors = [tensor("module.fc.bias", Dtype::F32, &[10], 0)];
        write_state_dict(&path, &tensors).unwrap();
        let mut layout = layout_of(&tensors);
        layout.required[0].shape = vec![100];
        let err = Converter::default().convert(&path, &layout).unwrap_err();
        assert!(matches!(&err, Error::Layout { tensor, .. } if tensor == "fc.bias"), "{err}");
        assert!(err.to_string().contains("F32 [10], phasezoo's model expects F32 [100]"), "{err}");
    }
}
