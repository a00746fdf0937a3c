//! Atomic file writes: temp file in the same folder, fsync, rename, fsync the folder.

use std::io::Write;
use std::path::Path;

use crate::Result;

/// Write `bytes` to `path` so that a reader (or a crash) sees the old file or the new one,
/// never a mix. Creates the parent folder.
///
/// # Errors
/// Any I/O error, naming the path.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    atomic_write_with(path, |w| w.write_all(bytes))
}

/// Like [`atomic_write`], with the content produced by a closure writing to the temp file.
///
/// # Errors
/// Any I/O error, naming the path.
pub fn atomic_write_with(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<&std::fs::File>) -> std::io::Result<()>,
) -> Result<()> {
    let dir = parent(path);
    fs_err::create_dir_all(dir)?;
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{}.", file_name(path)))
        .suffix(".tmp")
        // Zoos are shared: readable by everyone like any other file (tempfile's default is 0600).
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .tempfile_in(dir)
        .map_err(|e| with_path(e, path))?;
    {
        let mut w = std::io::BufWriter::new(tmp.as_file());
        write(&mut w).map_err(|e| with_path(e, path))?;
        w.flush().map_err(|e| with_path(e, path))?;
    }
    tmp.as_file().sync_all().map_err(|e| with_path(e, path))?;
    tmp.persist(path).map_err(|e| with_path(e.error, path))?;
    sync_dir(dir);
    Ok(())
}

/// Flush a folder's entries (the rename) to disk. Best effort: not every filesystem allows it.
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(f) = std::fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

/// Whether `name` is something a killed writer leaves behind: the temporary file of an atomic
/// write (`.<name>.<random>.tmp`, [`atomic_write`]), of the report's pictures and page
/// (`.<name>.<random><ext>` for a destination `<name>` ending in `<ext>`, pz-report's
/// `write.rs`), or a checkpoint's temporary or set-aside folder (`.checkpoint_*`, `.trash-*`,
/// [`crate::Checkpoint::write`]).
pub(crate) fn is_partial_write(name: &str) -> bool {
    let Some(rest) = name.strip_prefix('.') else { return false };
    if rest.starts_with("checkpoint_") || rest.starts_with("trash-") {
        return true;
    }
    if rest.len() > ".tmp".len() && rest.ends_with(".tmp") {
        return true;
    }
    // tempfile's `.<name>.<random><suffix>` where the suffix repeats the destination's extension.
    [".png", ".svg", ".html"].iter().any(|ext| {
        rest.strip_suffix(ext).and_then(|s| s.rsplit_once('.')).is_some_and(|(dest, random)| {
            dest.ends_with(ext) && !random.is_empty() && random.chars().all(|c| c.is_ascii_alphanumeric())
        })
    })
}

/// Remove every partial write ([`is_partial_write`]) in `dir`, and with `recursive` in every
/// folder below it (symbolic links are not followed); how many were removed. Only while no
/// writer is alive (the zoo's lock is held).
pub(crate) fn remove_partial_writes(dir: &Path, recursive: bool) -> Result<usize> {
    let entries = match fs_err::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        let file_type = entry.file_type()?;
        if entry.file_name().to_str().is_some_and(is_partial_write) {
            if file_type.is_dir() {
                fs_err::remove_dir_all(entry.path())?;
            } else {
                fs_err::remove_file(entry.path())?;
            }
            removed += 1;
        } else if recursive && file_type.is_dir() {
            removed += remove_partial_writes(&entry.path(), true)?;
        }
    }
    Ok(removed)
}

pub(crate) fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned())
}

fn with_path(e: std::io::Error, path: &Path) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("failed to write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/a.json");
        atomic_write(&path, b"one").unwrap();
        atomic_write(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn partial_writes_are_recognized_by_name() {
        for name in [
            ".result.json.aB3dE9.tmp",
            ".metrics.json.x1y2z3.tmp",
            ".index.csv.abcdef.tmp",
            ".checkpoint_000010.Qw3rTy",
            ".trash-checkpoint_000010",
            ".cell.png.Zx81Ab.png",
            ".cell.svg.Zx81Ab.svg",
            ".report.html.Zx81Ab.html",
        ] {
            assert!(is_partial_write(name), "{name}");
        }
        for name in [
            "result.json",
            "checkpoint_000010",
            ".lock",
            "cell.png",
            ".tmp",
            "report.html",
            ".report.html",
            ".cell.png.Zx81Ab.svg",
            "a.tmp",
        ] {
            assert!(!is_partial_write(name), "{name}");
        }
    }

    #[test]
    fn a_killed_writers_temp_file_is_what_removal_removes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("result.json");
        // What atomic_write leaves when killed before its rename.
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{}.", file_name(&path)))
            .suffix(".tmp")
            .tempfile_in(dir.path())
            .unwrap()
            .keep()
            .unwrap()
            .1;
        atomic_write(&path, b"kept").unwrap();
        assert!(is_partial_write(tmp.file_name().unwrap().to_str().unwrap()));
        assert_eq!(remove_partial_writes(dir.path(), false).unwrap(), 1);
        assert!(!tmp.exists() && path.exists());
    }

    #[test]
    fn a_failing_writer_leaves_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        atomic_write(&path, b"old").unwrap();
        let err = atomic_write_with(&path, |w| {
            w.write_all(b"half")?;
            Err(std::io::Error::other("disk on fire"))
        });
        assert!(err.unwrap_err().to_string().contains("a.json"));
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
