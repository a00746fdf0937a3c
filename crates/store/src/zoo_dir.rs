//! The zoo folder: `FORMAT`, `zoo.toml`, `index.csv`, `models/`, and the training lock.

use std::path::{Path, PathBuf};

use pz_spec::{ModelId, ZooSpec};

use crate::{atomic_write, Error, ModelDir, Result};

/// Version of the on-disk layout written by this build (docs/FORMAT.md).
pub const FORMAT_VERSION: u32 = 1;
const FORMAT_FILE: &str = "FORMAT";
const SPEC_FILE: &str = "zoo.toml";
const LOCK_FILE: &str = ".lock";

/// A zoo folder.
#[derive(Debug, Clone)]
pub struct ZooDir {
    /// The folder.
    pub path: PathBuf,
    /// The resolved spec stored in `zoo.toml`.
    pub spec: ZooSpec,
}

/// Held while a process trains a zoo; released when dropped or when the process dies.
#[derive(Debug)]
pub struct ZooLock {
    _file: std::fs::File,
}

impl ZooDir {
    /// Open an existing zoo, or create one for `spec`, holding the lock only for the call (tests,
    /// and tools that are the zoo's only writer). Commands use [`ZooDir::create_or_open_locked`]
    /// and keep the lock while they write.
    ///
    /// # Errors
    /// As [`ZooDir::create_or_open_locked`].
    pub fn create_or_open(path: &Path, spec: &ZooSpec) -> Result<Self> {
        Ok(Self::create_or_open_locked(path, spec)?.0)
    }

    /// Take the zoo's lock, then open the zoo at `path`, or create one for `spec`; returns the
    /// zoo and the lock, which the caller holds while it writes. An existing zoo must have been
    /// made by a spec that trains the same models (grid, checkpoints and run settings may
    /// change; the stored `zoo.toml` then takes the new spec).
    ///
    /// Nothing is written before the lock is held and every check has passed, so a refused call
    /// (locked, changed spec, foreign folder) leaves the folder as it was; two processes
    /// starting on a new folder at once get the zoo and [`Error::Locked`]. Files a killed
    /// writer left behind are removed ([`ZooDir::remove_partial_writes`]).
    ///
    /// # Errors
    /// [`Error::Locked`] when another process holds the lock; [`Error::SpecChanged`] naming the
    /// changed sections; [`Error::NotAZoo`] for a non-empty folder without `zoo.toml`; I/O
    /// errors.
    pub fn create_or_open_locked(path: &Path, spec: &ZooSpec) -> Result<(Self, ZooLock)> {
        // A folder with foreign files and no lock file is refused before the lock file would be
        // added to it. A zoo being created by another process already has its lock file: that
        // one is created first.
        if !path.join(SPEC_FILE).exists() && !path.join(LOCK_FILE).exists() && !is_empty_or_missing(path)? {
            return Err(not_a_zoo(path));
        }
        fs_err::create_dir_all(path)?;
        let lock = lock_file(path)?;
        let spec_path = path.join(SPEC_FILE);
        let text = spec.to_toml();
        if spec_path.exists() {
            let existing = Self::open(path)?;
            let changes = trained_differences(&existing.spec, spec);
            if !changes.is_empty() {
                return Err(Error::SpecChanged { path: spec_path, changes: changes.join(", ") });
            }
        } else if !holds_no_zoo_files(path)? {
            return Err(not_a_zoo(path));
        }
        let zoo = Self { path: path.into(), spec: spec.clone() };
        let removed = zoo.remove_partial_writes()?;
        if removed > 0 {
            tracing::info!(zoo = %path.display(), removed, "removed partial writes of an interrupted run");
        }
        fs_err::create_dir_all(path.join("models"))?;
        write_if_changed(
            &path.join(FORMAT_FILE),
            format!("phasezoo zoo format {FORMAT_VERSION}\n").as_bytes(),
        )?;
        write_if_changed(&spec_path, text.as_bytes())?;
        Ok((zoo, lock))
    }

