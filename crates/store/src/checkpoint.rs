//! `checkpoint_<epoch:06>/`: model and optimizer tensors, resume state, and a manifest.
//!
//! A checkpoint is written into a temporary folder and renamed into place, and its
//! `manifest.json` (size and SHA-256 of every other file) is written last. Loading verifies the
//! manifest, so a truncated or damaged checkpoint is detected and the runner falls back to the
//! previous intact one.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{atomic::sync_dir, decode_tensors, encode_tensors, Error, NamedTensor, Result};

const MODEL_FILE: &str = "model.safetensors";
const OPTIMIZER_FILE: &str = "optimizer.safetensors";
const STATE_FILE: &str = "state.json";
const MANIFEST_FILE: &str = "manifest.json";

/// What resume needs besides tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// The epoch this checkpoint ends.
    pub epoch: u32,
    /// Optimizer steps taken.
    pub step: u64,
    /// Named random-stream positions (e.g. `data` → words drawn), so a resumed model draws what
    /// an uninterrupted one would.
    #[serde(default)]
    pub rng: BTreeMap<String, u64>,
}

/// A checkpoint folder on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The folder.
    pub dir: PathBuf,
    /// Its epoch.
    pub epoch: u32,
}

/// A verified checkpoint's content.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedCheckpoint {
    /// Model parameters (PyTorch state-dict names).
    pub model: Vec<NamedTensor>,
    /// Optimizer state (e.g. `exp_avg.net.0.weight`).
    pub optimizer: Vec<NamedTensor>,
    /// Resume state.
    pub state: CheckpointState,
}

#[derive(Serialize, Deserialize)]
struct ManifestEntry {
    bytes: u64,
    sha256: String,
}

impl Checkpoint {
    /// Folder name of an epoch's checkpoint.
    #[must_use]
    pub fn dir_name(epoch: u32) -> String {
        format!("checkpoint_{epoch:06}")
    }

    /// Write a checkpoint atomically into `model_dir`, replacing one of the same epoch.
    ///
    /// # Errors
    /// I/O errors, naming the path.
    pub fn write(
        model_dir: &Path,
        model: &[NamedTensor],
        optimizer: &[NamedTensor],
        state: &CheckpointState,
    ) -> Result<Self> {
        let target = model_dir.join(Self::dir_name(state.epoch));
        let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
        let files: [(&str, Vec<u8>); 3] = [
            (MODEL_FILE, encode_tensors(&target.join(MODEL_FILE), model, &meta)?),
            (OPTIMIZER_FILE, encode_tensors(&target.join(OPTIMIZER_FILE), optimizer, &HashMap::new())?),
            (STATE_FILE, serde_json::to_vec_pretty(state).expect("state serializes")),
        ];
        fs_err::create_dir_all(model_dir)?;
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{}.", Self::dir_name(state.epoch)))
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .tempdir_in(model_dir)?;
        let mut manifest = BTreeMap::new();
        for (name, bytes) in &files {
            write_synced(&tmp.path().join(name), bytes)?;
            manifest.insert(
                (*name).to_string(),
                ManifestEntry { bytes: bytes.len() as u64, sha256: hex::encode(Sha256::digest(bytes)) },
            );
        }
        write_synced(
            &tmp.path().join(MANIFEST_FILE),
            &serde_json::to_vec_pretty(&manifest).expect("manifest"),
        )?;
        sync_dir(tmp.path());
        let tmp = tmp.keep();
        if target.exists() {
            // Move the old one aside first: a crash between the renames leaves the new one in
            // its temp folder and the old one renamed, and both are ignored or cleaned later.
            let trash = model_dir.join(format!(".trash-{}", Self::dir_name(state.epoch)));
            let _ = fs_err::remove_dir_all(&trash);
            fs_err::rename(&target, &trash)?;
            fs_err::rename(&tmp, &target)?;
            fs_err::remove_dir_all(&trash)?;
        } else {
            fs_err::rename(&tmp, &target)?;
        }
        sync_dir(model_dir);
        Ok(Self { dir: target, epoch: state.epoch })
    }

    /// All `checkpoint_*` folders of a model, oldest first (unverified).
    ///
    /// # Errors
    /// The folder cannot be listed.
    pub fn list(model_dir: &Path) -> Result<Vec<Self>> {
        let mut found = Vec::new();
        let entries = match fs_err::read_dir(model_dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
            Err(e) => return Err(e.into()),
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            let Some(epoch) =
                name.to_str().and_then(|n| n.strip_prefix("checkpoint_")).and_then(|e| e.parse().ok())
            else {
                continue;
            };
            found.push(Self { dir: entry.path(), epoch });
        }
        found.sort_by_key(|c| c.epoch);
        Ok(found)
    }

