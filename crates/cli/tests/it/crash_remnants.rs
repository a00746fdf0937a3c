//! A run killed mid-write leaves a temporary file or `.checkpoint_*` folder behind; docs/FORMAT.md
//! says such leftovers are "ignored or cleaned later", and a zoo should not collect them.

use crate::resume::{killed_after_checkpoint, resume_args};
use crate::util::{run, temp_entries};

#[test]
fn a_rerun_cleans_up_what_a_killed_run_left_mid_write() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let zoo = tmp.path().join("zoo");
    killed_after_checkpoint(tmp.path(), &zoo, 2);
    // A kill rarely lands mid-write, so plant what one leaves: a temporary file, a temporary
    // checkpoint folder and a set-aside old checkpoint.
    let model = std::fs::read_dir(zoo.join("models"))
        .expect("models")
        .next()
        .expect("a model")
        .expect("entry")
        .path();
    std::fs::write(model.join(".status.json.abc123.tmp"), "{\"sta").expect("plant temp file");
    std::fs::create_dir(model.join(".checkpoint_000003.xyz")).expect("plant temp checkpoint");
    std::fs::write(model.join(".checkpoint_000003.xyz/model.safetensors"), [0u8; 7]).expect("plant");
    std::fs::create_dir(model.join(".trash-checkpoint_000001")).expect("plant trash");
    assert!(!temp_entries(&zoo).is_empty());
    let r = run(tmp.path(), &resume_args(&zoo));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(temp_entries(&zoo), Vec::<String>::new(), "leftovers survived the rerun");
}
