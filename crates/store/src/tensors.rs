//! Named tensors as safetensors bytes. Reading never executes code: safetensors is a JSON
//! header plus raw little-endian data, checked for bounds by the `safetensors` crate.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{SafeTensors, TensorView};
pub use safetensors::Dtype;

use crate::{Error, Result};

/// One tensor: name (a PyTorch state-dict key), dtype, shape and little-endian bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    /// State-dict key, e.g. `net.0.weight`.
    pub name: String,
    /// Element type.
    pub dtype: Dtype,
    /// Shape, outermost first.
    pub shape: Vec<usize>,
    /// Raw little-endian element bytes, row-major.
    pub data: Vec<u8>,
}

/// Serialize tensors (sorted by name by the format) with string metadata.
///
/// # Errors
/// A tensor's byte length does not match its dtype and shape (`path` names the destination).
pub fn encode_tensors(
    path: &Path,
    tensors: &[NamedTensor],
    metadata: &HashMap<String, String>,
) -> Result<Vec<u8>> {
    let views = tensors
        .iter()
        .map(|t| {
            TensorView::new(t.dtype, t.shape.clone(), &t.data)
                .map(|v| (t.name.as_str(), v))
                .map_err(|e| Error::corrupt(path, format!("tensor `{}`: {e}", t.name)))
        })
        .collect::<Result<Vec<_>>>()?;
    let metadata = (!metadata.is_empty()).then(|| metadata.clone());
    safetensors::serialize(views, &metadata)
        .map_err(|e| Error::corrupt(path, format!("cannot serialize: {e}")))
}

/// Parse safetensors bytes; `path` names the file in errors.
///
/// # Errors
/// Truncated or malformed header or data.
pub fn decode_tensors(path: &Path, bytes: &[u8]) -> Result<(Vec<NamedTensor>, HashMap<String, String>)> {
    let parsed = SafeTensors::deserialize(bytes)
        .map_err(|e| Error::corrupt(path, format!("not a valid safetensors file: {e:?}")))?;
    let (_, header) = SafeTensors::read_metadata(bytes)
        .map_err(|e| Error::corrupt(path, format!("not a valid safetensors file: {e:?}")))?;
    let metadata = header.metadata().clone().unwrap_or_default();
    let mut tensors: Vec<NamedTensor> = parsed
        .tensors()
        .into_iter()
        .map(|(name, view)| NamedTensor {
            name,
            dtype: view.dtype(),
            shape: view.shape().to_vec(),
            data: view.data().to_vec(),
        })
        .collect();
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((tensors, metadata))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str, values: &[f32], shape: &[usize]) -> NamedTensor {
        NamedTensor {
            name: name.into(),
            dtype: Dtype::F32,
            shape: shape.to_vec(),
            data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }

    #[test]
    fn round_trips_names_shapes_bytes_and_metadata() {
        let tensors =
            vec![t("a.weight", &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]), t("a.bias", &[0.5], &[1])];
        let meta = HashMap::from([("epoch".to_string(), "3".to_string())]);
        let bytes = encode_tensors(Path::new("x"), &tensors, &meta).unwrap();
        let (back, meta_back) = decode_tensors(Path::new("x"), &bytes).unwrap();
        let mut sorted = tensors.clone();
        sorted.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(back, sorted);
        assert_eq!(meta_back, meta);
        // The header is JSON that any safetensors reader (Python included) understands.
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
        assert_eq!(header["a.weight"]["shape"], serde_json::json!([2, 3]));
        assert_eq!(header["a.weight"]["dtype"], "F32");
    }

    #[test]
    fn truncation_is_detected_and_names_the_file() {
        let bytes = encode_tensors(Path::new("x"), &[t("w", &[1.0; 16], &[16])], &HashMap::new()).unwrap();
        let err = decode_tensors(Path::new("ckpt/model.safetensors"), &bytes[..bytes.len() - 5]).unwrap_err();
        assert!(err.to_string().starts_with("ckpt/model.safetensors: not a valid safetensors file"), "{err}");
    }

    #[test]
    fn wrong_byte_length_is_refused() {
        let mut bad = t("w", &[1.0, 2.0], &[2]);
        bad.shape = vec![3];
        assert!(encode_tensors(Path::new("x"), &[bad], &HashMap::new()).is_err());
    }
}
