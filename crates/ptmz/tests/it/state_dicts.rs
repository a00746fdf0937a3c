//! Real `torch.save` state dicts read back bit for bit, in every container torch writes.

use pz_ptmz::{read_state_dict, strip_module_prefix, Dtype};

use crate::{assert_matches, expected, fixtures, python};

/// The insertion order of `fixtures.py state_dict()`.
const ORDER: [&str; 29] = [
    "base",
    "base_t",
    "base_slice",
    "base_row",
    "base_col",
    "f64",
    "f16",
    "bf16",
    "bf16_t",
    "i64",
    "i32",
    "i16",
    "i8",
    "u8",
    "bool",
    "u16",
    "f8",
    "scalar",
    "empty",
    "param",
    "net.0.weight",
    "net.0.bias",
    "net.1.weight",
    "net.1.bias",
    "net.1.running_mean",
    "net.1.running_var",
    "net.1.num_batches_tracked",
    "net.2.weight",
    "net.2.bias",
];

fn made() -> Option<tempfile::TempDir> {
    let python = python("state_dicts")?;
    let dir = tempfile::tempdir().unwrap();
    fixtures(&python, "state_dicts", &[dir.path()]);
    Some(dir)
}

#[test]
fn every_container_torch_writes_reads_back_bit_for_bit_in_file_order() {
    let Some(dir) = made() else { return };
    let want = expected(&dir.path().join("expected.safetensors"));
    for file in ["zip.pt", "buffer.pt", "legacy.pt"] {
        let tensors = read_state_dict(&dir.path().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(tensors.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ORDER, "{file}");
        assert_matches(&tensors, &want);
    }
}

#[test]
fn views_sharing_a_storage_come_out_as_their_own_contiguous_values() {
    let Some(dir) = made() else { return };
    let tensors = read_state_dict(&dir.path().join("zip.pt")).unwrap();
    let get = |name: &str| tensors.iter().find(|t| t.name == name).unwrap();
    let f32s = |name: &str| {
        get(name).data.chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect::<Vec<_>>()
    };
    let base = f32s("base"); // [4, 6]
    assert_eq!(get("base_t").shape, vec![6, 4]);
    assert_eq!(f32s("base_t")[1], base[6], "base_t[0][1] = base[1][0]");
    assert_eq!(f32s("base_slice"), vec![base[6], base[8], base[10], base[12], base[14], base[16]]);
    assert_eq!(f32s("base_col"), vec![base[5], base[11], base[17], base[23]]);
    assert_eq!((get("scalar").shape.len(), get("empty").shape.clone()), (0, vec![0, 3]));
    assert_eq!(
        (get("u16").dtype, get("f8").dtype, get("bool").dtype),
        (Dtype::U16, Dtype::F8_E4M3, Dtype::BOOL)
    );
}

#[test]
fn a_ptmz_checkpoint_with_the_module_prefix_matches_after_stripping() {
    let Some(dir) = made() else { return };
    let path = dir.path().join("checkpoint_000001/checkpoints");
    let mut tensors = read_state_dict(&path).unwrap();
    assert!(tensors.iter().all(|t| t.name.starts_with("module.")));
    assert_eq!(strip_module_prefix(&mut tensors).unwrap(), ORDER.len());
    assert_eq!(tensors.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ORDER);
    assert_matches(&tensors, &expected(&dir.path().join("expected.safetensors")));
}
