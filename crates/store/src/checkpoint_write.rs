//! Writing a checkpoint folder: the files into a temporary folder, each hashed as it is written,
//! the manifest last, then one rename into place.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

use safetensors::SafeTensors;
use sha2::{Digest, Sha256};

use crate::atomic::sync_dir;
use crate::checkpoint::{ManifestEntry, MANIFEST_FILE, MODEL_FILE, OPTIMIZER_FILE, STATE_FILE};
use crate::{encode_tensors, Checkpoint, CheckpointState, Error, NamedTensor, Result};

/// Bytes hashed and written at a time: small enough that the hash leaves them in the CPU's cache
/// for the copy into the page cache, so a file's bytes are read from memory once.
const CHUNK: usize = 256 << 10;

impl Checkpoint {
    /// The metadata of every checkpoint's `model.safetensors`: PyTorch's `save_file` marks its
    /// files so, and loaders such as `transformers` look for it.
    #[must_use]
    pub fn model_metadata() -> HashMap<String, String> {
        HashMap::from([("format".to_string(), "pt".to_string())])
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
        let path = model_dir.join(Self::dir_name(state.epoch)).join(MODEL_FILE);
        let model = encode_tensors(&path, model, &Self::model_metadata())?;
        Self::write_encoded(model_dir, &model, optimizer, state)
    }

    /// [`Checkpoint::write`] with `model.safetensors` already encoded, e.g. assembled in a
    /// [`TensorFileBuffer`](crate::TensorFileBuffer) laid out with
    /// [`Checkpoint::model_metadata`]: the same files, byte for byte, without a copy of the
    /// model's bytes.
    ///
    /// # Errors
    /// [`Error::Corrupt`] naming the model file when `model` is not a safetensors file with
    /// [`Checkpoint::model_metadata`] (nothing is written then); I/O errors, naming the path.
    pub fn write_encoded(
        model_dir: &Path,
        model: &[u8],
        optimizer: &[NamedTensor],
        state: &CheckpointState,
    ) -> Result<Self> {
        let target = model_dir.join(Self::dir_name(state.epoch));
        let model_path = target.join(MODEL_FILE);
        // The header only: offsets checked to tile the bytes, no tensor copied.
        let (_, header) = SafeTensors::read_metadata(model)
            .map_err(|e| Error::corrupt(&model_path, format!("not a valid safetensors file: {e:?}")))?;
        if header.metadata().as_ref() != Some(&Self::model_metadata()) {
            return Err(Error::corrupt(&model_path, "the model file lacks the metadata `format: pt`"));
        }
        let optimizer = encode_tensors(&target.join(OPTIMIZER_FILE), optimizer, &HashMap::new())?;
        let state_bytes = serde_json::to_vec_pretty(state).expect("state serializes");
        let files: [(&str, &[u8]); 3] =
            [(MODEL_FILE, model), (OPTIMIZER_FILE, &optimizer), (STATE_FILE, &state_bytes)];
        fs_err::create_dir_all(model_dir)?;
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{}.", Self::dir_name(state.epoch)))
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .tempdir_in(model_dir)?;
        let mut manifest = BTreeMap::new();
        for (name, bytes) in files {
            manifest.insert(name.to_string(), write_synced(&tmp.path().join(name), bytes)?);
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
}

/// Write `bytes` into a new file at `path` and sync it; its manifest entry, the SHA-256 taken of
/// each chunk just before the chunk is written (one pass over the bytes, not a second one).
fn write_synced(path: &Path, bytes: &[u8]) -> Result<ManifestEntry> {
    let mut f = fs_err::File::create(path)?;
    let mut hash = Sha256::new();
    for chunk in bytes.chunks(CHUNK) {
        hash.update(chunk);
        f.write_all(chunk)?;
    }
    f.sync_all()?;
    Ok(ManifestEntry { bytes: bytes.len() as u64, sha256: hex::encode(hash.finalize()) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Dtype, TensorFileBuffer, TensorLayout};

    fn tensor(name: &str, dtype: Dtype, shape: &[usize], seed: u8) -> NamedTensor {
        let len = shape.iter().product::<usize>() * dtype.size();
        let data = (0..len).map(|i| (i as u8).wrapping_mul(13).wrapping_add(seed)).collect();
        NamedTensor { name: name.into(), dtype, shape: shape.to_vec(), data }
    }

    /// Every file of a checkpoint folder with its bytes.
    fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
        fs_err::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.file_name().to_string_lossy().into_owned(), fs_err::read(e.path()).unwrap())
            })
            .collect()
    }

    #[test]
    fn an_encoded_model_writes_the_same_files_and_hashes_as_write() {
        // Larger than a chunk, so the hash runs over several; and a second, smaller model
        // through the same buffer.
        let models = [
            vec![
                tensor("conv.weight", Dtype::F32, &[64, 3, 3, 3, 10], 1),
                tensor("bn.num_batches_tracked", Dtype::I64, &[], 2),
            ],
            vec![tensor("fc.bias", Dtype::F32, &[10], 3)],
        ];
        let optimizer = [tensor("step", Dtype::I64, &[], 4)];
        let mut buffer = TensorFileBuffer::new();
        for (epoch, model) in (3..).zip(&models) {
            let state = CheckpointState { epoch, step: 7, rng: BTreeMap::from([("data".into(), 9)]) };
            let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
            let written = Checkpoint::write(a.path(), model, &optimizer, &state).unwrap();
            let layouts: Vec<TensorLayout> = model.iter().map(TensorLayout::from).collect();
            buffer.lay_out(Path::new("x"), &layouts, &Checkpoint::model_metadata()).unwrap();
            for (i, t) in model.iter().enumerate() {
                buffer.slot_mut(i).copy_from_slice(&t.data);
            }
            let encoded = Checkpoint::write_encoded(b.path(), buffer.bytes(), &optimizer, &state).unwrap();
            let (fa, fb) = (files(&written.dir), files(&encoded.dir));
            assert_eq!(fa, fb);
            // The manifest's hashes are those of the files as they lie on disk.
            let manifest: BTreeMap<String, ManifestEntry> =
                serde_json::from_slice(&fb[MANIFEST_FILE]).unwrap();
            for (name, entry) in &manifest {
                assert_eq!(entry.sha256, hex::encode(Sha256::digest(&fb[name])), "{name}");
                assert_eq!(entry.bytes, fb[name].len() as u64, "{name}");
            }
            let loaded = encoded.load().unwrap();
            let mut sorted = model.clone();
            sorted.sort_by(|x, y| x.name.cmp(&y.name));
            assert_eq!((loaded.model, loaded.state), (sorted, state));
        }
    }

    #[test]
    fn a_model_file_not_in_the_checkpoint_format_is_refused_before_any_write() {
        let dir = tempfile::tempdir().unwrap();
        let state = CheckpointState { epoch: 1, step: 1, rng: BTreeMap::new() };
        let model = [tensor("w", Dtype::F32, &[4], 0)];
        let plain = encode_tensors(Path::new("x"), &model, &HashMap::new()).unwrap();
        for (bytes, expected) in [
            (&plain[..], "lacks the metadata `format: pt`"),
            (&plain[..plain.len() - 1], "not a valid safetensors file"),
        ] {
            let err = Checkpoint::write_encoded(dir.path(), bytes, &[], &state).unwrap_err().to_string();
            assert!(err.contains("checkpoint_000001/model.safetensors: ") && err.contains(expected), "{err}");
        }
        assert_eq!(fs_err::read_dir(dir.path()).unwrap().count(), 0);
    }
}