    /// Open an existing zoo.
    ///
    /// # Errors
    /// Not a zoo, a newer format, or an invalid `zoo.toml`.
    pub fn open(path: &Path) -> Result<Self> {
        let format_path = path.join(FORMAT_FILE);
        let format = fs_err::read_to_string(&format_path).map_err(|_| Error::NotAZoo {
            path: path.into(),
            message: "is not a phasezoo zoo (no FORMAT file)\n  hint: pass the folder given to `phasezoo train --out`".into(),
        })?;
        let version: u32 = format
            .trim()
            .strip_prefix("phasezoo zoo format ")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| Error::corrupt(&format_path, "expected `phasezoo zoo format <N>`"))?;
        if version > FORMAT_VERSION {
            return Err(Error::NotAZoo {
                path: format_path,
                message: format!("format {version} is newer than this phasezoo reads ({FORMAT_VERSION})\n  hint: update phasezoo"),
            });
        }
        let spec_path = path.join(SPEC_FILE);
        let text = fs_err::read_to_string(&spec_path)?;
        let spec = ZooSpec::parse(&text, &spec_path.display().to_string(), &[])
            .map_err(|e| Error::corrupt(&spec_path, e.to_string()))?;
        Ok(Self { path: path.into(), spec })
    }

    /// The folder of a model.
    #[must_use]
    pub fn model(&self, id: &ModelId) -> ModelDir {
        ModelDir::new(&self.path.join("models"), id)
    }

    /// `index.csv`.
    #[must_use]
    pub fn index_path(&self) -> PathBuf {
        self.path.join("index.csv")
    }

    /// Take the lock of an existing zoo (for writers of an opened zoo, e.g. `metrics`), failing
    /// at once if another process holds it.
    ///
    /// # Errors
    /// [`Error::Locked`] when held elsewhere.
    pub fn lock(&self) -> Result<ZooLock> {
        lock_file(&self.path)
    }

    /// Remove what killed writers left anywhere in the zoo: temporary files of atomic writes
    /// (`.<name>.<random>.tmp`) and of the report's pictures and page (`.<name>.<random>.png`,
    /// `.svg`, `.html`), temporary and set-aside checkpoint folders (`.checkpoint_*`,
    /// `.trash-*`). Returns how many were removed. Only call it while holding the zoo's lock,
    /// when no writer of this zoo is alive.
    ///
    /// # Errors
    /// A folder cannot be listed or an entry cannot be removed.
    pub fn remove_partial_writes(&self) -> Result<usize> {
        crate::atomic::remove_partial_writes(&self.path, true)
    }

    /// Whether another process is training this zoo right now. Creates nothing: a zoo without
    /// a lock file has no writer (a writer creates it before anything else), so asking leaves a
    /// zoo copied without its dot-files as it was.
    #[must_use]
    pub fn is_locked(&self) -> bool {
        self.path.join(LOCK_FILE).exists() && matches!(self.lock(), Err(Error::Locked { .. }))
    }
}

/// Take the lock on `dir/.lock` (created if missing), failing at once if it is held. `flock`
/// locks belong to an open file description, so two opens conflict even within one process.
fn lock_file(dir: &Path) -> Result<ZooLock> {
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot open {}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(ZooLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked { path }),
        Err(std::fs::TryLockError::Error(e)) => Err(e.into()),
    }
}

