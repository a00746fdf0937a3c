//! Torch's names for element types, mapped to [`Dtype`] (the safetensors type `pz-store` uses).
//!
//! A checkpoint names its element type in one of two ways (torch/storage.py,
//! `_dtype_to_storage_type_map` and `_new_dtypes`): a legacy storage class (`torch.FloatStorage`)
//! for the dtypes that existed before torch 2.0, or an untyped storage plus a dtype object
//! (`torch.uint16`) for the newer ones. Both tables live here so the reader and the writer agree.

pub use safetensors::Dtype;

/// The legacy storage classes this crate reads and writes, with their element types.
const STORAGE_CLASSES: [(&str, Dtype); 10] = [
    ("DoubleStorage", Dtype::F64),
    ("FloatStorage", Dtype::F32),
    ("HalfStorage", Dtype::F16),
    ("BFloat16Storage", Dtype::BF16),
    ("LongStorage", Dtype::I64),
    ("IntStorage", Dtype::I32),
    ("ShortStorage", Dtype::I16),
    ("CharStorage", Dtype::I8),
    ("ByteStorage", Dtype::U8),
    ("BoolStorage", Dtype::BOOL),
];

/// `torch.<name>` dtype objects this crate reads, with their element types (aliases included:
/// `torch.float` is `torch.float32`).
const DTYPE_OBJECTS: [(&str, Dtype); 21] = [
    ("float64", Dtype::F64),
    ("double", Dtype::F64),
    ("float32", Dtype::F32),
    ("float", Dtype::F32),
    ("float16", Dtype::F16),
    ("half", Dtype::F16),
    ("bfloat16", Dtype::BF16),
    ("int64", Dtype::I64),
    ("long", Dtype::I64),
    ("int32", Dtype::I32),
    ("int", Dtype::I32),
    ("int16", Dtype::I16),
    ("short", Dtype::I16),
    ("int8", Dtype::I8),
    ("uint8", Dtype::U8),
    ("bool", Dtype::BOOL),
    ("uint16", Dtype::U16),
    ("uint32", Dtype::U32),
    ("uint64", Dtype::U64),
    ("float8_e4m3fn", Dtype::F8_E4M3),
    ("float8_e5m2", Dtype::F8_E5M2),
];

/// Dtype objects torch has but this crate cannot represent. They are still let through the
/// allow-list (a dtype object runs nothing), so the error says "unsupported dtype
/// `complex64`" rather than a misleading "refused global".
const UNSUPPORTED_DTYPE_OBJECTS: [&str; 17] = [
    "complex32",
    "complex64",
    "complex128",
    "cfloat",
    "cdouble",
    "chalf",
    "float8_e5m2fnuz",
    "float8_e4m3fnuz",
    "float8_e8m0fnu",
    "float4_e2m1fn_x2",
    "qint8",
    "qint32",
    "quint8",
    "quint4x2",
    "quint2x4",
    "bits8",
    "bits16",
];

/// The element type a `torch.<name>Storage` class holds; `None` for classes this crate does not
/// read (complex, quantized, unknown).
#[must_use]
pub fn dtype_of_storage_class(name: &str) -> Option<Dtype> {
    STORAGE_CLASSES.iter().find(|(n, _)| *n == name).map(|(_, d)| *d)
}

/// The legacy storage class torch writes for `dtype`, or `None` where torch 2.x writes an
/// untyped storage plus a dtype object instead (`_rebuild_tensor_v3`).
#[must_use]
pub fn storage_class_of(dtype: Dtype) -> Option<&'static str> {
    STORAGE_CLASSES.iter().find(|(_, d)| *d == dtype).map(|(n, _)| *n)
}

/// The element type of the dtype object `torch.<name>`, if this crate supports it.
#[must_use]
pub fn dtype_of_object(name: &str) -> Option<Dtype> {
    DTYPE_OBJECTS.iter().find(|(n, _)| *n == name).map(|(_, d)| *d)
}

/// The canonical `torch.<name>` of `dtype` (the first alias in the table).
#[must_use]
pub fn object_name_of(dtype: Dtype) -> Option<&'static str> {
    DTYPE_OBJECTS.iter().find(|(_, d)| *d == dtype).map(|(n, _)| *n)
}

/// Whether `torch.<name>` is a dtype object at all (supported or not).
pub(crate) fn is_dtype_object(name: &str) -> bool {
    dtype_of_object(name).is_some() || UNSUPPORTED_DTYPE_OBJECTS.contains(&name)
}

/// Whether `name` looks like a torch storage class (`FloatStorage`, `QInt8Storage`, ...).
/// Such a class only labels a storage inside a persistent id; it is never called, so letting
/// unknown ones through costs nothing and gives an "unsupported dtype" error that names it.
pub(crate) fn is_storage_class(name: &str) -> bool {
    name.strip_suffix("Storage")
        .is_some_and(|stem| !stem.is_empty() && stem.chars().all(|c| c.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_storage_class_round_trips_through_its_dtype() {
        for (name, dtype) in STORAGE_CLASSES {
            assert_eq!(storage_class_of(dtype), Some(name));
            assert_eq!(dtype_of_storage_class(name), Some(dtype));
        }
    }

    #[test]
    fn every_supported_dtype_has_one_canonical_object_name() {
        for (_, dtype) in DTYPE_OBJECTS {
            let name = object_name_of(dtype).unwrap();
            assert_eq!(dtype_of_object(name), Some(dtype));
        }
    }

    #[test]
    fn storage_class_shapes_are_recognised_without_a_list() {
        assert!(is_storage_class("QInt8Storage") && is_storage_class("FloatStorage"));
        assert!(
            !is_storage_class("Storage") && !is_storage_class("system") && !is_storage_class("a.bStorage")
        );
        assert!(is_dtype_object("complex64") && !is_dtype_object("system"));
    }
}
