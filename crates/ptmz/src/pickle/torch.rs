//! The torch meaning of a state-dict pickle: the allow-list of globals, what calling each one
//! builds, and `persistent_load` for storages. This is the security boundary of the crate.
//!
//! The allow-list is checked when a global is *loaded* (`GLOBAL`, `STACK_GLOBAL`, `INST`), not
//! when it is called: a refused name never reaches the stack, so no later opcode can do
//! anything with it. Every allowed global is interpreted here by data-only code; Python's
//! objects are never imported, let alone run.
//!
//! Reference: torch/serialization.py (`_save`, `_legacy_save`: the persistent ids) and
//! torch/_utils.py (`_rebuild_tensor_v2`, `_rebuild_tensor_v3`, `_rebuild_parameter`).

use std::rc::Rc;

use super::value::{Global, StorageKind, StorageRef, TensorDtype, TensorRef, Value};
use crate::dtype::{dtype_of_object, dtype_of_storage_class, is_dtype_object, is_storage_class};

/// The allowed global for `module.name`, or `None`: the caller refuses it.
pub(crate) fn resolve_global(module: &str, name: &str) -> Option<Global> {
    match (module, name) {
        ("collections", "OrderedDict") => Some(Global::OrderedDict),
        ("torch._utils", "_rebuild_tensor") => Some(Global::RebuildTensor),
        ("torch._utils", "_rebuild_tensor_v2") => Some(Global::RebuildTensorV2),
        ("torch._utils", "_rebuild_tensor_v3") => Some(Global::RebuildTensorV3),
        ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => {
            Some(Global::RebuildParameter)
        }
        ("torch" | "torch.storage", "UntypedStorage" | "TypedStorage") => {
            Some(Global::StorageClass(name.into()))
        }
        ("torch", _) if is_storage_class(name) => Some(Global::StorageClass(name.into())),
        ("torch", _) if is_dtype_object(name) => Some(Global::DtypeObject(name.into())),
        _ => None,
    }
}

/// The Python 3 module a protocol-2 pickle's Python 2 module name is loaded as (CPython
/// `_compat_pickle.IMPORT_MAPPING`, the entries that matter for code execution): torch writes
/// protocol 2, so `builtins.eval` is spelled `__builtin__.eval` and `subprocess.Popen`
/// `commands.Popen`. Only used to make refusals readable; the allow-list matches the names as
/// written, so an alias can never reach an allowed global.
pub(crate) fn python3_module(module: &str) -> Option<&'static str> {
    Some(match module {
        "__builtin__" => "builtins",
        "copy_reg" => "copyreg",
        "commands" => "subprocess",
        "cPickle" => "pickle",
        "thread" => "_thread",
        "UserDict" | "UserList" | "UserString" => "collections",
        "StringIO" | "cStringIO" => "io",
        _ => return None,
    })
}

/// REDUCE: `callable(*args)` for an allowed global.
pub(crate) fn call(global: &Global, args: &[Value]) -> Result<Value, String> {
    match global {
        Global::OrderedDict if args.is_empty() => Ok(Value::new_dict()),
        Global::OrderedDict => Err("collections.OrderedDict called with arguments".into()),
        Global::RebuildTensor => rebuild_tensor(args, 4, None),
        Global::RebuildTensorV2 if matches!(args.len(), 6 | 7) => rebuild_tensor(args, 4, None),
        Global::RebuildTensorV3 if matches!(args.len(), 7 | 8) => {
            let dtype = match &args[6] {
                Value::Global(Global::DtypeObject(name)) => dtype_of_object(name)
                    .map_or_else(|| TensorDtype::Unsupported(name.clone()), TensorDtype::Known),
                other => return Err(format!("_rebuild_tensor_v3 dtype is a {}, not a dtype", other.kind())),
            };
            rebuild_tensor(args, 4, Some(dtype))
        }
        Global::RebuildParameter => match args.first() {
            Some(tensor @ Value::Tensor(_)) if matches!(args.len(), 3 | 4) => Ok(tensor.clone()),
            _ => Err("_rebuild_parameter expects (tensor, requires_grad, hooks[, state])".into()),
        },
        Global::RebuildTensorV2 | Global::RebuildTensorV3 => {
            Err(format!("tensor rebuild called with {} arguments", args.len()))
        }
        Global::StorageClass(name) | Global::DtypeObject(name) => {
            Err(format!("torch.{name} is not callable"))
        }
    }
}

/// NEWOBJ/NEWOBJ_EX: `cls.__new__(cls, *args)`; only an empty OrderedDict is ever built so.
pub(crate) fn new_object(class: &Global) -> Result<Value, String> {
    match class {
        Global::OrderedDict => Ok(Value::new_dict()),
        _ => Err("only collections.OrderedDict may be built with NEWOBJ".into()),
    }
}

