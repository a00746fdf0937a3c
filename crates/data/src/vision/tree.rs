//! A dataset folder read the same way whether it is on disk or inside a `.zip`.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use zip::ZipArchive;

use super::DataError;

/// The root of a dataset layout: a folder, or a folder inside a zip archive.
pub(crate) enum FileTree {
    /// Files under `root` on disk.
    Folder { root: PathBuf },
    /// Files under `prefix` inside the archive at `path`.
    Zip {
        path: PathBuf,
        archive: Box<ZipArchive<fs_err::File>>,
        prefix: String,
        /// Every file name in the archive, for listing folders.
        names: BTreeSet<String>,
    },
}

impl FileTree {
    /// Opens `from` as the tree whose root holds `marker`: a folder holding it, a folder whose
    /// child `folder` holds it, or a zip archive with it at its root or one folder deep.
    pub(crate) fn open(from: &Path, folder: &str, marker: &str) -> Result<Self, DataError> {
        if from.is_dir() {
            let root = [from.to_path_buf(), from.join(folder)].into_iter().find(|d| d.join(marker).is_file());
            return root
                .map(|root| Self::Folder { root })
                .ok_or_else(|| DataError::wrong_source(from, format!("no {marker} here or in {folder}/")));
        }
        let file = fs_err::File::open(from)?;
        let archive = ZipArchive::new(file).map_err(|e| {
            DataError::corrupt(from, format!("not a readable zip archive (damaged or truncated?): {e}"))
        })?;
        let names: BTreeSet<String> = archive.file_names().map(str::to_owned).collect();
        let prefix = [String::new(), format!("{folder}/")]
            .into_iter()
            .find(|p| names.contains(&format!("{p}{marker}")))
            .ok_or_else(|| {
                DataError::corrupt(from, format!("the archive has no {marker} or {folder}/{marker}"))
            })?;
        Ok(Self::Zip { path: from.to_path_buf(), archive: Box::new(archive), prefix, names })
    }

    /// Where `rel` is, for messages: a path on disk, or the archive path joined with the member.
    pub(crate) fn display_path(&self, rel: &str) -> PathBuf {
        match self {
            Self::Folder { root } => root.join(rel),
            Self::Zip { path, prefix, .. } => path.join(format!("{prefix}{rel}")),
        }
    }

    /// The bytes of the file at `rel` (a `/`-separated path below the root).
    pub(crate) fn read(&mut self, rel: &str) -> Result<Vec<u8>, DataError> {
        let shown = self.display_path(rel);
        match self {
            Self::Folder { root } => Ok(fs_err::read(root.join(rel))?),
            Self::Zip { archive, prefix, .. } => {
                let mut member = archive.by_name(&format!("{prefix}{rel}")).map_err(|e| {
                    DataError::corrupt(&shown, format!("cannot open this member of the archive: {e}"))
                })?;
                let mut bytes = Vec::new();
                member.read_to_end(&mut bytes).map_err(|e| {
                    DataError::corrupt(&shown, format!("cannot read (damaged archive?): {e}"))
                })?;
                Ok(bytes)
            }
        }
    }

    /// Names of the files directly in folder `rel`, sorted; an error if the folder is absent.
    pub(crate) fn list(&self, rel: &str) -> Result<Vec<String>, DataError> {
        let missing = || DataError::corrupt(self.display_path(rel), "this folder is missing");
        match self {
            Self::Folder { root } => {
                let dir = root.join(rel);
                if !dir.is_dir() {
                    return Err(missing());
                }
                let mut names = Vec::new();
                for entry in fs_err::read_dir(&dir)? {
                    let entry = entry?;
                    if entry.file_type()?.is_file() {
                        names.push(entry.file_name().to_string_lossy().into_owned());
                    }
                }
                names.sort();
                Ok(names)
            }
            Self::Zip { prefix, names, .. } => {
                let folder = format!("{prefix}{rel}/");
                let files: Vec<String> = names
                    .range(folder.clone()..)
                    .take_while(|n| n.starts_with(&folder))
                    .filter_map(|n| {
                        n[folder.len()..].split_once('/').map_or(Some(&n[folder.len()..]), |_| None)
                    })
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned)
                    .collect();
                if files.is_empty() && !names.contains(&folder) {
                    return Err(missing());
                }
                Ok(files)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::fixtures::zip_bytes;

    #[test]
    fn a_zip_and_a_folder_list_and_read_alike() {
        let dir = tempfile::tempdir().unwrap();
        let files =
            [("top/m.txt", b"m".as_slice()), ("top/a/x", b"x"), ("top/a/b/y", b"y"), ("top/a/z", b"zz")];
        let zip_path = dir.path().join("t.zip");
        fs_err::write(&zip_path, zip_bytes(&files)).unwrap();
        for (name, bytes) in files {
            let path = dir.path().join(name);
            fs_err::create_dir_all(path.parent().unwrap()).unwrap();
            fs_err::write(path, bytes).unwrap();
        }
        for from in [zip_path.clone(), dir.path().to_path_buf(), dir.path().join("top")] {
            let mut tree = FileTree::open(&from, "top", "m.txt").unwrap();
            assert_eq!(tree.list("a").unwrap(), vec!["x", "z"], "{}", from.display());
            assert_eq!(tree.read("a/z").unwrap(), b"zz");
            let err = tree.list("nope").unwrap_err().to_string();
            assert!(err.contains("nope: this folder is missing"), "{err}");
        }
        let err = FileTree::open(&zip_path, "top", "other.txt").err().unwrap().to_string();
        assert!(err.contains("the archive has no other.txt"), "{err}");
    }

    #[test]
    fn a_truncated_zip_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = zip_bytes(&[("m.txt", b"m")]);
        let path = dir.path().join("t.zip");
        fs_err::write(&path, &bytes[..bytes.len() - 10]).unwrap();
        let err = FileTree::open(&path, "top", "m.txt").err().unwrap().to_string();
        assert!(err.starts_with(&format!("{}: not a readable zip archive", path.display())), "{err}");
    }
}
