//! The values a decoded pickle can hold: plain Python data plus the few torch objects a state
//! dict is made of. Nothing here is ever called or executed.
//!
//! Containers are reference-counted, as Python objects are: the memo (`BINPUT`/`BINGET`) shares
//! them, so a dict filled after it was memoized is seen filled through the memo too, and a
//! pickle that references one tuple a million times costs one tuple, not a million copies.

use std::cell::RefCell;
use std::rc::Rc;

use crate::dtype::Dtype;

/// One Python value.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// An integer beyond i64 (the legacy format's magic number is 80 bits), as little-endian
    /// two's-complement bytes.
    BigInt(Rc<[u8]>),
    // Floats and bytes are decoded (a pickle may hold them anywhere) but a state dict never
    // looks inside them.
    Float(#[allow(dead_code)] f64),
    Str(Rc<str>),
    Bytes(#[allow(dead_code)] Rc<[u8]>),
    Tuple(Rc<[Value]>),
    /// Lists and sets (a set is only ever carried, never looked into).
    List(Rc<RefCell<Vec<Value>>>),
    /// `dict` and `collections.OrderedDict`, in insertion order. A repeated key is kept twice
    /// here; readers take the last value, as Python would.
    Dict(Rc<RefCell<Vec<(Value, Value)>>>),
    /// An allow-listed global (see `torch.rs`); the only things REDUCE may call.
    Global(Global),
    /// A storage named by a persistent id.
    Storage(Rc<StorageRef>),
    /// A tensor rebuilt by `_rebuild_tensor_v2`/`_v3`, not yet read from its storage.
    Tensor(Rc<TensorRef>),
}

impl Value {
    /// A short name of the value's kind for error messages (never the value itself: it may be
    /// huge or cyclic).
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::BigInt(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::Tuple(_) => "tuple",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
            Value::Global(_) => "global",
            Value::Storage(_) => "storage",
            Value::Tensor(_) => "tensor",
        }
    }

    pub(crate) fn new_dict() -> Value {
        Value::Dict(Rc::new(RefCell::new(Vec::new())))
    }

    pub(crate) fn new_list(items: Vec<Value>) -> Value {
        Value::List(Rc::new(RefCell::new(items)))
    }
}

/// The globals a state dict needs: the only names `GLOBAL`/`STACK_GLOBAL` may load.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Global {
    /// `collections.OrderedDict`: called with no arguments, then filled by SETITEMS.
    OrderedDict,
    /// `torch._utils._rebuild_tensor` (before torch 1.0): storage, offset, size, stride.
    RebuildTensor,
    /// `torch._utils._rebuild_tensor_v2`: a typed storage gives the dtype.
    RebuildTensorV2,
    /// `torch._utils._rebuild_tensor_v3`: an untyped storage plus a dtype object.
    RebuildTensorV3,
    /// `torch._utils._rebuild_parameter`/`_rebuild_parameter_with_state`: unwraps to its tensor.
    RebuildParameter,
    /// A storage class such as `torch.FloatStorage`; a label inside a persistent id, not callable.
    StorageClass(Rc<str>),
    /// A dtype object such as `torch.uint16`; an argument of `_rebuild_tensor_v3`, not callable.
    DtypeObject(Rc<str>),
}

/// What a storage holds, from the class named in its persistent id.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StorageKind {
    /// A typed storage (`FloatStorage`, ...): its numel counts elements of this type.
    Typed(Dtype),
    /// `UntypedStorage`: its numel counts bytes; the tensor's dtype comes from `_rebuild_tensor_v3`.
    Untyped,
    /// A storage class this crate cannot read (complex, quantized): refused when a tensor uses it.
    Unsupported(Rc<str>),
}

impl StorageKind {
    /// Bytes per unit of the storage's declared numel; `None` when unsupported.
    pub(crate) fn unit_size(&self) -> Option<usize> {
        match self {
            StorageKind::Typed(d) => Some(d.size()),
            StorageKind::Untyped => Some(1),
            StorageKind::Unsupported(_) => None,
        }
    }
}

/// A storage named by a persistent id `('storage', class, key, location, numel[, view])`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StorageRef {
    pub(crate) kind: StorageKind,
    /// The record name: `data/<key>` in a zip, or the key in the legacy format's storage list.
    pub(crate) key: Rc<str>,
    /// Declared length in units of `kind` (elements, or bytes when untyped).
    pub(crate) numel: u64,
    /// Legacy format only: this storage is `numel` units starting `offset` units into `key`'s
    /// storage (`view_metadata`; torch ≥1.0 always writes `None`).
    pub(crate) view_offset: u64,
}

/// A tensor's element type as the pickle names it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TensorDtype {
    Known(Dtype),
    /// A storage class or dtype object this crate cannot represent, by its torch name.
    Unsupported(Rc<str>),
}

/// A tensor view over a storage: read from the file only after the whole pickle decoded, so a
/// refused global stops everything before any storage is touched.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TensorRef {
    pub(crate) storage: Rc<StorageRef>,
    pub(crate) dtype: TensorDtype,
    /// In elements of `dtype`, as pickled (signed: checked when the tensor is read).
    pub(crate) offset: i64,
    pub(crate) shape: Vec<i64>,
    pub(crate) stride: Vec<i64>,
}