/// Whether `dir` is missing or holds nothing but the lock file.
fn is_empty_or_missing(dir: &Path) -> Result<bool> {
    let entries = match fs_err::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(e.into()),
    };
    for entry in entries {
        if entry?.file_name() != LOCK_FILE {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Whether `dir` holds at most what a creation killed before `zoo.toml` leaves: the lock file,
/// `FORMAT`, an empty `models/` and partial writes.
fn holds_no_zoo_files(dir: &Path) -> Result<bool> {
    for entry in fs_err::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let leftover = name == LOCK_FILE
            || name == FORMAT_FILE
            || name.to_str().is_some_and(crate::atomic::is_partial_write)
            || (name == "models" && fs_err::read_dir(entry.path())?.next().is_none());
        if !leftover {
            return Ok(false);
        }
    }
    Ok(true)
}

fn not_a_zoo(path: &Path) -> Error {
    Error::NotAZoo {
        path: path.into(),
        message: "exists, is not empty and holds no zoo.toml\n  hint: choose another --out folder".into(),
    }
}

/// Write `bytes` atomically unless the file already holds exactly them.
fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<()> {
    match fs_err::read(path) {
        Ok(old) if old == bytes => Ok(()),
        _ => atomic_write(path, bytes),
    }
}

/// Sections whose change would alter the models already trained.
fn trained_differences(old: &ZooSpec, new: &ZooSpec) -> Vec<String> {
    let mut changes = Vec::new();
    if old.model != new.model {
        changes.push("model".to_string());
    }
    if old.problem != new.problem {
        changes.push("problem".to_string());
    }
    if old.train != new.train {
        changes.push("train".to_string());
    }
    if old.grid.load.key != new.grid.load.key {
        changes.push("grid.load.key".to_string());
    }
    if old.grid.temperature.key != new.grid.temperature.key {
        changes.push("grid.temperature.key".to_string());
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(overrides: &[&str]) -> ZooSpec {
        let o: Vec<String> = overrides.iter().map(|s| (*s).to_string()).collect();
        ZooSpec::parse(pz_spec::EMBEDDED_DEFAULT, "t", &o).unwrap()
    }

    #[test]
    fn reopening_with_a_changed_recipe_is_refused_and_touches_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let zoo = dir.path().join("z");
        ZooDir::create_or_open(&zoo, &spec(&[])).unwrap();
        let before = std::fs::read(zoo.join(SPEC_FILE)).unwrap();
        let err = ZooDir::create_or_open(&zoo, &spec(&["train.epochs=7"])).unwrap_err().to_string();
        assert!(err.contains("different spec (train)") && err.contains("hint:"), "{err}");
        assert_eq!(std::fs::read(zoo.join(SPEC_FILE)).unwrap(), before);
        // Execution settings and the grid may change.
        ZooDir::create_or_open(&zoo, &spec(&["run.device=cpu", "grid.seeds=[0,1,2]"])).unwrap();
    }

    #[test]
    fn a_foreign_folder_is_not_a_zoo() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x"), "hi").unwrap();
        assert!(ZooDir::create_or_open(dir.path(), &spec(&[]))
            .unwrap_err()
            .to_string()
            .contains("no zoo.toml"));
        assert!(ZooDir::open(dir.path()).unwrap_err().to_string().contains("no FORMAT file"));
    }

    /// Every file under `dir` with its bytes (folders as `None`), the lock file included.
    fn snapshot(dir: &Path) -> std::collections::BTreeMap<PathBuf, Option<Vec<u8>>> {
        let mut all = std::collections::BTreeMap::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                all.insert(path.clone(), None);
                all.extend(snapshot(&path));
            } else {
                all.insert(path.clone(), Some(std::fs::read(&path).unwrap()));
            }
        }
        all
    }

    #[test]
    fn issue_17_a_refused_start_changes_no_byte_even_with_a_grown_grid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("z");
        let (zoo, held) = ZooDir::create_or_open_locked(&path, &spec(&[])).unwrap();
        // A live writer's temp file must survive a refused start.
        std::fs::write(zoo.path.join(".index.csv.abc123.tmp"), "half").unwrap();
        let before = snapshot(&path);
        let err = ZooDir::create_or_open_locked(&path, &spec(&["grid.seeds=[0,1,2]"])).unwrap_err();
        assert!(matches!(err, Error::Locked { .. }), "{err}");
        assert!(err.to_string().contains("another phasezoo process"), "{err}");
        assert_eq!(snapshot(&path), before);
        drop(held);
        // Once free, the grid may grow: zoo.toml takes the new spec.
        let (zoo, _lock) = ZooDir::create_or_open_locked(&path, &spec(&["grid.seeds=[0,1,2]"])).unwrap();
        assert_eq!(ZooDir::open(&zoo.path).unwrap().spec.grid.seeds, [0, 1, 2]);
        assert!(!zoo.path.join(".index.csv.abc123.tmp").exists());
    }

    #[test]
    fn issue_17_simultaneous_starts_on_a_new_folder_give_the_loser_the_lock_message() {
        // flock locks belong to open file descriptions: two threads each opening the lock file
        // conflict as two processes do.
        let dir = tempfile::tempdir().unwrap();
        let spec = spec(&[]);
        for round in 0..20 {
            let path = dir.path().join(format!("z{round}"));
            let barrier = std::sync::Barrier::new(2);
            let results: Vec<Result<(ZooDir, ZooLock)>> = std::thread::scope(|s| {
                let racers: Vec<_> = (0..2)
                    .map(|_| {
                        s.spawn(|| {
                            barrier.wait();
                            ZooDir::create_or_open_locked(&path, &spec)
                        })
                    })
                    .collect();
                // Both results (and the winner's lock) live until both racers are done.
                racers.into_iter().map(|r| r.join().unwrap()).collect()
            });
            let won = results.iter().filter(|r| r.is_ok()).count();
            assert_eq!(
                won,
                1,
                "round {round}: {:?}",
                results.iter().map(|r| r.as_ref().err()).collect::<Vec<_>>()
            );
            let lost = results.iter().find_map(|r| r.as_ref().err()).unwrap();
            assert!(matches!(lost, Error::Locked { .. }), "round {round}: {lost}");
        }
    }

    #[test]
    fn a_creation_killed_before_zoo_toml_is_taken_up_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("z");
        std::fs::create_dir_all(path.join("models")).unwrap();
        std::fs::write(path.join(LOCK_FILE), "").unwrap();
        std::fs::write(path.join(FORMAT_FILE), "phasezoo zoo format 1\n").unwrap();
        std::fs::write(path.join(".zoo.toml.q1w2e3.tmp"), "half").unwrap();
        let (zoo, _lock) = ZooDir::create_or_open_locked(&path, &spec(&[])).unwrap();
        assert!(zoo.path.join(SPEC_FILE).exists());
        assert!(!zoo.path.join(".zoo.toml.q1w2e3.tmp").exists());
    }

    #[test]
    fn a_foreign_folder_gets_no_lock_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x"), "hi").unwrap();
        let before = snapshot(dir.path());
        assert!(matches!(ZooDir::create_or_open_locked(dir.path(), &spec(&[])), Err(Error::NotAZoo { .. })));
        assert_eq!(snapshot(dir.path()), before);
    }

    #[test]
    fn issue_17_partial_writes_are_removed_at_every_depth_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let (zoo, _lock) = ZooDir::create_or_open_locked(dir.path(), &spec(&[])).unwrap();
        let model = zoo.path.join("models/m1");
        let checkpoint = model.join("checkpoint_000003");
        std::fs::create_dir_all(&checkpoint).unwrap();
        std::fs::create_dir_all(zoo.path.join("plots")).unwrap();
        let kept = [
            model.join("result.json"),
            model.join("metrics.json"),
            checkpoint.join("model.safetensors"),
            zoo.path.join("plots/hessian_top_ev.png"),
            zoo.path.join("report.html"),
            zoo.path.join("index.csv"),
        ];
        for f in &kept {
            std::fs::write(f, "x").unwrap();
        }
        let planted = [
            zoo.path.join(".index.csv.a1b2c3.tmp"),
            zoo.path.join(".report.html.a1b2c3.html"),
            zoo.path.join("plots/.hessian_top_ev.png.Zz9yY8.png"),
            zoo.path.join("plots/.hessian_top_ev.svg.Zz9yY8.svg"),
            model.join(".metrics.json.k4l5m6.tmp"),
            model.join(".result.json.k4l5m6.tmp"),
            checkpoint.join(".manifest.json.k4l5m6.tmp"),
        ];
        for f in &planted {
            std::fs::write(f, "half").unwrap();
        }
        std::fs::create_dir_all(model.join(".checkpoint_000004.XyZ123")).unwrap();
        std::fs::write(model.join(".checkpoint_000004.XyZ123/model.safetensors"), "half").unwrap();
        std::fs::create_dir_all(model.join(".trash-checkpoint_000002")).unwrap();
        let before = snapshot(&zoo.path);
        assert_eq!(zoo.remove_partial_writes().unwrap(), planted.len() + 2);
        let after = snapshot(&zoo.path);
        let gone: Vec<_> = before.keys().filter(|p| !after.contains_key(*p)).collect();
        assert_eq!(gone.len(), planted.len() + 3, "{gone:?}");
        assert!(planted.iter().all(|p| !p.exists()));
        assert!(kept.iter().all(|p| p.exists()));
        assert!(after.keys().all(|p| before.contains_key(p)));
        assert_eq!(zoo.remove_partial_writes().unwrap(), 0);
    }

    #[test]
    fn asking_whether_a_zoo_is_locked_creates_no_lock_file() {
        let dir = tempfile::tempdir().unwrap();
        let zoo = ZooDir::create_or_open(dir.path(), &spec(&[])).unwrap();
        std::fs::remove_file(dir.path().join(LOCK_FILE)).unwrap();
        assert!(!zoo.is_locked());
        assert!(!dir.path().join(LOCK_FILE).exists());
    }

    #[test]
    fn the_lock_is_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let zoo = ZooDir::create_or_open(dir.path(), &spec(&[])).unwrap();
        let held = zoo.lock().unwrap();
        assert!(zoo.is_locked());
        drop(held);
        assert!(!zoo.is_locked());
    }
}
