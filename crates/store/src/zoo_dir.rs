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
    /// Open an existing zoo, or create one for `spec`. An existing zoo must have been made by a
    /// spec that trains the same models (grid, checkpoints and run settings may change).
    ///
    /// # Errors
    /// [`Error::SpecChanged`] naming the changed sections; unreadable or foreign folders.
    pub fn create_or_open(path: &Path, spec: &ZooSpec) -> Result<Self> {
        if path.join(SPEC_FILE).exists() {
            let existing = Self::open(path)?;
            let changes = trained_differences(&existing.spec, spec);
            if !changes.is_empty() {
                return Err(Error::SpecChanged { path: path.join(SPEC_FILE), changes: changes.join(", ") });
            }
        } else if path.exists() && fs_err::read_dir(path)?.next().is_some() {
            return Err(Error::NotAZoo {
                path: path.into(),
                message: "exists, is not empty and holds no zoo.toml\n  hint: choose another --out folder"
                    .into(),
            });
        }
        fs_err::create_dir_all(path.join("models"))?;
        atomic_write(&path.join(FORMAT_FILE), format!("phasezoo zoo format {FORMAT_VERSION}\n").as_bytes())?;
        atomic_write(&path.join(SPEC_FILE), spec.to_toml().as_bytes())?;
        Ok(Self { path: path.into(), spec: spec.clone() })
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

    /// Take the training lock, failing at once if another process holds it.
    ///
    /// # Errors
    /// [`Error::Locked`] when held elsewhere.
    pub fn lock(&self) -> Result<ZooLock> {
        let path = self.path.join(LOCK_FILE);
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

    /// Whether another process is training this zoo right now.
    #[must_use]
    pub fn is_locked(&self) -> bool {
        matches!(self.lock(), Err(Error::Locked { .. }))
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