    /// Read and verify the checkpoint against its manifest.
    ///
    /// # Errors
    /// [`Error::Corrupt`] naming the file that is missing, truncated or altered.
    pub fn load(&self) -> Result<LoadedCheckpoint> {
        let manifest_path = self.dir.join(MANIFEST_FILE);
        let manifest_bytes = fs_err::read(&manifest_path).map_err(|_| {
            Error::corrupt(&manifest_path, "missing: the checkpoint was not completely written")
        })?;
        let manifest: BTreeMap<String, ManifestEntry> = serde_json::from_slice(&manifest_bytes)
            .map_err(|source| Error::Json { path: manifest_path.clone(), line: None, source })?;
        let mut contents = HashMap::new();
        for name in [MODEL_FILE, OPTIMIZER_FILE, STATE_FILE] {
            let path = self.dir.join(name);
            let entry = manifest
                .get(name)
                .ok_or_else(|| Error::corrupt(&manifest_path, format!("no entry for {name}")))?;
            let bytes = fs_err::read(&path).map_err(|_| Error::corrupt(&path, "missing"))?;
            if bytes.len() as u64 != entry.bytes {
                return Err(Error::corrupt(
                    &path,
                    format!("{} bytes, the manifest says {} (truncated?)", bytes.len(), entry.bytes),
                ));
            }
            if hex::encode(Sha256::digest(&bytes)) != entry.sha256 {
                return Err(Error::corrupt(&path, "SHA-256 does not match the manifest (damaged?)"));
            }
            contents.insert(name, bytes);
        }
        let state_path = self.dir.join(STATE_FILE);
        let state = serde_json::from_slice(&contents[STATE_FILE]).map_err(|source| Error::Json {
            path: state_path,
            line: None,
            source,
        })?;
        let (model, _) = decode_tensors(&self.dir.join(MODEL_FILE), &contents[MODEL_FILE])?;
        let (optimizer, _) = decode_tensors(&self.dir.join(OPTIMIZER_FILE), &contents[OPTIMIZER_FILE])?;
        Ok(LoadedCheckpoint { model, optimizer, state })
    }

    /// Path of the model weights file.
    #[must_use]
    pub fn model_file(&self) -> PathBuf {
        self.dir.join(MODEL_FILE)
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f = fs_err::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dtype;

    fn tensor(name: &str, v: f32) -> NamedTensor {
        NamedTensor {
            name: name.into(),
            dtype: Dtype::F32,
            shape: vec![4],
            data: [v; 4].iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }

    fn write(dir: &Path, epoch: u32) -> Checkpoint {
        let state =
            CheckpointState { epoch, step: u64::from(epoch) * 10, rng: BTreeMap::from([("data".into(), 7)]) };
        Checkpoint::write(dir, &[tensor("w", epoch as f32)], &[tensor("exp_avg.w", 0.5)], &state).unwrap()
    }

    #[test]
    fn round_trips_and_lists_in_epoch_order() {
        let dir = tempfile::tempdir().unwrap();
        for e in [5, 0, 10] {
            write(dir.path(), e);
        }
        let list = Checkpoint::list(dir.path()).unwrap();
        assert_eq!(list.iter().map(|c| c.epoch).collect::<Vec<_>>(), [0, 5, 10]);
        let loaded = list[1].load().unwrap();
        assert_eq!(loaded.model, [tensor("w", 5.0)]);
        assert_eq!(loaded.state.step, 50);
        assert_eq!(loaded.state.rng["data"], 7);
        // Rewriting an epoch replaces it and leaves no temp or trash folders behind.
        write(dir.path(), 5);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 3, "{names:?}");
    }

    #[test]
    fn truncated_file_is_detected_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let c = write(dir.path(), 3);
        let f = c.model_file();
        let len = std::fs::metadata(&f).unwrap().len();
        std::fs::OpenOptions::new().write(true).open(&f).unwrap().set_len(len - 3).unwrap();
        let err = c.load().unwrap_err().to_string();
        assert!(err.contains("model.safetensors") && err.contains("truncated"), "{err}");
    }

    #[test]
    fn altered_bytes_and_missing_manifest_are_detected() {
        let dir = tempfile::tempdir().unwrap();
        let c = write(dir.path(), 3);
        let state = c.dir.join(STATE_FILE);
        let mut bytes = std::fs::read(&state).unwrap();
        bytes[3] ^= 1;
        std::fs::write(&state, bytes).unwrap();
        assert!(c.load().unwrap_err().to_string().contains("SHA-256"));
        std::fs::remove_file(c.dir.join(MANIFEST_FILE)).unwrap();
        assert!(c.load().unwrap_err().to_string().contains("not completely written"));
    }
}