/// `(storage, storage_offset, size, stride, ...)` into a [`TensorRef`]; `dtype` is given by
/// `_rebuild_tensor_v3`, else taken from the typed storage.
fn rebuild_tensor(args: &[Value], min_len: usize, dtype: Option<TensorDtype>) -> Result<Value, String> {
    if args.len() < min_len {
        return Err(format!("tensor rebuild called with {} arguments", args.len()));
    }
    let Value::Storage(storage) = &args[0] else {
        return Err(format!("tensor storage is a {}, not a persistent storage", args[0].kind()));
    };
    let dtype = match (dtype, &storage.kind) {
        (Some(d), StorageKind::Untyped | StorageKind::Typed(_)) => d,
        (None, StorageKind::Typed(d)) => TensorDtype::Known(*d),
        (_, StorageKind::Unsupported(name)) => TensorDtype::Unsupported(name.clone()),
        (None, StorageKind::Untyped) => {
            return Err("untyped storage without a dtype (_rebuild_tensor_v2)".into())
        }
    };
    let offset = int(&args[1], "storage_offset")?;
    let shape = ints(&args[2], "size")?;
    let stride = ints(&args[3], "stride")?;
    if shape.len() != stride.len() {
        return Err(format!("size has {} dimensions but stride has {}", shape.len(), stride.len()));
    }
    Ok(Value::Tensor(Rc::new(TensorRef { storage: storage.clone(), dtype, offset, shape, stride })))
}

/// BINPERSID: a storage from `('storage', class, key, location, numel[, view_metadata])`.
/// Nothing is read here; the reader fetches the bytes once the pickle is fully decoded.
pub(crate) fn persistent_load(pid: &Value) -> Result<Value, String> {
    let Value::Tuple(items) = pid else {
        return Err(format!("persistent id is a {}, not a tuple", pid.kind()));
    };
    if !matches!(items.first(), Some(Value::Str(tag)) if &**tag == "storage") || !matches!(items.len(), 5 | 6)
    {
        return Err("persistent id is not ('storage', class, key, location, numel[, view])".into());
    }
    let kind = match &items[1] {
        Value::Global(Global::StorageClass(name)) => match &**name {
            "UntypedStorage" => StorageKind::Untyped,
            _ => dtype_of_storage_class(name)
                .map_or_else(|| StorageKind::Unsupported(name.clone()), StorageKind::Typed),
        },
        other => return Err(format!("persistent id names a {}, not a storage class", other.kind())),
    };
    let key = match &items[2] {
        Value::Str(key) => key.clone(),
        other => return Err(format!("storage key is a {}, not a str", other.kind())),
    };
    let numel = non_negative(&items[4], "storage numel")?;
    let (numel, view_offset) = match items.get(5) {
        None | Some(Value::None) => (numel, 0),
        Some(Value::Tuple(view)) if view.len() == 3 => {
            let offset = non_negative(&view[1], "view offset")?;
            let size = non_negative(&view[2], "view size")?;
            if offset.checked_add(size).is_none_or(|end| end > numel) {
                return Err(format!("storage view {offset}+{size} runs past its storage of {numel}"));
            }
            (size, offset)
        }
        Some(other) => return Err(format!("storage view metadata is a {}", other.kind())),
    };
    Ok(Value::Storage(Rc::new(StorageRef { kind, key, numel, view_offset })))
}

fn int(value: &Value, what: &str) -> Result<i64, String> {
    match value {
        Value::Int(i) => Ok(*i),
        Value::Bool(b) => Ok(i64::from(*b)),
        Value::BigInt(_) => Err(format!("{what} does not fit in 64 bits")),
        other => Err(format!("{what} is a {}, not an int", other.kind())),
    }
}

fn non_negative(value: &Value, what: &str) -> Result<u64, String> {
    let i = int(value, what)?;
    u64::try_from(i).map_err(|_| format!("{what} is negative ({i})"))
}

fn ints(value: &Value, what: &str) -> Result<Vec<i64>, String> {
    let items: Vec<Value> = match value {
        Value::Tuple(items) => items.to_vec(),
        Value::List(items) => items.borrow().clone(),
        other => return Err(format!("{what} is a {}, not a tuple", other.kind())),
    };
    items.iter().map(|v| int(v, what)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_running_globals_are_not_resolved() {
        for (module, name) in [
            ("posix", "system"),
            ("os", "system"),
            ("builtins", "eval"),
            ("builtins", "exec"),
            ("subprocess", "Popen"),
            ("torch", "load"),
            ("torch._utils", "_rebuild_device_tensor_from_numpy"),
            ("torch.serialization", "_get_layout"),
            ("collections", "defaultdict"),
            ("torch", "FloatStorage.__init__"),
        ] {
            assert_eq!(resolve_global(module, name), None, "{module}.{name}");
        }
    }

    #[test]
    fn labels_are_not_callable() {
        let storage = resolve_global("torch", "FloatStorage").unwrap();
        assert!(call(&storage, &[]).unwrap_err().contains("not callable"));
        let dtype = resolve_global("torch", "uint16").unwrap();
        assert!(call(&dtype, &[Value::Int(1)]).unwrap_err().contains("not callable"));
    }

    #[test]
    fn a_view_past_its_root_storage_is_refused() {
        let pid = Value::Tuple(Rc::from(vec![
            Value::Str("storage".into()),
            Value::Global(Global::StorageClass("FloatStorage".into())),
            Value::Str("0".into()),
            Value::Str("cpu".into()),
            Value::Int(4),
            Value::Tuple(Rc::from(vec![Value::Str("1".into()), Value::Int(3), Value::Int(2)])),
        ]));
        assert!(persistent_load(&pid).unwrap_err().contains("runs past"));
    }
}
