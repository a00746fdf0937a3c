//! What a model expects of its checkpoints: every tensor's name, dtype and shape, checked by
//! [`crate::Checkpoint::load_as`] before anything is copied into the model.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use crate::{Dtype, Error, NamedTensor, Result};

/// The name, dtype and shape a model expects of one tensor of its checkpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorLayout {
    /// State-dict key.
    pub name: String,
    /// Element type.
    pub dtype: Dtype,
    /// Shape, outermost first.
    pub shape: Vec<usize>,
}

impl From<&NamedTensor> for TensorLayout {
    fn from(t: &NamedTensor) -> Self {
        Self { name: t.name.clone(), dtype: t.dtype, shape: t.shape.clone() }
    }
}

/// What a model expects of one file of its checkpoints: tensors that must be there and tensors
/// that may be (e.g. momentum buffers, made by the first step); no other name is allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileLayout {
    /// Tensors every checkpoint holds.
    pub required: Vec<TensorLayout>,
    /// Tensors a checkpoint may hold.
    pub optional: Vec<TensorLayout>,
}

impl FileLayout {
    /// Exactly these tensors' names, dtypes and shapes.
    #[must_use]
    pub fn exactly(tensors: &[NamedTensor]) -> Self {
        Self { required: tensors.iter().map(TensorLayout::from).collect(), optional: Vec::new() }
    }

    /// An error naming `path`, the tensor and what differs, for the first tensor that does not
    /// fit.
    pub(crate) fn check(&self, path: &Path, tensors: &[NamedTensor]) -> Result<()> {
        let expected: HashMap<&str, &TensorLayout> =
            self.required.iter().chain(&self.optional).map(|t| (t.name.as_str(), t)).collect();
        let present: HashSet<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
        if let Some(missing) = self.required.iter().find(|e| !present.contains(e.name.as_str())) {
            return Err(Error::corrupt(
                path,
                format!("has no tensor `{}`, which the model needs", missing.name),
            ));
        }
        for t in tensors {
            let Some(e) = expected.get(t.name.as_str()) else {
                return Err(Error::corrupt(
                    path,
                    format!("holds tensor `{}`, which the model does not have", t.name),
                ));
            };
            if t.dtype != e.dtype {
                return Err(Error::corrupt(
                    path,
                    format!("tensor `{}` has dtype {:?}, the model expects {:?}", t.name, t.dtype, e.dtype),
                ));
            }
            if t.shape != e.shape {
                return Err(Error::corrupt(
                    path,
                    format!("tensor `{}` has shape {:?}, the model expects {:?}", t.name, t.shape, e.shape),
                ));
            }
        }
        Ok(())
    }
}

/// What a model expects of its checkpoints: the tensors of `model.safetensors` and of
/// `optimizer.safetensors`. The caller derives it from the model it builds, so that the store
/// checks tensors without linking libtorch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckpointLayout {
    /// `model.safetensors`.
    pub model: FileLayout,
    /// `optimizer.safetensors`.
    pub optimizer: FileLayout,
}

impl CheckpointLayout {
    /// Exactly the tensors a model exports (as it writes them into its checkpoints).
    #[must_use]
    pub fn exactly(model: &[NamedTensor], optimizer: &[NamedTensor]) -> Self {
        Self { model: FileLayout::exactly(model), optimizer: FileLayout::exactly(optimizer) }
    }
}
