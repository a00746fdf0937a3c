//! Issue 17: a zoo that another process is writing, or that a killed command or a damaged disk
//! left behind. The lock is taken before anything is written; leftovers of killed commands are
//! removed by the next run; an empty result.json is reported with its file and a hint; a final
//! checkpoint whose manifest matches but whose tensors do not fit the model is skipped like a
//! SHA-256 mismatch.

use std::process::Stdio;

use crate::resume::{assert_same_as_reference, resume_args, EPOCHS};
use crate::util::{
    assert_untouched, checkpoint_name, command, model_dirs, path_arg, run, snapshot, strings, temp_entries,
    train_tiny,
};

const LOCKED: &str = "another phasezoo process";

#[test]
fn issue_17_a_train_refused_by_the_lock_changes_no_byte_even_with_a_grown_grid() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let zoo = tmp.path().join("zoo");
    train_tiny(tmp.path(), &zoo, 1, 5, 1);
    // Another process trains it (the lock is an flock, held here as a `train` would hold it).
    let held = pz_store::ZooDir::open(&zoo).and_then(|z| z.lock()).expect("lock");
    std::fs::write(zoo.join("models/.x.json.abc123.tmp"), "a live writer's temp file").expect("plant");
    let before = snapshot(&zoo);
    let mut args = crate::util::train_args(&zoo, 1, 5, 1);
    args.extend(strings(&["--set", "grid.seeds=[0,1,2]"]));
    let r = run(tmp.path(), &args);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains(LOCKED) && r.stderr.contains("hint:"), "{}", r.stderr);
    assert_untouched(&before, &zoo, "a train refused by the lock");
    drop(held);
}

#[test]
fn issue_17_two_trains_started_together_on_a_new_folder_give_the_loser_the_lock_message() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let zoo = tmp.path().join("zoo");
    let children: Vec<_> = (0..2)
        .map(|_| {
            command(tmp.path(), &resume_args(&zoo))
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn phasezoo")
        })
        .collect();
    let outcomes: Vec<(i32, String)> = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().expect("wait");
            (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
        })
        .collect();
    let (won, lost): (Vec<_>, Vec<_>) = outcomes.iter().partition(|(code, _)| *code == 0);
    assert_eq!((won.len(), lost.len()), (1, 1), "{outcomes:#?}");
    let (code, stderr) = lost[0];
    assert_eq!(*code, 1, "{stderr}");
    assert!(stderr.contains(LOCKED), "the loser is not told about the lock:\n{stderr}");
    assert_same_as_reference(&zoo, 0);
}

#[test]
fn issue_17_leftovers_of_killed_commands_anywhere_in_the_zoo_are_removed_by_the_next_train() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let zoo = tmp.path().join("zoo");
    train_tiny(tmp.path(), &zoo, 1, 5, 1);
    let model = model_dirs(&zoo)[0].clone();
    std::fs::create_dir_all(zoo.join("plots")).expect("plots");
    for planted in [
        zoo.join(".index.csv.a1b2c3.tmp"),
        zoo.join(".report.html.a1b2c3.html"),
        zoo.join("plots/.test_error.png.a1b2c3.png"),
        zoo.join("plots/.test_error.svg.a1b2c3.svg"),
        model.join(".metrics.json.a1b2c3.tmp"),
        model.join(checkpoint_name(1)).join(".manifest.json.a1b2c3.tmp"),
    ] {
        std::fs::write(&planted, "half").expect("plant");
    }
    assert_eq!(temp_entries(&zoo).len(), 6, "{:?}", temp_entries(&zoo));
    let r = run(tmp.path(), &crate::util::train_args(&zoo, 1, 5, 1));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(temp_entries(&zoo), Vec::<String>::new(), "leftovers survived the rerun");
}

#[test]
fn issue_17_an_empty_result_file_of_a_done_model_is_an_error_with_a_hint() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let zoo = tmp.path().join("zoo");
    train_tiny(tmp.path(), &zoo, 1, 5, 1);
    let model = model_dirs(&zoo)[0].clone();
    std::fs::write(model.join("result.json"), "").expect("empty result.json");
    let r = run(tmp.path(), &crate::util::train_args(&zoo, 1, 5, 1));
    assert_eq!(r.code, 1, "an empty result.json was taken for done:\n{}", r.stderr);
    assert!(r.stderr.contains("result.json: is empty"), "{}", r.stderr);
    assert!(r.stderr.contains("hint: ") && r.stderr.contains("phasezoo train"), "{}", r.stderr);
    let r = run(tmp.path(), &strings(&["report", &path_arg(&zoo)]));
    assert_eq!(r.code, 1, "report exits 0 on an empty result.json:\n{}", r.stderr);
    assert!(r.stderr.contains("result.json: is empty"), "{}", r.stderr);

    // The hint's recovery works.
    std::fs::remove_dir_all(&model).expect("delete the model's folder");
    let r = run(tmp.path(), &crate::util::train_args(&zoo, 1, 5, 1));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(model.join("result.json")).expect("retrained").lines().count(), 2);
}

