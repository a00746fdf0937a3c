//! Claims on work units, for many workers on one zoo (`phasezoo work`, docs/CLUSTER.md): a
//! worker owns a unit while `work/claims/<unit>.claim` names it and its lease has not expired.
//!
//! Every change is one atomic operation that works on shared (NFS-like) filesystems, where
//! `O_EXCL` on open was long unreliable but `link(2)` and `rename(2)` are atomic on the server:
//! - **claim**: the record is written to a temporary file, then hard-linked to the claim path;
//!   `link` fails when the path exists, so of two claimers exactly one wins;
//! - **take over** an expired claim (its worker died): the takers race to link a marker named
//!   after the expired claim's token (`<unit>.<token>.taken`), so exactly one of them may replace
//!   that claim; the winner checks it is still the one it saw expire and renames its own record
//!   over it (a live claim, or a newer one, is never replaced);
//! - **renew** (the heartbeat, [`Claims::hold`]): the owner, while its lease runs and the file
//!   still carries its token, renames a record with a later expiry over it;
//! - **release**: the owner removes the claim file (and the unit's markers).
//!
//! Leases are wall-clock times, so the workers' clocks must agree to well within a lease (NTP);
//! the default lease is two minutes, renewed every 30 s.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Who a worker is, as its claims show it (`phasezoo status` prints it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerIdentity {
    /// The name given with `--worker-id`, else `<host>-<pid>`.
    pub worker_id: String,
    /// Host name.
    pub host: String,
    /// Process id on that host.
    pub pid: u32,
    /// `SLURM_JOB_ID`, when run by Slurm (an array task's own job id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm_job_id: Option<String>,
    /// `SLURM_ARRAY_JOB_ID`_`SLURM_ARRAY_TASK_ID`, for a task of a job array.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm_array_task: Option<String>,
}

impl WorkerIdentity {
    /// This process: its host, pid and Slurm variables; `worker_id` defaults to `<host>-<pid>`.
    #[must_use]
    pub fn current(worker_id: Option<String>) -> Self {
        let host = fs_err::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .or_else(|_| std::env::var("HOSTNAME"))
            .unwrap_or_else(|_| "unknown-host".into());
        let pid = std::process::id();
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        let slurm_array_task =
            var("SLURM_ARRAY_JOB_ID").zip(var("SLURM_ARRAY_TASK_ID")).map(|(j, t)| format!("{j}_{t}"));
        Self {
            worker_id: worker_id.unwrap_or_else(|| format!("{host}-{pid}")),
            host,
            pid,
            slurm_job_id: var("SLURM_JOB_ID"),
            slurm_array_task,
        }
    }
}

/// The content of a claim file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimRecord {
    /// The unit's id ([`crate::WorkUnit::id`]).
    pub unit: String,
    /// Unique to this claim (one worker's one acquisition): what takeover and renewal compare.
    pub token: String,
    /// The owner.
    pub worker: WorkerIdentity,
    /// When the claim was made, ms since the Unix epoch.
    pub acquired_unix_ms: u64,
    /// When the lease ends unless renewed, ms since the Unix epoch.
    pub expires_unix_ms: u64,
}

impl ClaimRecord {
    /// Whether the lease has ended at `now_ms`.
    #[must_use]
    pub fn expired_at(&self, now_ms: u64) -> bool {
        now_ms >= self.expires_unix_ms
    }
}

/// The claims folder of one zoo, with the lease its workers take.
#[derive(Debug, Clone)]
pub struct Claims {
    dir: PathBuf,
    lease: Duration,
}

/// Milliseconds since the Unix epoch.
#[must_use]
pub fn now_unix_ms() -> u64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

impl Claims {
    /// The claims of the zoo at `zoo` (`work/claims/`), leases of `lease`.
    #[must_use]
    pub fn new(zoo: &Path, lease: Duration) -> Self {
        Self { dir: zoo.join("work").join("claims"), lease }
    }

    fn claim_path(&self, unit: &str) -> PathBuf {
        self.dir.join(format!("{unit}.claim"))
    }

    /// The claim on `unit`, if any.
    ///
    /// # Errors
    /// An unreadable or invalid claim file.
    pub fn read(&self, unit: &str) -> Result<Option<ClaimRecord>> {
        read_record(&self.claim_path(unit))
    }

