//! A safetensors checkpoint with PyTorch state-dict names, read into layers.
//!
//! Which tensors are layers follows WeightWatcher's state-dict reader (`PyStateDictLayer`):
//! every tensor whose name ends in `.weight`, 2-D ones as dense and 4-D ones as Conv2d; 1-D
//! (norm scales), 3-D (Conv1d) and anything not named `*.weight` (biases, buffers) are not
//! layers. So embeddings count as dense layers, as WeightWatcher counts them (an
//! `nn.Embedding` module is a supported type there too), and HF GPT-2's `Conv1D` `[in, out]`
//! weights are dense layers like `nn.Linear`'s `[out, in]`.

use std::cmp::Ordering;
use std::path::Path;

use safetensors::{Dtype, SafeTensors};

use crate::esd::{LayerShape, SpectralConfig};
use crate::layer::{tensor_layer_alpha, LayerAlpha};
use crate::{Error, Result};

/// Every analysed layer of the checkpoint at `path`, with WeightWatcher's default sizes, in
/// name order (numeric segments compared as numbers: `h.2` before `h.10`).
///
/// # Errors
/// The file cannot be read or parsed, or a layer's weight is not F64/F32/F16/BF16 or holds a
/// non-finite value.
pub fn layer_alphas(path: &Path) -> Result<Vec<LayerAlpha>> {
    layer_alphas_with(path, &SpectralConfig::default())
}

/// [`layer_alphas`] with other layer sizes.
///
/// # Errors
/// As [`layer_alphas`].
pub fn layer_alphas_with(path: &Path, config: &SpectralConfig) -> Result<Vec<LayerAlpha>> {
    let bytes = fs_err::read(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
    let tensors = SafeTensors::deserialize(&bytes)
        .map_err(|source| Error::Safetensors { path: path.to_owned(), source })?;
    let mut names: Vec<&str> = tensors.names().into_iter().map(String::as_str).collect();
    names.sort_by(|a, b| natural_cmp(a, b));
    let mut layers = Vec::new();
    for name in names {
        let Some(layer_name) = name.strip_suffix(".weight") else { continue };
        let view =
            tensors.tensor(name).map_err(|source| Error::Safetensors { path: path.to_owned(), source })?;
        if !LayerShape::of(view.shape()).is_some_and(|s| s.is_supported(config)) {
            continue;
        }
        let data = to_f64(view.dtype(), view.data()).ok_or_else(|| Error::Dtype {
            path: path.to_owned(),
            tensor: name.to_owned(),
            dtype: format!("{:?}", view.dtype()),
        })?;
        if !data.iter().all(|x| x.is_finite()) {
            return Err(Error::NonFinite { path: path.to_owned(), tensor: name.to_owned() });
        }
        layers.extend(tensor_layer_alpha(layer_name, view.shape(), &data, config));
    }
    Ok(layers)
}

/// Little-endian tensor bytes as f64; `None` for other dtypes.
fn to_f64(dtype: Dtype, bytes: &[u8]) -> Option<Vec<f64>> {
    Some(match dtype {
        Dtype::F64 => bytes.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap())).collect(),
        Dtype::F32 => {
            bytes.chunks_exact(4).map(|b| f64::from(f32::from_le_bytes(b.try_into().unwrap()))).collect()
        }
        Dtype::F16 => {
            bytes.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f64()).collect()
        }
        Dtype::BF16 => {
            bytes.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f64()).collect()
        }
        _ => return None,
    })
}

