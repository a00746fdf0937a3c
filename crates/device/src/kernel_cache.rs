//! Compiled kernels kept on disk between processes.
//!
//! Why: NVRTC takes about a second for the PINN sweep's kernels, at every process start, which
//! is a sixth of a paper-size PINN zoo's training on an H200 (BENCHMARKS.md). A cubin depends
//! only on the source, the compile options, the GPU architecture and NVRTC's version, so all of
//! them name the file, and a later process loads it instead of compiling.
//!
//! Where: `$PHASEZOO_KERNEL_CACHE` if set (empty or `off` turns the cache off), else
//! `$XDG_CACHE_HOME/phasezoo/kernels`, else `~/.cache/phasezoo/kernels`. A file holds a magic
//! line, the SHA-256 of the cubin and the cubin; a file whose checksum does not match (truncated,
//! corrupt) is ignored and rewritten. Writes are atomic (temp file + rename), so processes
//! sharing the folder (a Slurm array) never read half a file.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

const MAGIC: &[u8] = b"phasezoo cubin 1\n";

/// A folder of compiled kernels.
#[derive(Debug, Clone)]
pub(crate) struct DiskCache {
    dir: PathBuf,
}

impl DiskCache {
    /// The folder the environment names, or `None` where the cache is off or no folder is known.
    pub(crate) fn from_env() -> Option<Self> {
        let var = |name: &str| std::env::var_os(name).map(PathBuf::from);
        Self::choose(var("PHASEZOO_KERNEL_CACHE"), var("XDG_CACHE_HOME"), var("HOME"))
    }

    /// [`DiskCache::from_env`] with the variables given (`PHASEZOO_KERNEL_CACHE`,
    /// `XDG_CACHE_HOME`, `HOME`).
    fn choose(own: Option<PathBuf>, xdg: Option<PathBuf>, home: Option<PathBuf>) -> Option<Self> {
        let dir = match own {
            Some(dir) if dir.as_os_str().is_empty() || dir == Path::new("off") => return None,
            Some(dir) => dir,
            None => match (xdg.filter(|d| d.is_absolute()), home) {
                (Some(xdg), _) => xdg.join("phasezoo").join("kernels"),
                (None, Some(home)) => home.join(".cache").join("phasezoo").join("kernels"),
                (None, None) => return None,
            },
        };
        Some(Self { dir })
    }

    #[cfg(test)]
    pub(crate) fn at(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// The file of the cubin that `source` (named `file`) compiles to with `options` for
    /// `target` (architecture and NVRTC version).
    pub(crate) fn path(&self, file: &str, source: &str, options: &[String], target: &str) -> PathBuf {
        let mut key = Sha256::new();
        for part in [file, source, &options.join("\0"), target] {
            key.update(part.as_bytes());
            key.update([0]);
        }
        let stem = Path::new(file).file_stem().and_then(|s| s.to_str()).unwrap_or("kernel");
        self.dir.join(format!("{stem}-{}.cubin", &hex::encode(key.finalize())[..32]))
    }

    /// The cubin stored at `path`, or `None` if there is none or it fails its checksum.
    pub(crate) fn read(path: &Path) -> Option<Vec<u8>> {
        let bytes = std::fs::read(path).ok()?;
        let rest = bytes.strip_prefix(MAGIC)?;
        if rest.len() < 32 {
            return None;
        }
        let (sum, cubin) = rest.split_at(32);
        (Sha256::digest(cubin).as_slice() == sum).then(|| cubin.to_vec())
    }

    /// Stores `cubin` at `path` (a file in this cache's folder), atomically.
    ///
    /// # Errors
    /// The folder cannot be made or written.
    pub(crate) fn write(&self, path: &Path, cubin: &[u8]) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        tmp.write_all(MAGIC)?;
        tmp.write_all(&Sha256::digest(cubin))?;
        tmp.write_all(cubin)?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_folder_follows_the_environment() {
        let p = |s: &str| Some(PathBuf::from(s));
        let dir = |c: Option<DiskCache>| c.map(|c| c.dir);
        assert_eq!(dir(DiskCache::choose(p("/own"), p("/xdg"), p("/home/u"))), p("/own"));
        assert_eq!(dir(DiskCache::choose(p("off"), p("/xdg"), p("/home/u"))), None);
        assert_eq!(dir(DiskCache::choose(p(""), p("/xdg"), p("/home/u"))), None);
        assert_eq!(dir(DiskCache::choose(None, p("/xdg"), p("/home/u"))), p("/xdg/phasezoo/kernels"));
        // The XDG spec ignores relative paths.
        assert_eq!(
            dir(DiskCache::choose(None, p("rel"), p("/home/u"))),
            p("/home/u/.cache/phasezoo/kernels")
        );
        assert_eq!(dir(DiskCache::choose(None, None, None)), None);
    }

    #[test]
    fn every_input_of_the_compiler_names_the_file() {
        let cache = DiskCache::at(PathBuf::from("/c"));
        let opts = |o: &[&str]| o.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
        let base = cache.path("mlp.cu", "code", &opts(&["-DW=50"]), "sm_90 nvrtc 13.0");
        assert!(base.starts_with("/c") && base.file_name().unwrap().to_str().unwrap().starts_with("mlp-"));
        assert_eq!(base, cache.path("mlp.cu", "code", &opts(&["-DW=50"]), "sm_90 nvrtc 13.0"));
        for other in [
            cache.path("mlp.cu", "code2", &opts(&["-DW=50"]), "sm_90 nvrtc 13.0"),
            cache.path("mlp.cu", "code", &opts(&["-DW=51"]), "sm_90 nvrtc 13.0"),
            cache.path("mlp.cu", "code", &opts(&["-DW=5", "0"]), "sm_90 nvrtc 13.0"),
            cache.path("mlp.cu", "code", &opts(&["-DW=50"]), "sm_80 nvrtc 13.0"),
            cache.path("mlp.cu", "code", &opts(&["-DW=50"]), "sm_90 nvrtc 12.8"),
        ] {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn a_stored_cubin_reads_back_and_a_damaged_one_does_not() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = DiskCache::at(tmp.path().join("kernels"));
        let path = cache.path("k.cu", "code", &[], "sm_90 nvrtc 13.0");
        assert_eq!(DiskCache::read(&path), None);
        let cubin: Vec<u8> = (0..=255).cycle().take(5000).collect();
        cache.write(&path, &cubin).unwrap();
        assert_eq!(DiskCache::read(&path).as_deref(), Some(&cubin[..]));
        let stored = std::fs::read(&path).unwrap();
        std::fs::write(&path, &stored[..stored.len() - 1]).unwrap(); // truncated
        assert_eq!(DiskCache::read(&path), None);
        let mut flipped = stored.clone();
        flipped[MAGIC.len() + 40] ^= 1; // one bit of the cubin
        std::fs::write(&path, &flipped).unwrap();
        assert_eq!(DiskCache::read(&path), None);
        std::fs::write(&path, &stored[MAGIC.len()..]).unwrap(); // not a cache file
        assert_eq!(DiskCache::read(&path), None);
        cache.write(&path, &cubin).unwrap(); // rewritten in place
        assert_eq!(DiskCache::read(&path).as_deref(), Some(&cubin[..]));
        let names: Vec<_> = std::fs::read_dir(tmp.path().join("kernels")).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file is left behind");
    }
}
