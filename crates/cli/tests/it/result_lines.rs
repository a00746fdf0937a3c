//! A resumed model keeps the result.json lines before its resume point byte for byte
//! (docs/FORMAT.md: "training never rewrites a line it did not produce").

use crate::resume::{assert_resumed, resume_args, EPOCHS};
use crate::util::{checkpoint_name, model_dirs, run};

#[test]
fn resume_keeps_earlier_result_lines_byte_for_byte() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let zoo = tmp.path().join("zoo");
    // These settings' numbers are known to include values the default parser misreads.
    let args = resume_args(&zoo);
    let r = run(tmp.path(), &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let read = |m: &std::path::Path| std::fs::read_to_string(m.join("result.json")).expect("result.json");
    let before: Vec<String> = model_dirs(&zoo).iter().map(|m| read(m)).collect();

    // The state a crash leaves between the last epoch's result line and its checkpoint.
    for m in model_dirs(&zoo) {
        std::fs::remove_dir_all(m.join(checkpoint_name(EPOCHS))).expect("remove last checkpoint");
        let status = format!("{{\"state\":\"running\",\"epoch\":{}}}", EPOCHS - 1);
        std::fs::write(m.join("status.json"), status).expect("write status");
    }
    let r = run(tmp.path(), &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(assert_resumed(&zoo), EPOCHS - 1);

    for (m, want) in model_dirs(&zoo).iter().zip(&before) {
        let have = read(m);
        let first = want.lines().zip(have.lines()).enumerate().find(|(_, (a, b))| a != b);
        if let Some((epoch, (a, b))) = first {
            panic!("{}: epoch {epoch} was rewritten:\n  before {a}\n  after  {b}", m.display());
        }
        assert_eq!(want.lines().count(), have.lines().count(), "{}", m.display());
    }
}
