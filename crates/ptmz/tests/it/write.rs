//! The writer: its files read back through our reader and through real `torch.load`.

use pz_ptmz::{read_state_dict, write_state_dict, Dtype, Tensor};

use crate::{fixtures, python};

#[test]
fn written_state_dicts_read_back_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let tensors = vec![
        Tensor { name: "fc.weight".into(), dtype: Dtype::F32, shape: vec![2, 3], data: (0..24).collect() },
        Tensor {
            name: "scalar".into(),
            dtype: Dtype::I64,
            shape: vec![],
            data: vec![7, 0, 0, 0, 0, 0, 0, 0],
        },
        Tensor { name: "empty".into(), dtype: Dtype::BF16, shape: vec![0, 4], data: vec![] },
        Tensor { name: "u16".into(), dtype: Dtype::U16, shape: vec![2], data: vec![1, 2, 3, 4] },
    ];
    let path = dir.path().join("checkpoints");
    write_state_dict(&path, &tensors).unwrap();
    assert_eq!(read_state_dict(&path).unwrap(), tensors);
    write_state_dict(&path, &[]).unwrap(); // over the old file, atomically
    assert_eq!(read_state_dict(&path).unwrap(), vec![]);
}

#[test]
fn pytorch_loads_an_exported_state_dict_with_weights_only() {
    let Some(python) = python("write") else { return };
    let dir = tempfile::tempdir().unwrap();
    fixtures(&python, "state_dicts", &[dir.path()]);
    let tensors = read_state_dict(&dir.path().join("zip.pt")).unwrap();
    let exported = dir.path().join("exported.pt");
    write_state_dict(&exported, &tensors).unwrap();
    let out = fixtures(&python, "check", &[&exported, &dir.path().join("expected.safetensors")]);
    assert!(out.contains(&format!("loaded {} tensors", tensors.len())), "{out}");
}
