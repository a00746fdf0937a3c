//! Issue 17: the read commands (`status`, `phases`, `plot --out`, `report --out`) work on a
//! read-only zoo and leave it as it was. Permission bits do not stop root, so besides making
//! the zoo read-only the test asserts what holds for every user: no byte, no entry, no inode
//! and no modification time of the zoo changes (an atomic rewrite of identical bytes would
//! still change the inode and its folder's time).

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::util::{assert_untouched, path_arg, run, snapshot, strings, train_tiny};

/// Relative path → (inode, modification time in ns) of every entry under `dir`, `dir` included.
fn stamps(dir: &Path) -> BTreeMap<String, (u64, i128)> {
    fn walk(root: &Path, path: &Path, out: &mut BTreeMap<String, (u64, i128)>) {
        let meta = std::fs::symlink_metadata(path).expect("metadata");
        let rel = path.strip_prefix(root).expect("under root").to_string_lossy().into_owned();
        let mtime = i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
        out.insert(rel, (meta.ino(), mtime));
        if meta.is_dir() {
            for entry in std::fs::read_dir(path).expect("read_dir") {
                walk(root, &entry.expect("dir entry").path(), out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Set or clear the write bits of everything under `dir` (folders last when clearing, so the
/// walk can still list them; first when setting).
fn set_writable(dir: &Path, writable: bool) {
    let meta = std::fs::symlink_metadata(dir).expect("metadata");
    let mode = |m: &std::fs::Metadata| {
        let bits = m.permissions().mode();
        std::fs::Permissions::from_mode(if writable { bits | 0o200 } else { bits & !0o222 })
    };
    if meta.is_dir() {
        if writable {
            std::fs::set_permissions(dir, mode(&meta)).expect("chmod");
        }
        for entry in std::fs::read_dir(dir).expect("read_dir") {
            set_writable(&entry.expect("dir entry").path(), writable);
        }
        if !writable {
            std::fs::set_permissions(dir, mode(&meta)).expect("chmod");
        }
    } else if !meta.file_type().is_symlink() {
        std::fs::set_permissions(dir, mode(&meta)).expect("chmod");
    }
}

/// Gives the write bits back however the test ends, so the temp dir can be removed.
struct Writable(PathBuf);

impl Drop for Writable {
    fn drop(&mut self) {
        set_writable(&self.0, true);
    }
}

#[test]
fn read_commands_work_on_a_read_only_zoo_and_change_nothing_in_it() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let zoo = tmp.path().join("zoo");
    train_tiny(tmp.path(), &zoo, 1, 2, 1);
    let (before, before_stamps) = (snapshot(&zoo), stamps(&zoo));
    set_writable(&zoo, false);
    let _restore = Writable(zoo.clone());
    #[allow(clippy::print_stderr)] // which half of the check ran must be visible
    if std::fs::write(zoo.join("probe"), b"").is_ok() {
        let _ = std::fs::remove_file(zoo.join("probe"));
        eprintln!("running as root: write bits do not stop writes; checking bytes, inodes and times");
        // The probe changed the folder's time: take the reference again.
        return check(tmp.path(), &zoo, &before, &stamps(&zoo));
    }
    check(tmp.path(), &zoo, &before, &before_stamps);
}

fn check(
    cwd: &Path,
    zoo: &Path,
    before: &crate::util::Snapshot,
    before_stamps: &BTreeMap<String, (u64, i128)>,
) {
    let z = path_arg(zoo);
    let elsewhere = cwd.join("out");
    let status = run(cwd, &[strings(&["status"]), vec![z.clone()]].concat());
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert!(status.stdout.lines().any(|l| l.trim_start().starts_with("total")), "{}", status.stdout);

    let phases = run(cwd, &[strings(&["phases"]), vec![z.clone()]].concat());
    assert_eq!(phases.code, 0, "{}", phases.stderr);
    assert!(phases.stdout.starts_with("first labels:"), "{}", phases.stdout);
    let json = run(cwd, &[strings(&["phases", "--json"]), vec![z.clone()]].concat());
    assert_eq!(json.code, 0, "{}", json.stderr);
    assert_eq!(crate::util::json(json.stdout.as_bytes())["cells"].as_array().map(Vec::len), Some(2));

    let plots = elsewhere.join("plots");
    let plot = run(
        cwd,
        &[strings(&["plot"]), vec![z.clone()], strings(&["--out"]), vec![path_arg(&plots)]].concat(),
    );
    assert_eq!(plot.code, 0, "{}", plot.stderr);
    for name in ["test_error", "train_loss"] {
        for ext in ["png", "svg"] {
            assert!(plots.join(format!("{name}.{ext}")).is_file(), "no {name}.{ext}");
        }
    }

    let page = elsewhere.join("report.html");
    let report =
        run(cwd, &[strings(&["report"]), vec![z], strings(&["--out"]), vec![path_arg(&page)]].concat());
    assert_eq!(report.code, 0, "{}", report.stderr);
    assert_eq!(report.stdout.trim(), format!("wrote {}", page.display()));
    assert!(std::fs::read_to_string(&page).expect("report.html").contains("id=\"panel-test_error\""));

    assert_untouched(before, zoo, "a read command");
    let after = stamps(zoo);
    let touched: Vec<&String> =
        before_stamps.keys().chain(after.keys()).filter(|k| before_stamps.get(*k) != after.get(*k)).collect();
    assert!(touched.is_empty(), "rewritten or touched in the zoo: {touched:?}");
}
