//! `checkpoint_<epoch:06>/`: model and optimizer tensors, resume state, and a manifest.
//!
//! A checkpoint is written into a temporary folder and renamed into place, and its
//! `manifest.json` (size and SHA-256 of every other file) is written last. Loading verifies the
//! manifest, and [`Checkpoint::load_as`] also checks every tensor's name, dtype and shape
//! against what the model expects ([`crate::CheckpointLayout`]); [`crate::newest_intact_checkpoint`] is the
//! one place that picks the checkpoint to resume from, falling back past any that fails a check.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{decode_tensors, CheckpointLayout, Error, NamedTensor, Result};

pub(crate) const MODEL_FILE: &str = "model.safetensors";
pub(crate) const OPTIMIZER_FILE: &str = "optimizer.safetensors";
pub(crate) const STATE_FILE: &str = "state.json";
pub(crate) const MANIFEST_FILE: &str = "manifest.json";

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

/// One file's line of `manifest.json`.
#[derive(Serialize, Deserialize)]
pub(crate) struct ManifestEntry {
    pub(crate) bytes: u64,
    pub(crate) sha256: String,
}

impl Checkpoint {
    /// Folder name of an epoch's checkpoint.
    #[must_use]
    pub fn dir_name(epoch: u32) -> String {
        format!("checkpoint_{epoch:06}")
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

    /// Read and verify the checkpoint ([`Checkpoint::load`]), then check every tensor's name,
    /// dtype and shape against `layout`.
    ///
    /// # Errors
    /// As [`Checkpoint::load`]; [`Error::Corrupt`] naming the file and the tensor that is
    /// missing, unknown to the model, or of another dtype or shape.
    pub fn load_as(&self, layout: &CheckpointLayout) -> Result<LoadedCheckpoint> {
        let loaded = self.load()?;
        layout.model.check(&self.dir.join(MODEL_FILE), &loaded.model)?;
        layout.optimizer.check(&self.dir.join(OPTIMIZER_FILE), &loaded.optimizer)?;
        Ok(loaded)
    }

    /// Path of the model weights file.
    #[must_use]
    pub fn model_file(&self) -> PathBuf {
        self.dir.join(MODEL_FILE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{common_resume_epoch, newest_intact_checkpoint, CheckpointSearch, FileLayout, ModelDir};
    use crate::{encode_tensors, Dtype};

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

    /// Rewrite a checkpoint's `model.safetensors` through `change` and update its manifest to
    /// match, so that the SHA-256 check passes and only the layout check can notice.
    fn rewrite_model(c: &Checkpoint, change: impl FnOnce(&mut Vec<NamedTensor>)) {
        let path = c.model_file();
        let (mut tensors, meta) = decode_tensors(&path, &std::fs::read(&path).unwrap()).unwrap();
        change(&mut tensors);
        let bytes = encode_tensors(&path, &tensors, &meta).unwrap();
        std::fs::write(&path, &bytes).unwrap();
        let manifest_path = c.dir.join(MANIFEST_FILE);
        let mut manifest: BTreeMap<String, ManifestEntry> =
            serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
        manifest.insert(
            MODEL_FILE.into(),
            ManifestEntry { bytes: bytes.len() as u64, sha256: hex::encode(Sha256::digest(&bytes)) },
        );
        std::fs::write(&manifest_path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
        c.load().expect("the manifest matches the rewritten file");
    }

    fn layout() -> CheckpointLayout {
        CheckpointLayout::exactly(&[tensor("w", 0.0)], &[tensor("exp_avg.w", 0.0)])
    }

    /// A change to a checkpoint's model tensors.
    type Damage = fn(&mut Vec<NamedTensor>);

    /// The three ways a checkpoint with a matching manifest can still not fit the model.
    fn damages() -> [(&'static str, Damage); 3] {
        [
            ("dtype F64, the model expects F32", |t| {
                t[0].dtype = Dtype::F64;
                t[0].shape = vec![2];
            }),
            ("shape [2, 2], the model expects [4]", |t| t[0].shape = vec![2, 2]),
            ("has no tensor `w`", |t| t[0].name = "net.w".into()),
        ]
    }

    #[test]
    fn issue_17_load_as_checks_names_dtypes_and_shapes() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(write(dir.path(), 3).load_as(&layout()).unwrap().model, [tensor("w", 3.0)]);
        for (expected, damage) in damages() {
            let c = write(dir.path(), 3);
            rewrite_model(&c, damage);
            let err = c.load_as(&layout()).unwrap_err().to_string();
            assert!(err.contains("checkpoint_000003/model.safetensors: "), "{err}");
            assert!(err.contains(expected), "{err}");
        }
        // Optional tensors may be there or not; nothing else may.
        let c = write(dir.path(), 4);
        let mut optional = layout();
        optional.optimizer = FileLayout { required: Vec::new(), optional: optional.optimizer.required };
        c.load_as(&optional).unwrap();
        optional.optimizer.optional.clear();
        let err = c.load_as(&optional).unwrap_err().to_string();
        assert!(err.contains("optimizer.safetensors: holds tensor `exp_avg.w`, which the model"), "{err}");
    }

    #[test]
    fn issue_17_every_failed_check_falls_back_to_the_previous_intact_checkpoint() {
        let tmp = tempfile::tempdir().unwrap();
        let ids = ["00000000000000a1", "00000000000000a2"].map(|s| pz_spec::ModelId::parse(s).unwrap());
        let dirs = ids.map(|id| ModelDir::new(tmp.path(), &id));
        let layout = layout();
        let search = |newest: [u32; 2]| {
            let members: Vec<_> = dirs
                .iter()
                .zip(newest)
                .map(|(dir, newest)| CheckpointSearch { dir, layout: &layout, newest })
                .collect();
            newest_intact_checkpoint(&members).unwrap().map(|(e, l)| (e, l.len()))
        };
        for d in &dirs {
            for e in [0, 5, 10] {
                write(&d.path, e);
            }
        }
        assert_eq!(search([10, 10]), Some((10, 2)));
        // The results of the second member reach epoch 7 only.
        assert_eq!(search([10, 7]), Some((5, 2)));
        for (_, damage) in damages() {
            rewrite_model(&Checkpoint { dir: dirs[0].path.join("checkpoint_000010"), epoch: 10 }, damage);
            assert_eq!(search([10, 10]), Some((5, 2)));
            // A single model is a population of one.
            let alone = [CheckpointSearch { dir: &dirs[0], layout: &layout, newest: 10 }];
            let (epoch, loaded) = newest_intact_checkpoint(&alone).unwrap().unwrap();
            assert_eq!((epoch, &loaded[0].model), (5, &vec![tensor("w", 5.0)]));
            write(&dirs[0].path, 10);
        }
        // A SHA-256 mismatch falls back the same way.
        let f = dirs[1].path.join("checkpoint_000010/optimizer.safetensors");
        let mut bytes = std::fs::read(&f).unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        std::fs::write(&f, bytes).unwrap();
        assert_eq!(search([10, 10]), Some((5, 2)));
        assert_eq!(search([10, 0]), Some((0, 2)));
        for d in &dirs {
            std::fs::remove_dir_all(d.path.join("checkpoint_000000")).unwrap();
        }
        assert_eq!(search([4, 10]), None);
    }

    #[test]
    fn picks_the_newest_shared_epoch() {
        assert_eq!(common_resume_epoch(&[vec![0, 5, 10], vec![0, 5, 10]]), Some(10));
        assert_eq!(common_resume_epoch(&[vec![0, 5, 10], vec![0, 5]]), Some(5));
        assert_eq!(common_resume_epoch(&[vec![0, 10], vec![0, 5]]), Some(0));
        assert_eq!(common_resume_epoch(&[vec![5], vec![]]), None);
        assert_eq!(common_resume_epoch(&[]), None);
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