/// Orders dotted names with numeric segments as numbers (`layer.2` < `layer.10`).
fn natural_cmp(a: &str, b: &str) -> Ordering {
    let mut sa = a.split('.');
    let mut sb = b.split('.');
    loop {
        match (sa.next(), sb.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let ord = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(m), Ok(n)) => m.cmp(&n),
                    _ => x.cmp(y),
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use safetensors::tensor::TensorView;

    fn bytes_of(dtype: Dtype, values: &[f64]) -> Vec<u8> {
        values
            .iter()
            .flat_map(|&v| match dtype {
                Dtype::F64 => v.to_le_bytes().to_vec(),
                #[allow(clippy::cast_possible_truncation)]
                Dtype::F32 => (v as f32).to_le_bytes().to_vec(),
                Dtype::F16 => half::f16::from_f64(v).to_le_bytes().to_vec(),
                Dtype::BF16 => half::bf16::from_f64(v).to_le_bytes().to_vec(),
                _ => unreachable!(),
            })
            .collect()
    }

    /// A state dict with a Linear, a Conv2d, a norm, biases, a Conv1d and a too-small Linear.
    fn write_checkpoint(dir: &Path, dtype: Dtype) -> std::path::PathBuf {
        let lin: Vec<f64> = (0..24 * 16).map(|k| f64::from((k * 37 % 101) as u8) / 50.0 - 1.0).collect();
        let conv: Vec<f64> =
            (0..8 * 4 * 3 * 3).map(|k| f64::from((k * 13 % 29) as u8) / 14.0 - 1.0).collect();
        let tensors: Vec<(&str, Vec<usize>, Vec<u8>)> = vec![
            ("blocks.10.fc.weight", vec![24, 16], bytes_of(dtype, &lin)),
            ("blocks.10.fc.bias", vec![24], bytes_of(dtype, &[0.5; 24])),
            ("blocks.2.conv.weight", vec![8, 4, 3, 3], bytes_of(dtype, &conv)),
            ("blocks.2.norm.weight", vec![8], bytes_of(dtype, &[1.0; 8])),
            ("tcn.weight", vec![16, 8, 3], bytes_of(dtype, &[0.1; 16 * 8 * 3])),
            ("head.weight", vec![9, 16], bytes_of(dtype, &lin[..9 * 16])),
        ];
        let views: Vec<(&str, TensorView<'_>)> =
            tensors.iter().map(|(n, s, b)| (*n, TensorView::new(dtype, s.clone(), b).unwrap())).collect();
        let path = dir.join(format!("{dtype:?}.safetensors"));
        safetensors::serialize_to_file(views, &None, &path).unwrap();
        path
    }

    #[test]
    fn layers_are_2d_and_4d_weights_in_natural_name_order() {
        let dir = tempfile::tempdir().unwrap();
        let layers = layer_alphas(&write_checkpoint(dir.path(), Dtype::F32)).unwrap();
        let names: Vec<&str> = layers.iter().map(|l| l.name.as_str()).collect();
        // head (9 eigenvalues) is below min_evals; the norm, biases and Conv1d are no layers.
        assert_eq!(names, ["blocks.2.conv", "blocks.10.fc"]);
        assert_eq!((layers[0].n, layers[0].m, layers[0].num_evals), (8, 4, 36));
        assert_eq!((layers[1].n, layers[1].m, layers[1].num_evals), (24, 16, 16));
        assert!(layers.iter().all(|l| l.fit.is_some()));
    }

    #[test]
    fn every_float_dtype_reads_to_the_same_spectrum_up_to_its_precision() {
        let dir = tempfile::tempdir().unwrap();
        let reference = layer_alphas(&write_checkpoint(dir.path(), Dtype::F64)).unwrap();
        // Rounding the weights perturbs eigenvalues by about the dtype's relative precision.
        for (dtype, tol) in [(Dtype::F32, 1e-6), (Dtype::F16, 5e-3), (Dtype::BF16, 3e-2)] {
            let layers = layer_alphas(&write_checkpoint(dir.path(), dtype)).unwrap();
            for (l, r) in layers.iter().zip(&reference) {
                assert_eq!(l.name, r.name);
                assert!((l.lambda_max - r.lambda_max).abs() < tol * r.lambda_max, "{dtype:?} {l:?}");
            }
        }
    }

    #[test]
    fn other_dtypes_and_broken_files_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("int.safetensors");
        let data = vec![0u8; 4 * 12 * 10];
        let view = TensorView::new(Dtype::I32, vec![12, 10], &data).unwrap();
        safetensors::serialize_to_file([("fc.weight", view)], &None, &path).unwrap();
        let err = layer_alphas(&path).unwrap_err();
        assert!(matches!(&err, Error::Dtype { tensor, .. } if tensor == "fc.weight"), "{err}");

        let junk = dir.path().join("junk.safetensors");
        fs_err::write(&junk, b"not a checkpoint").unwrap();
        let err = layer_alphas(&junk).unwrap_err();
        assert!(
            matches!(err, Error::Safetensors { .. }) && err.to_string().contains("junk.safetensors"),
            "{err}"
        );
        assert!(matches!(layer_alphas(&dir.path().join("missing")), Err(Error::Io { .. })));
    }

    #[test]
    fn natural_order_compares_numbers_as_numbers() {
        let mut names = vec!["h.10.mlp", "h.2.mlp", "h.2.attn", "wte", "h.1"];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(names, ["h.1", "h.2.attn", "h.2.mlp", "h.10.mlp", "wte"]);
    }
}
