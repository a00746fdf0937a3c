//! Tensors ↔ the store's named byte buffers.

use pz_store::{Dtype, NamedTensor};
use tch::{Device, Kind, Tensor};

/// The libtorch kind of a spec dtype.
#[must_use]
pub fn kind_of(dtype: pz_spec::DType) -> Kind {
    match dtype {
        pz_spec::DType::Float32 => Kind::Float,
        pz_spec::DType::Float64 => Kind::Double,
    }
}

/// Copy a tensor (any device) into a named little-endian buffer.
///
/// # Panics
/// On a dtype the store has no name for (only float32/64 and int64 are used).
#[must_use]
pub fn tensor_to_named(name: &str, t: &Tensor) -> NamedTensor {
    let t = t.detach().to_device(Device::Cpu).contiguous();
    let dtype = match t.kind() {
        Kind::Float => Dtype::F32,
        Kind::Double => Dtype::F64,
        Kind::Int64 => Dtype::I64,
        k => panic!("no safetensors dtype for {k:?}"),
    };
    let numel = t.numel();
    let mut data = vec![0u8; numel * t.kind().elt_size_in_bytes()];
    t.copy_data_u8(&mut data, numel);
    #[allow(clippy::cast_sign_loss)]
    let shape = t.size().iter().map(|&d| d as usize).collect();
    NamedTensor { name: name.to_string(), dtype, shape, data }
}

/// Build a CPU tensor from a named buffer; `None` for dtypes not used by phasezoo.
#[must_use]
pub fn tensor_from_named(t: &NamedTensor) -> Option<Tensor> {
    let kind = match t.dtype {
        Dtype::F32 => Kind::Float,
        Dtype::F64 => Kind::Double,
        Dtype::I64 => Kind::Int64,
        _ => return None,
    };
    #[allow(clippy::cast_possible_wrap)]
    let shape: Vec<i64> = t.shape.iter().map(|&d| d as i64).collect();
    Some(Tensor::from_data_size(&t.data, &shape, kind))
}
