//! The units of a zoo's training as its workers share them (`work/units.json`), the shared
//! lock workers hold, and where every unit stands (`phasezoo status`).
//!
//! The unit list is written once, by the first worker (or `phasezoo submit`), and read by every
//! later one, so all workers agree on the units whatever their devices; a unit's id is a hash of
//! its model ids, stable across runs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use pz_spec::ModelId;
use serde::{Deserialize, Serialize};

use crate::claims::{now_unix_ms, ClaimRecord, Claims};
use crate::{Error, ModelState, Result, ZooDir};

/// One training unit: models trained together by one worker (a population, or one model).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkUnit {
    /// `u-` and 16 hex digits of the SHA-256 of the model ids, one per line.
    pub id: String,
    /// Its models, in plan order.
    pub models: Vec<String>,
}

impl WorkUnit {
    /// The unit of `models`.
    #[must_use]
    pub fn new(models: &[&ModelId]) -> Self {
        let models: Vec<String> = models.iter().map(ToString::to_string).collect();
        Self { id: format!("u-{}", unit_hash(&models)), models }
    }
}

/// 16 hex digits of the SHA-256 of `lines`, one per line: what names a unit's claim (training
/// units, and the measuring and application units of `pz-landscape` and `pz-apply`).
#[must_use]
pub fn unit_hash<S: AsRef<str>>(lines: &[S]) -> String {
    let text: Vec<&str> = lines.iter().map(AsRef::as_ref).collect();
    let digest = <sha2::Sha256 as sha2::Digest>::digest(text.join("\n").as_bytes());
    hex::encode(&digest[..8])
}

#[derive(Debug, Serialize, Deserialize)]
struct UnitsFile {
    units: Vec<WorkUnit>,
}

fn units_path(zoo: &Path) -> PathBuf {
    zoo.join("work").join("units.json")
}

/// The zoo's units from `work/units.json`, or, when it does not exist yet, `make()` written
/// there (the first writer wins: a concurrent one reads the winner's list).
///
/// # Errors
/// I/O, an invalid file, or a stored list that does not hold exactly `make()`'s models (the
/// grid changed since: the hint says to remove it while no worker runs).
pub fn load_or_create_units(zoo: &Path, make: impl FnOnce() -> Vec<WorkUnit>) -> Result<Vec<WorkUnit>> {
    let path = units_path(zoo);
    let wanted = make();
    if !path.exists() {
        let dir = path.parent().unwrap_or(zoo);
        fs_err::create_dir_all(dir)?;
        let tmp = dir.join(format!(".units.json.{}.tmp", std::process::id()));
        let text = serde_json::to_string_pretty(&UnitsFile { units: wanted.clone() })
            .map_err(|e| Error::corrupt(&path, e.to_string()))?;
        crate::atomic_write(&tmp, text.as_bytes())?;
        let linked = fs_err::hard_link(&tmp, &path);
        let _ = fs_err::remove_file(&tmp);
        match linked {
            Ok(()) => return Ok(wanted),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e.into()),
        }
    }
    let stored = read_units(zoo)?.unwrap_or_default();
    let mut have: Vec<&String> = stored.iter().flat_map(|u| &u.models).collect();
    let mut want: Vec<&String> = wanted.iter().flat_map(|u| &u.models).collect();
    have.sort();
    want.sort();
    if have != want {
        return Err(Error::corrupt(
            &path,
            "holds other models than the zoo's plan (its grid changed)\n  hint: remove it while no worker runs; the next worker writes it anew",
        ));
    }
    Ok(stored)
}

