//! Refused specs and options: exit 1, a message that names where and what, and an existing zoo
//! passed as --out left byte for byte as it was (a typo must never damage finished work).

use std::path::PathBuf;

use tempfile::TempDir;

use crate::util::{
    assert_untouched, path_arg, run, snapshot, strings, train_args, train_tiny, Run, Snapshot,
};

/// A freshly trained tiny zoo (1 epoch) and its snapshot.
struct Trained {
    tmp: TempDir,
    zoo: PathBuf,
    before: Snapshot,
}

fn trained() -> Trained {
    let tmp = tempfile::tempdir().expect("temp dir");
    let zoo = tmp.path().join("zoo");
    train_tiny(tmp.path(), &zoo, 1, 2, 1);
    let before = snapshot(&zoo);
    Trained { tmp, zoo, before }
}

impl Trained {
    /// The same tiny command plus `extra` arguments (later --set win), which must fail with
    /// exit 1 and leave the zoo untouched.
    fn refused(&self, extra: &[&str]) -> Run {
        let mut args = train_args(&self.zoo, 1, 2, 1);
        args.extend(strings(extra));
        self.refused_args(&args)
    }

    fn refused_args(&self, args: &[String]) -> Run {
        let r = run(self.tmp.path(), args);
        assert_eq!(r.code, 1, "expected exit 1 for {args:?}\nstderr:\n{}", r.stderr);
        assert_untouched(&self.before, &self.zoo, &format!("{args:?}"));
        r
    }
}

fn has_hint(stderr: &str) -> bool {
    stderr.lines().any(|l| l.starts_with("hint: ") && l.len() > "hint: ".len())
}

#[test]
fn an_unknown_set_key_is_named_with_a_hint_and_touches_nothing() {
    let t = trained();
    let r = t.refused(&["--set", "train.learning_rate=1"]);
    assert!(r.stderr.starts_with("error: zoo spec"), "{}", r.stderr);
    assert!(r.stderr.contains("`train.learning_rate`"), "{}", r.stderr);
    assert!(has_hint(&r.stderr), "no hint line:\n{}", r.stderr);
}

#[test]
fn a_wrong_type_in_a_spec_file_names_the_file_and_the_key() {
    let t = trained();
    let text = include_str!("../../../../examples/convection-small.toml");
    assert!(text.contains("\nepochs = 15\n"), "the example changed; update this test");
    let file = t.tmp.path().join("bad-epochs.toml");
    std::fs::write(&file, text.replace("\nepochs = 15\n", "\nepochs = \"many\"\n")).expect("write spec");
    // The tiny overrides, but not train.epochs: that would replace the wrong value.
    let mut args = crate::util::tiny_train(&t.zoo);
    args.push(path_arg(&file));
    let r = t.refused_args(&args);
    assert!(r.stderr.starts_with("error: zoo spec"), "{}", r.stderr);
    assert!(r.stderr.contains(&path_arg(&file)), "the file is not named:\n{}", r.stderr);
    assert!(r.stderr.contains("`train.epochs`"), "{}", r.stderr);
}

#[test]
fn an_empty_axis_is_named() {
    let t = trained();
    let r = t.refused(&["--set", "grid.load.values=[]"]);
    assert!(r.stderr.starts_with("error: zoo spec"), "{}", r.stderr);
    assert!(r.stderr.contains("`grid.load.values`"), "{}", r.stderr);
    assert!(has_hint(&r.stderr), "no hint line:\n{}", r.stderr);
}

#[test]
fn a_negative_learning_rate_on_the_temperature_axis_names_the_axis_entry() {
    let t = trained();
    let r = t.refused(&["--set", "grid.temperature.values=[1e-2,-1e-3]"]);
    assert!(r.stderr.starts_with("error: zoo spec"), "{}", r.stderr);
    assert!(r.stderr.contains("`grid.temperature.values[1]`"), "{}", r.stderr);
    assert!(r.stderr.contains("-0.001"), "the bad value is not shown:\n{}", r.stderr);
    assert!(has_hint(&r.stderr), "no hint line:\n{}", r.stderr);
}

#[test]
fn retraining_with_a_changed_recipe_is_refused_and_touches_nothing() {
    let t = trained();
    let r = t.refused(&["--set", "train.epochs=2"]);
    assert!(r.stderr.contains("different spec (train)"), "{}", r.stderr);
    assert!(has_hint(&r.stderr), "no hint line:\n{}", r.stderr);
}

/// `train` args asking for `device` instead of the CPU (--device may be given only once).
fn with_device(zoo: &std::path::Path, device: &str) -> Vec<String> {
    let mut args = train_args(zoo, 1, 2, 1);
    let i = args.iter().position(|a| a == "--device").expect("--device in tiny args");
    args[i + 1] = device.to_string();
    args
}

/// The tests assume GPU 7 does not exist; skip on an 8-GPU host rather than train there.
fn gpu7_exists() -> bool {
    std::path::Path::new("/dev/nvidia7").exists()
}

#[test]
fn a_missing_gpu_is_a_clear_error() {
    if gpu7_exists() {
        return;
    }
    let tmp = tempfile::tempdir().expect("temp dir");
    let r = run(tmp.path(), &with_device(&tmp.path().join("zoo"), "cuda:7"));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.starts_with("error: --device cuda:7:"), "{}", r.stderr);
    assert!(r.stderr.contains("CUDA device") && r.stderr.contains("visible"), "{}", r.stderr);
    assert!(has_hint(&r.stderr), "no hint line:\n{}", r.stderr);
}

#[test]
fn a_missing_gpu_touches_neither_an_existing_zoo_nor_a_new_out_folder() {
    if gpu7_exists() {
        return;
    }
    let t = trained();
    t.refused_args(&with_device(&t.zoo, "cuda:7"));
    let fresh = t.tmp.path().join("fresh");
    let r = run(t.tmp.path(), &with_device(&fresh, "cuda:7"));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(!fresh.exists(), "a refused run created {}", path_arg(&fresh));
}
