//! Checksums of downloaded files against the published ones.

use std::io::Read;
use std::path::Path;

use md5::Md5;
use sha2::{Digest, Sha256};

use super::{DataError, RemoteFile};

/// How a downloaded file was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// Its SHA-256 equals the published one.
    Sha256,
    /// No SHA-256 is published; its MD5 equals the published one.
    Md5,
    /// Nothing is published: the file was kept unverified (its SHA-256 is reported).
    Unverified,
}

/// The hex SHA-256 and MD5 of a file, read once.
pub(crate) fn digests(path: &Path) -> Result<(String, String), DataError> {
    let mut file = fs_err::File::open(path)?;
    let (mut sha, mut md5) = (Sha256::new(), Md5::new());
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        sha.update(&buffer[..n]);
        md5.update(&buffer[..n]);
    }
    Ok((hex::encode(sha.finalize()), hex::encode(md5.finalize())))
}

/// Checks the file at `path` (downloaded from `url`) against `file`'s published checksum.
/// Returns how it was checked and its SHA-256; a mismatch is an error (the file is kept: the
/// caller decides whether to delete it).
pub(crate) fn verify(
    path: &Path,
    url: &str,
    file: &RemoteFile<'_>,
) -> Result<(Verification, String), DataError> {
    let (sha256, md5) = digests(path)?;
    let mismatch = |algorithm, expected: &str, got: &str| DataError::ChecksumMismatch {
        path: path.to_path_buf(),
        url: url.to_owned(),
        algorithm,
        expected: expected.to_owned(),
        got: got.to_owned(),
    };
    match (file.sha256, file.md5) {
        (Some(expected), _) if !expected.eq_ignore_ascii_case(&sha256) => {
            Err(mismatch("SHA-256", expected, &sha256))
        }
        (Some(_), _) => Ok((Verification::Sha256, sha256)),
        (None, Some(expected)) if !expected.eq_ignore_ascii_case(&md5) => {
            Err(mismatch("MD5", expected, &md5))
        }
        (None, Some(_)) => Ok((Verification::Md5, sha256)),
        (None, None) => Ok((Verification::Unverified, sha256)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote<'a>(sha256: Option<&'a str>, md5: Option<&'a str>) -> RemoteFile<'a> {
        RemoteFile { file_name: "f", url: "http://h/f", size: None, sha256, md5 }
    }

    #[test]
    fn checks_sha256_first_then_md5_and_otherwise_reports_the_sha256() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs_err::write(&path, b"abc").unwrap();
        // Digests of "abc": FIPS 180-2 appendix B.1 and RFC 1321 appendix A.5.
        let sha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let md5 = "900150983cd24fb0d6963f7d28e17f72";
        assert_eq!(
            verify(&path, "u", &remote(Some(sha), Some("00"))).unwrap(),
            (Verification::Sha256, sha.into())
        );
        assert_eq!(verify(&path, "u", &remote(None, Some(md5))).unwrap(), (Verification::Md5, sha.into()));
        assert_eq!(verify(&path, "u", &remote(None, None)).unwrap(), (Verification::Unverified, sha.into()));
        let err = verify(&path, "http://h/f", &remote(None, Some("00"))).unwrap_err().to_string();
        assert!(err.contains("MD5 mismatch for http://h/f: expected 00, got 9001"), "{err}");
        let err = verify(&path, "u", &remote(Some("ff"), Some(md5))).unwrap_err().to_string();
        assert!(err.contains("SHA-256 mismatch"), "{err}");
    }
}