#[test]
fn issue_17_a_final_checkpoint_of_the_wrong_shape_is_skipped_with_a_warning_naming_it() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let zoo = tmp.path().join("zoo");
    let r = run(tmp.path(), &resume_args(&zoo));
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Rewritten by the store's own writer: the manifest matches, one tensor has another shape.
    let victim = model_dirs(&zoo)[1].clone();
    let last = pz_store::Checkpoint { dir: victim.join(checkpoint_name(EPOCHS)), epoch: EPOCHS };
    let mut loaded = last.load().expect("intact");
    loaded.model[0].shape.push(1);
    pz_store::Checkpoint::write(&victim, &loaded.model, &loaded.optimizer, &loaded.state).expect("rewrite");
    // As a crash before the final status would leave it.
    for m in model_dirs(&zoo) {
        let status = format!("{{\"state\":\"running\",\"epoch\":{EPOCHS}}}");
        std::fs::write(m.join("status.json"), status).expect("status");
    }
    let mut c = command(tmp.path(), &resume_args(&zoo));
    c.env("RUST_LOG", "warn");
    let r = crate::util::run_command(c);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let warning = r.stderr.lines().find(|l| l.contains("damaged checkpoint"));
    let warning = warning.unwrap_or_else(|| panic!("no warning:\n{}", r.stderr));
    assert!(warning.contains(&path_arg(&last.model_file())), "the file is not named: {warning}");
    assert!(warning.contains("has shape") && warning.contains("the model expects"), "{warning}");
    assert_same_as_reference(&zoo, EPOCHS - 1);
}

/// A spec whose population cannot fit the machine (the issue's two examples) is refused with
/// the estimate and the keys to shrink, before the --out folder exists; the corrected spec then
/// trains there.
#[test]
fn issue_17_a_zoo_too_large_for_the_machine_is_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let zoo = tmp.path().join("zoo");
    for huge in ["problem.collocation_points=1000000000000", "model.hidden=[1000000, 1000000]"] {
        let mut args = crate::util::tiny_train(&zoo);
        args.extend(strings(&["--set", huge]));
        let r = run(tmp.path(), &args);
        assert_eq!(r.code, 1, "{huge}: {}", r.stderr);
        assert!(r.stderr.contains("more than the") && r.stderr.contains("of host memory"), "{}", r.stderr);
        assert!(r.stderr.contains("hint: shrink model.hidden, problem.collocation_points"), "{}", r.stderr);
        assert!(!zoo.exists(), "{huge}: the refused spec created {}", zoo.display());
    }
    train_tiny(tmp.path(), &zoo, 1, 2, 1);
}

/// When a checkpoint write fails and the index cannot be written either (a full disk fails
/// both), the error names the checkpoint: the first write that failed, not the index written
/// after it. Here a file blocks epoch 3's checkpoint and a folder blocks index.csv.
#[test]
fn issue_17_the_error_names_the_write_that_failed_first() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let zoo = tmp.path().join("zoo");
    train_tiny(tmp.path(), &zoo, 3, 5, 1);
    for model in model_dirs(&zoo) {
        // Back to epoch 2, as a run killed after that checkpoint leaves it.
        let results = std::fs::read_to_string(model.join("result.json")).expect("result.json");
        let kept: String =
            results.lines().filter(|l| !l.contains("\"epoch\":3")).map(|l| format!("{l}\n")).collect();
        std::fs::write(model.join("result.json"), kept).expect("results cut");
        std::fs::write(model.join("status.json"), r#"{"state":"running","epoch":2}"#).expect("status");
        let third = model.join(checkpoint_name(3));
        std::fs::remove_dir_all(&third).expect("checkpoint 3");
        std::fs::write(&third, "a file where the checkpoint folder goes").expect("blocker");
    }
    std::fs::remove_file(zoo.join("index.csv")).expect("index.csv");
    std::fs::create_dir_all(zoo.join("index.csv/blocker")).expect("a folder where index.csv goes");
    let r = run(tmp.path(), &crate::util::train_args(&zoo, 3, 5, 1));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains(&checkpoint_name(3)), "the checkpoint is named: {}", r.stderr);
    assert!(!r.stderr.contains("index.csv"), "the index is not what failed first: {}", r.stderr);
}