    /// Every claim file's record (expired ones included), sorted by unit.
    ///
    /// # Errors
    /// The folder or a claim cannot be read.
    pub fn list(&self) -> Result<Vec<ClaimRecord>> {
        let entries = match fs_err::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        for entry in entries {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "claim") {
                out.extend(read_record(&path)?);
            }
        }
        out.sort_by(|a, b| a.unit.cmp(&b.unit));
        Ok(out)
    }

    /// Claim `unit` for `worker`: a new claim, or the takeover of an expired one. `None` when
    /// another worker holds a live lease on it (or won the race for it).
    ///
    /// # Errors
    /// I/O errors other than losing the race.
    pub fn try_claim(&self, unit: &str, worker: &WorkerIdentity) -> Result<Option<ClaimRecord>> {
        fs_err::create_dir_all(&self.dir)?;
        let now = now_unix_ms();
        let mine = ClaimRecord {
            unit: unit.into(),
            token: new_token(worker),
            worker: worker.clone(),
            acquired_unix_ms: now,
            expires_unix_ms: now.saturating_add(millis(self.lease)),
        };
        let tmp = self.write_temp(&mine)?;
        let path = self.claim_path(unit);
        let won = self.claim_or_take_over(&tmp, &path, &mine);
        let _ = fs_err::remove_file(&tmp);
        crate::atomic::sync_dir(&self.dir);
        Ok(won?.then_some(mine))
    }

    fn claim_or_take_over(&self, tmp: &Path, path: &Path, mine: &ClaimRecord) -> Result<bool> {
        // Twice: a claim released between our link and our read leaves the path free again.
        for _ in 0..2 {
            match fs_err::hard_link(tmp, path) {
                Ok(()) => return Ok(true),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e.into()),
            }
            let Some(seen) = read_record(path)? else { continue };
            if !seen.expired_at(now_unix_ms()) {
                return Ok(false);
            }
            // One taker per expired token: the marker's link is the race.
            let marker = self.dir.join(format!("{}.{}.taken", mine.unit, seen.token));
            match fs_err::hard_link(tmp, &marker) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
                Err(e) => return Err(e.into()),
            }
            // Only the claim we saw expire is replaced: its owner may have released it since.
            if read_record(path)?.is_some_and(|now| now.token == seen.token) {
                fs_err::rename(tmp, path)?;
                tracing::info!(unit = %mine.unit, from = %seen.worker.worker_id, "took over an expired claim");
                return Ok(true);
            }
            let _ = fs_err::remove_file(&marker);
            return Ok(false);
        }
        Ok(false)
    }

    /// Renew `held`'s lease; `None` when it is lost (expired, or the file names another claim),
    /// in which case nothing is written.
    ///
    /// # Errors
    /// I/O errors.
    pub fn renew(&self, held: &ClaimRecord) -> Result<Option<ClaimRecord>> {
        let now = now_unix_ms();
        if held.expired_at(now) || self.read(&held.unit)?.is_none_or(|c| c.token != held.token) {
            return Ok(None);
        }
        let renewed = ClaimRecord { expires_unix_ms: now.saturating_add(millis(self.lease)), ..held.clone() };
        let tmp = self.write_temp(&renewed)?;
        fs_err::rename(&tmp, self.claim_path(&held.unit))?;
        Ok(Some(renewed))
    }

    /// Give `held`'s unit back (its models are done, or the worker stops): removes the claim
    /// if it is still `held`'s, and the unit's takeover markers.
    ///
    /// # Errors
    /// I/O errors.
    pub fn release(&self, held: &ClaimRecord) -> Result<()> {
        if self.read(&held.unit)?.is_some_and(|c| c.token == held.token) {
            fs_err::remove_file(self.claim_path(&held.unit))?;
        }
        let prefix = format!("{}.", held.unit);
        for entry in fs_err::read_dir(&self.dir)? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(&prefix) && name.ends_with(".taken") {
                let _ = fs_err::remove_file(self.dir.join(&*name));
            }
        }
        crate::atomic::sync_dir(&self.dir);
        Ok(())
    }

    /// Run `work` while holding `held`, renewing its lease every quarter lease from a
    /// heartbeat thread, then release it. `work` gets a stop flag, raised when `stop` is or when
    /// the lease is lost (the worker then stops at its next step and leaves the unit to its
    /// new owner). Returns `work`'s value and whether the lease was lost.
    ///
    /// # Errors
    /// Releasing failed (a failed renewal counts as a lost lease).
    pub fn hold<T>(
        &self,
        held: ClaimRecord,
        stop: &AtomicBool,
        work: impl FnOnce(&AtomicBool) -> T,
    ) -> Result<(T, bool)> {
        let unit_stop = AtomicBool::new(false);
        let (done, lost) = (AtomicBool::new(false), AtomicBool::new(false));
        let every = (self.lease / 4).max(Duration::from_millis(50));
        let tick = every.min(Duration::from_millis(100));
        let value = std::thread::scope(|s| {
            s.spawn(|| {
                let mut held = held.clone();
                let mut last = std::time::Instant::now();
                while !done.load(Ordering::SeqCst) {
                    std::thread::sleep(tick);
                    if stop.load(Ordering::SeqCst) {
                        unit_stop.store(true, Ordering::SeqCst);
                    }
                    if last.elapsed() < every {
                        continue;
                    }
                    last = std::time::Instant::now();
                    match self.renew(&held) {
                        Ok(Some(renewed)) => held = renewed,
                        result => {
                            tracing::warn!(unit = %held.unit, ?result, "lost the claim; stopping this unit");
                            lost.store(true, Ordering::SeqCst);
                            unit_stop.store(true, Ordering::SeqCst);
                            return;
                        }
                    }
                }
            });
            let value = work(&unit_stop);
            done.store(true, Ordering::SeqCst);
            value
        });
        let lost = lost.load(Ordering::SeqCst);
        if !lost {
            self.release(&held)?;
        }
        Ok((value, lost))
    }

    /// Record that `unit` ended with failures (`reasons`: what failed and why), so that no
    /// worker takes it again (`work/claims/<unit>.failed`; for units whose failures are not
    /// recorded in the models' `status.json`, such as measuring units with unloadable models).
    ///
    /// # Errors
    /// I/O errors.
    pub fn mark_failed(&self, unit: &str, reasons: &[String]) -> Result<()> {
        fs_err::create_dir_all(&self.dir)?;
        let path = self.dir.join(format!("{unit}.failed"));
        let text = serde_json::to_string_pretty(reasons).map_err(|e| Error::corrupt(&path, e.to_string()))?;
        crate::atomic_write(&path, text.as_bytes())
    }

    /// Why `unit` failed, if [`Claims::mark_failed`] recorded it.
    ///
    /// # Errors
    /// An unreadable or invalid record.
    pub fn failure(&self, unit: &str) -> Result<Option<Vec<String>>> {
        let path = self.dir.join(format!("{unit}.failed"));
        match fs_err::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|source| Error::Json {
                path,
                line: None,
                source,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Remove every claim, takeover marker, failure record and temporary file, then the
    /// folder (and `work/` when that is left empty). For a process holding the zoo's exclusive
    /// lock (`phasezoo train`, `metrics`): no worker can be alive then, so every claim is
    /// stale, and a restart after a kill must not wait out the killed run's leases. Returns how
    /// many entries were removed.
    ///
    /// # Errors
    /// The folder cannot be listed or an entry removed.
    pub fn clear_stale(&self, _exclusive: &crate::ZooLock) -> Result<usize> {
        let entries = match fs_err::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e.into()),
        };
        let mut removed = 0;
        for entry in entries {
            fs_err::remove_file(entry?.path())?;
            removed += 1;
        }
        let _ = fs_err::remove_dir(&self.dir);
        if let Some(work) = self.dir.parent() {
            let _ = fs_err::remove_dir(work); // only when empty: units.json stays
        }
        Ok(removed)
    }

    /// Write `record` to a temporary file of the claims folder (a partial write, as
    /// [`crate::ZooDir::remove_partial_writes`] knows them), flushed to disk.
    fn write_temp(&self, record: &ClaimRecord) -> Result<PathBuf> {
        let tmp = self.dir.join(format!(".{}.{}.tmp", record.unit, record.token));
        let bytes = serde_json::to_vec_pretty(record).map_err(|e| Error::corrupt(&tmp, e.to_string()))?;
        let mut file = fs_err::File::create(&tmp)?;
        std::io::Write::write_all(&mut file, &bytes)?;
        file.sync_all()?;
        Ok(tmp)
    }
}

fn read_record(path: &Path) -> Result<Option<ClaimRecord>> {
    match fs_err::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|source| Error::Json {
            path: path.into(),
            line: None,
            source,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A token no other claim has: host, pid, time and a per-process counter.
fn new_token(worker: &WorkerIdentity) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
    let text = format!("{}/{}/{nanos}/{n}", worker.host, worker.pid);
    let digest = <sha2::Sha256 as sha2::Digest>::digest(text.as_bytes());
    hex::encode(&digest[..8])
}

#[cfg(test)]
#[path = "claims_tests.rs"]
mod tests;
