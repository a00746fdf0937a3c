//! `phasezoo data fetch NAME`: download a dataset's canonical files, verify them, import them.

use std::path::{Path, PathBuf};

use super::download::{download, Download};
use super::verify::Verification;
use super::{import, DataError, DatasetName, RemoteFile};

/// What [`fetch`] did: the cache written and each file downloaded (or found in place).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchReport {
    /// The cache file written by the import.
    pub cache: PathBuf,
    /// The downloaded files, in the order of [`DatasetInfo::files`](super::DatasetInfo::files).
    pub downloads: Vec<Download>,
}

impl FetchReport {
    /// One line per file that could not be checked against a published SHA-256, for the user:
    /// the binary prints these (this crate does not print).
    #[must_use]
    pub fn notes(&self) -> Vec<String> {
        self.downloads
            .iter()
            .filter_map(|d| match d.verification {
                Verification::Sha256 => None,
                Verification::Md5 => Some(format!(
                    "{}: checked by MD5 only (no SHA-256 is published); its SHA-256 is {}",
                    d.path.display(),
                    d.sha256
                )),
                Verification::Unverified => Some(format!(
                    "{}: NOT verified (no checksum is published); its SHA-256 is {}",
                    d.path.display(),
                    d.sha256
                )),
            })
            .collect()
    }
}

/// Downloads `name`'s canonical files into `<data_dir>/downloads/` (resuming partial ones),
/// verifies them, and imports them into the cache.
///
/// `base_url` replaces each file's host and folder: the file is fetched from
/// `<base_url>/<file_name>` (a mirror, or a test server). `progress(done, total)` counts bytes
/// over all files; `total` is known when every file's size is published. The downloads are
/// kept, so importing again needs no network.
///
/// # Errors
/// Network failures and error statuses (a partial file stays for the next run), a checksum
/// mismatch (the file is deleted, nothing is imported), and every import error.
pub fn fetch(
    name: DatasetName,
    data_dir: &Path,
    base_url: Option<&str>,
    progress: &dyn Fn(u64, Option<u64>),
) -> Result<FetchReport, DataError> {
    fetch_files(name, name.info().files, data_dir, base_url, progress)
}

