//! Checkpoint tensors (the store's named little-endian bytes) ↔ [`pz_align::StateDict`]
//! (host f32/i64 vectors), the form averaging and alignment work on.

use pz_align::{Data, StateDict, Tensor};
use pz_store::{Dtype, NamedTensor};

use crate::Error;

/// A checkpoint's model tensors as a state dict. Float64 tensors become f32 (the image models
/// compute in float32; averaging accumulates in f64 anyway).
///
/// # Errors
/// A dtype other than f32, f64 and i64 ([`Error::Weights`], naming the tensor).
pub fn to_state_dict(tensors: &[NamedTensor]) -> Result<StateDict, Error> {
    tensors
        .iter()
        .map(|t| {
            let tensor = match t.dtype {
                Dtype::F32 => Tensor::f32(&t.shape, words(&t.data, f32::from_le_bytes)),
                #[allow(clippy::cast_possible_truncation)] // documented: f32 state dicts
                Dtype::F64 => Tensor::f32(
                    &t.shape,
                    words(&t.data, f64::from_le_bytes).into_iter().map(|v| v as f32).collect(),
                ),
                Dtype::I64 => Tensor::i64(&t.shape, words(&t.data, i64::from_le_bytes)),
                other => {
                    return Err(Error::Weights(format!(
                        "tensor {} has dtype {other:?}: not averaged",
                        t.name
                    )))
                }
            };
            Ok((t.name.clone(), tensor))
        })
        .collect()
}

/// A state dict as checkpoint tensors (f32 and i64), sorted by name as safetensors stores them.
#[must_use]
pub fn to_named(state: &StateDict) -> Vec<NamedTensor> {
    state
        .iter()
        .map(|(name, t)| {
            let (dtype, data) = match &t.data {
                Data::F32(v) => (Dtype::F32, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
                Data::I64(v) => (Dtype::I64, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            };
            NamedTensor { name: name.clone(), dtype, shape: t.shape.clone(), data }
        })
        .collect()
}

/// Little-endian words of `N` bytes decoded by `from`.
fn words<T, const N: usize>(bytes: &[u8], from: fn([u8; N]) -> T) -> Vec<T> {
    bytes.chunks_exact(N).map(|c| from(c.try_into().expect("chunks of N"))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_dicts_round_trip_through_checkpoint_tensors_bit_for_bit() {
        let mut s = StateDict::new();
        s.insert("a.weight".into(), Tensor::f32(&[2, 2], vec![1.0, -0.0, f32::MIN_POSITIVE, 3.5e-7]));
        s.insert("bn.num_batches_tracked".into(), Tensor::i64(&[], vec![123_456_789_012]));
        assert_eq!(to_state_dict(&to_named(&s)).unwrap(), s);
    }

    #[test]
    fn float64_tensors_are_rounded_to_f32_and_other_dtypes_refused() {
        let t = NamedTensor {
            name: "x".into(),
            dtype: Dtype::F64,
            shape: vec![2],
            data: [0.5f64, 1.0 / 3.0].iter().flat_map(|v| v.to_le_bytes()).collect(),
        };
        let s = to_state_dict(&[t]).unwrap();
        #[allow(clippy::cast_possible_truncation)]
        let third = (1.0f64 / 3.0) as f32;
        assert_eq!(s["x"].as_f32().unwrap(), [0.5, third]);
        let bad = NamedTensor { name: "y".into(), dtype: Dtype::BF16, shape: vec![1], data: vec![0, 0] };
        assert!(matches!(to_state_dict(&[bad]), Err(Error::Weights(m)) if m.contains('y')));
    }
}