/// `units`, for a process that holds the zoo alone (`phasezoo train`, under its exclusive
/// lock, which no worker's list can contradict): the grouping its spec makes now, which may
/// differ from a stored `work/units.json` after the grid or `run.max_population` changed. A
/// stored list that differs is replaced, so that later workers and `phasezoo status` see the
/// units trained; none is created (a zoo only `train` touches keeps no `work/` folder).
///
/// # Errors
/// An unreadable stored list, or I/O.
pub fn replace_units(zoo: &Path, _exclusive: &crate::ZooLock, units: Vec<WorkUnit>) -> Result<Vec<WorkUnit>> {
    match read_units(zoo) {
        Ok(Some(stored)) if stored == units => {}
        Ok(None) => {}
        // A damaged list is replaced as a stale one is: nothing else reads it meanwhile.
        Ok(Some(_)) | Err(Error::Json { .. }) => {
            let path = units_path(zoo);
            let text = serde_json::to_string_pretty(&UnitsFile { units: units.clone() })
                .map_err(|e| Error::corrupt(&path, e.to_string()))?;
            crate::atomic_write(&path, text.as_bytes())?;
            tracing::info!(path = %path.display(), "units replaced: the spec groups the models otherwise now");
        }
        Err(e) => return Err(e),
    }
    Ok(units)
}

/// The zoo's units, if a worker or `submit` has written them.
///
/// # Errors
/// I/O or an invalid file.
pub fn read_units(zoo: &Path) -> Result<Option<Vec<WorkUnit>>> {
    let path = units_path(zoo);
    match fs_err::read(&path) {
        Ok(bytes) => serde_json::from_slice::<UnitsFile>(&bytes)
            .map(|f| Some(f.units))
            .map_err(|source| Error::Json { path, line: None, source }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Held by a worker (`phasezoo work`) while it works on a zoo: a shared lock on the zoo's
/// `.lock`, so any number of workers run at once while `phasezoo train` (which takes it
/// exclusively) cannot run beside them, nor they beside it.
#[derive(Debug)]
pub struct WorkerLock {
    _file: std::fs::File,
}

impl WorkerLock {
    /// Take the shared lock of the zoo at `zoo`.
    ///
    /// # Errors
    /// [`Error::Locked`] while `phasezoo train` holds the zoo; I/O errors.
    pub fn take(zoo: &Path) -> Result<Self> {
        let path = zoo.join(".lock");
        let file =
            fs_err::OpenOptions::new().create(true).truncate(false).write(true).open(&path)?.into_parts().0;
        match file.try_lock_shared() {
            Ok(()) => Ok(Self { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked { path }),
            Err(std::fs::TryLockError::Error(e)) => Err(e.into()),
        }
    }
}

/// Where one unit stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnitState {
    /// Every model done.
    Done,
    /// Every model finished, some failed.
    Failed,
    /// Claimed under a live lease.
    Running(ClaimRecord),
    /// Claimed, but the lease ran out (its worker died): the next worker takes it over.
    Expired(ClaimRecord),
    /// Not claimed, models left to train.
    Waiting,
}

/// Every unit of a zoo with its state (for `phasezoo status`); `None` when no worker or
/// `submit` has written the units.
///
/// # Errors
/// Unreadable units, claims or model statuses.
pub fn work_status(zoo: &ZooDir) -> Result<Option<Vec<(WorkUnit, UnitState)>>> {
    let Some(units) = read_units(&zoo.path)? else { return Ok(None) };
    let claims = Claims::new(&zoo.path, Duration::ZERO);
    let now = now_unix_ms();
    let mut out = Vec::new();
    for unit in units {
        let mut states = Vec::new();
        for m in &unit.models {
            let id = ModelId::parse(m).map_err(|e| Error::corrupt(units_path(&zoo.path), e))?;
            states.push(crate::ModelDir::new(&zoo.path.join("models"), &id).read_status()?.state);
        }
        let finished = states.iter().all(|s| matches!(s, ModelState::Done | ModelState::Failed));
        let state = if finished && states.contains(&ModelState::Failed) {
            UnitState::Failed
        } else if finished {
            UnitState::Done
        } else {
            match claims.read(&unit.id)? {
                Some(c) if c.expired_at(now) => UnitState::Expired(c),
                Some(c) => UnitState::Running(c),
                None => UnitState::Waiting,
            }
        };
        out.push((unit, state));
    }
    Ok(Some(out))
}