/// [`fetch`] with the file list given: the same files with other checksums (a test, or a
/// mirror that publishes its own), or where `DatasetInfo::files` is not the copy wanted.
///
/// # Errors
/// As [`fetch`].
pub fn fetch_files(
    name: DatasetName,
    files: &[RemoteFile<'_>],
    data_dir: &Path,
    base_url: Option<&str>,
    progress: &dyn Fn(u64, Option<u64>),
) -> Result<FetchReport, DataError> {
    let dir = data_dir.join("downloads");
    let total = files.iter().map(|f| f.size).sum::<Option<u64>>();
    let mut before = 0;
    let mut downloads = Vec::new();
    for file in files {
        let url = match base_url {
            Some(base) => format!("{}/{}", base.trim_end_matches('/'), file.file_name),
            None => file.url.to_owned(),
        };
        tracing::info!(%url, "downloading");
        let got = download(file, &url, &dir, &|done, _| progress(before + done, total))?;
        if got.verification != Verification::Sha256 {
            tracing::warn!(
                path = %got.path.display(),
                sha256 = %got.sha256,
                verification = ?got.verification,
                "not verified by SHA-256"
            );
        }
        before += got.bytes;
        downloads.push(got);
    }
    // Archives are imported as the file; the others from the folder holding them.
    let from = match name {
        DatasetName::Cifar10
        | DatasetName::Cifar100
        | DatasetName::TinyImagenet
        | DatasetName::Mnist
        | DatasetName::Stl10 => downloads.first().map_or_else(|| dir.clone(), |d| d.path.clone()),
        DatasetName::FashionMnist | DatasetName::Svhn => dir,
    };
    let cache = import(name, &from, data_dir)?;
    Ok(FetchReport { cache, downloads })
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use sha2::{Digest, Sha256};

    use super::*;
    use crate::vision::fixtures::fashion_mnist_files;
    use crate::vision::load;
    use crate::vision::test_server::TestServer;

    /// The Fashion-MNIST file names with the test bodies' own checksums.
    fn remote_files<'a>(bodies: &[(String, Vec<u8>)], hashes: &'a [String]) -> Vec<RemoteFile<'a>> {
        let info = DatasetName::FashionMnist.info();
        info.files
            .iter()
            .map(|f| {
                let i = bodies.iter().position(|(n, _)| n == f.file_name).unwrap();
                RemoteFile { size: Some(bodies[i].1.len() as u64), sha256: Some(&hashes[i]), ..f.clone() }
            })
            .collect()
    }

    /// A full fetch through a mirror URL, one file resumed from a `.part` of an earlier run.
    #[test]
    fn fetch_downloads_resumes_verifies_imports_and_loads() {
        let (bodies, train, test) = fashion_mnist_files(6, 4);
        let hashes: Vec<String> = bodies.iter().map(|(_, b)| hex::encode(Sha256::digest(b))).collect();
        let served = bodies.iter().map(|(n, b)| (format!("/mirror/{n}"), b.clone())).collect();
        let server = TestServer::serve(served, 4);
        let data_dir = tempfile::tempdir().unwrap();
        let files = remote_files(&bodies, &hashes);
        let total: u64 = bodies.iter().map(|(_, b)| b.len() as u64).sum();
        let last = Cell::new((0, None));
        let base = format!("{}/mirror/", server.base_url());
        let labels = bodies.iter().find(|(n, _)| n == "train-labels-idx1-ubyte.gz").unwrap();
        fs_err::create_dir_all(data_dir.path().join("downloads")).unwrap();
        fs_err::write(data_dir.path().join("downloads/train-labels-idx1-ubyte.gz.part"), &labels.1[..10])
            .unwrap();
        let report = fetch_files(DatasetName::FashionMnist, &files, data_dir.path(), Some(&base), &|d, t| {
            last.set((d, t))
        })
        .unwrap();
        assert_eq!(report.cache, data_dir.path().join("fashion-mnist.safetensors"));
        assert_eq!(report.downloads.len(), 4);
        assert!(report.notes().is_empty(), "all verified by SHA-256");
        assert_eq!(last.get(), (total, Some(total)));
        let data = load(DatasetName::FashionMnist, data_dir.path()).unwrap();
        assert_eq!((data.train, data.test), (train, test));
        let requests = server.requests();
        assert_eq!(requests.len(), 4);
        for request in requests {
            let resumed = request.path.ends_with("train-labels-idx1-ubyte.gz");
            assert_eq!(request.range.as_deref(), resumed.then_some("bytes=10-"), "{request:?}");
            assert!(request.path.starts_with("/mirror/"), "{request:?}");
        }
    }

    #[test]
    fn fetch_with_a_checksum_mismatch_caches_nothing_and_leaves_no_part_file() {
        // The canonical checksums and a server with other bytes under the canonical names.
        let (bodies, _, _) = fashion_mnist_files(2, 2);
        let server = TestServer::serve(bodies.iter().map(|(n, b)| (format!("/{n}"), b.clone())).collect(), 1);
        let data_dir = tempfile::tempdir().unwrap();
        let err = fetch(DatasetName::FashionMnist, data_dir.path(), Some(&server.base_url()), &|_, _| {})
            .unwrap_err();
        assert!(matches!(err, DataError::ChecksumMismatch { .. }), "{err}");
        let message = err.to_string();
        assert!(
            message.contains("train-images-idx3-ubyte.gz: SHA-256 mismatch for http://127.0.0.1:"),
            "{message}"
        );
        assert!(message.contains("expected 3aede38d"), "{message}");
        assert!(!data_dir.path().join("fashion-mnist.safetensors").exists());
        assert_eq!(fs_err::read_dir(data_dir.path().join("downloads")).unwrap().count(), 0);
    }

    #[test]
    fn notes_name_the_files_not_verified_by_sha256() {
        let download = |verification| Download {
            path: "d/tiny-imagenet-200.zip".into(),
            url: "u".into(),
            bytes: 1,
            sha256: "ab".into(),
            verification,
            reused: false,
        };
        let report = FetchReport {
            cache: "c".into(),
            downloads: vec![
                download(Verification::Sha256),
                download(Verification::Md5),
                download(Verification::Unverified),
            ],
        };
        assert_eq!(
            report.notes(),
            [
                "d/tiny-imagenet-200.zip: checked by MD5 only (no SHA-256 is published); its SHA-256 is ab",
                "d/tiny-imagenet-200.zip: NOT verified (no checksum is published); its SHA-256 is ab",
            ]
        );
    }
}
