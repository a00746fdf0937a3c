//! Containers torch never writes: each is refused with the right error, before any tensor
//! memory is allocated (the 4 TiB storage would abort the test if it were).

use pz_ptmz::{read_state_dict, Error};

use crate::{fixtures, python};

#[test]
fn forged_and_damaged_checkpoints_are_refused_with_what_is_wrong() {
    let Some(python) = python("forged") else { return };
    let dir = tempfile::tempdir().unwrap();
    fixtures(&python, "forged", &[dir.path()]);
    let read = |file: &str| read_state_dict(&dir.path().join(file));

    // Controls: the forging path and the untruncated file are readable.
    let ok = read("ok.pt").unwrap();
    let values: Vec<f32> = ok[0].data.chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    assert_eq!((ok[0].shape.clone(), values), (vec![2, 3], vec![2.0, 4.0, 6.0, 3.0, 5.0, 7.0]));
    assert_eq!(read("whole.pt").unwrap()[0].shape, vec![1000]);

    let bad_tensor = |file: &str, needle: &str| match read(file) {
        Err(Error::BadTensor { tensor, message, .. }) => {
            assert_eq!(tensor, "w");
            assert!(message.contains(needle), "{file}: {message}");
        }
        other => panic!("{file}: expected a bad tensor, got {other:?}"),
    };
    bad_tensor("shape_overflows.pt", "overflows");
    bad_tensor("shape_beyond_storage.pt", "but its storage holds 12");
    bad_tensor("view_past_storage.pt", "reaches element 12");
    bad_tensor("negative_stride.pt", "negative stride");

    for (file, expected, got) in
        [("storage_shorter_than_declared.pt", 48, 20), ("storage_declared_huge.pt", 4 << 40, 48)]
    {
        match read(file) {
            Err(Error::StorageTooShort { expected: e, got: g, .. }) => {
                assert_eq!((e, g), (expected, got), "{file}")
            }
            other => panic!("{file}: expected a short storage, got {other:?}"),
        }
    }
    for (file, dtype) in [("quantized_dtype.pt", "QInt8Storage"), ("complex_dtype.pt", "ComplexFloatStorage")]
    {
        match read(file) {
            Err(Error::UnsupportedDtype { dtype: d, tensor, .. }) => {
                assert_eq!((d.as_str(), tensor.as_str()), (dtype, "w"))
            }
            other => panic!("{file}: expected an unsupported dtype, got {other:?}"),
        }
    }
    assert!(
        matches!(read("missing_storage.pt"), Err(Error::Corrupt { message, .. }) if message.contains("missing"))
    );
    for file in ["truncated.pt", "truncated_tail.pt"] {
        assert!(matches!(read(file), Err(Error::Zip { .. })), "{file}: {:?}", read(file));
    }
}

#[test]
fn a_file_that_is_no_checkpoint_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "just some text\n").unwrap();
    let err = read_state_dict(&path).unwrap_err().to_string();
    assert!(err.contains("notes.txt") && err.contains("neither a torch zip checkpoint"), "{err}");
}
