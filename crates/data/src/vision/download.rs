//! One file over HTTP(S) into a folder, resuming a partial `.part` file with a Range request,
//! then checked against its published checksum before it gets its final name.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::verify::{verify, Verification};
use super::{DataError, RemoteFile};

/// A file now complete in the downloads folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    /// Where it is.
    pub path: PathBuf,
    /// Where it came from.
    pub url: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its SHA-256 (hex), computed here whatever was published.
    pub sha256: String,
    /// What it was checked against.
    pub verification: Verification,
    /// Whether it was already there (verified again, not downloaded).
    pub reused: bool,
}

/// Downloads `file` from `url` to `dir/<file_name>`, through `dir/<file_name>.part`.
///
/// A `.part` left by an interrupted run is resumed with `Range: bytes=<len>-`; a server that
/// ignores ranges (200) restarts it. A complete file already in place is verified again and
/// kept. `progress(done, total)` is called as bytes arrive (`done` counts resumed bytes).
/// On a checksum mismatch the file is deleted and nothing is left behind.
pub(crate) fn download(
    file: &RemoteFile<'_>,
    url: &str,
    dir: &Path,
    progress: &dyn Fn(u64, Option<u64>),
) -> Result<Download, DataError> {
    fs_err::create_dir_all(dir)?;
    let path = dir.join(file.file_name);
    let part = dir.join(format!("{}.part", file.file_name));
    if path.is_file() {
        match checked(&path, url, file) {
            Ok(existing) => {
                progress(existing.bytes, Some(existing.bytes));
                return Ok(Download { reused: true, ..existing });
            }
            // A stale or damaged earlier download: fetch it again.
            Err(DataError::ChecksumMismatch { .. }) => {
                tracing::warn!(path = %path.display(), "checksum mismatch; downloading again")
            }
            Err(e) => return Err(e),
        }
    }
    transfer(file, url, &part, progress)?;
    let download = checked(&part, url, file).map_err(|e| match e {
        // Name the file the user knows; the `.part` is gone either way.
        DataError::ChecksumMismatch { url, algorithm, expected, got, .. } => {
            DataError::ChecksumMismatch { path: path.clone(), url, algorithm, expected, got }
        }
        other => other,
    })?;
    fs_err::rename(&part, &path)?;
    Ok(Download { path, ..download })
}

/// Verifies `path`; a mismatching file is deleted before the error is returned.
fn checked(path: &Path, url: &str, file: &RemoteFile<'_>) -> Result<Download, DataError> {
    match verify(path, url, file) {
        Ok((verification, sha256)) => Ok(Download {
            path: path.to_path_buf(),
            url: url.to_owned(),
            bytes: fs_err::metadata(path)?.len(),
            sha256,
            verification,
            reused: false,
        }),
        Err(e) => {
            fs_err::remove_file(path)?;
            Err(e)
        }
    }
}

/// Fills `part` with the whole body of `url`, continuing from its current length.
fn transfer(
    file: &RemoteFile<'_>,
    url: &str,
    part: &Path,
    progress: &dyn Fn(u64, Option<u64>),
) -> Result<(), DataError> {
    let failed =
        |message: String| DataError::Download { url: url.to_owned(), message, part: part.to_path_buf() };
    let agent = ureq::AgentBuilder::new()
        .try_proxy_from_env(true)
        .timeout_connect(Duration::from_secs(30))
        .timeout_read(Duration::from_secs(60))
        .build();
    // Two tries: a resume the server cannot satisfy (416 with a stale .part) restarts once.
    for _ in 0..2 {
        let offset = fs_err::metadata(part).map_or(0, |m| m.len());
        if file.size.is_some_and(|size| offset == size) {
            return Ok(()); // complete but not yet verified when the last run stopped
        }
        let mut request = agent.get(url);
        if offset > 0 {
            request = request.set("Range", &format!("bytes={offset}-"));
        }
        let response = match request.call() {
            Ok(response) => response,
            Err(ureq::Error::Status(416, _)) if offset > 0 => {
                tracing::warn!(
                    part = %part.display(),
                    "the server cannot resume this partial file; starting again"
                );
                fs_err::remove_file(part)?;
                continue;
            }
            Err(ureq::Error::Status(status, response)) => {
                let reason = response.status_text().to_owned();
                return Err(DataError::HttpStatus { url: url.to_owned(), status, reason });
            }
            Err(e) => return Err(DataError::Http { url: url.to_owned(), source: Box::new(e) }),
        };
        let length = response.header("Content-Length").and_then(|v| v.parse::<u64>().ok());
        let (mut output, start) = if response.status() == 206 {
            let range_start = response
                .header("Content-Range")
                .and_then(|v| v.strip_prefix("bytes "))
                .and_then(|v| v.split('-').next())
                .and_then(|v| v.parse::<u64>().ok());
            if range_start != Some(offset) {
                return Err(failed(format!(
                    "asked for bytes from {offset}, the server sent range {range_start:?}"
                )));
            }
            (fs_err::OpenOptions::new().append(true).open(part)?, offset)
        } else {
            (fs_err::File::create(part)?, 0) // 200: the whole file, whatever was asked
        };
        let total = length.map(|l| start + l).or(file.size);
        let mut done = start;
        progress(done, total);
        let mut body = response.into_reader();
        let mut buffer = vec![0u8; 1 << 16];
        loop {
            let n = body
                .read(&mut buffer)
                .map_err(|e| failed(format!("the connection broke after {done} bytes: {e}")))?;
            if n == 0 {
                break;
            }
            output.write_all(&buffer[..n])?;
            done += n as u64;
            progress(done, total);
        }
        output.flush()?;
        if let Some(total) = total.filter(|&t| done < t) {
            return Err(failed(format!("the transfer stopped at {done} of {total} bytes")));
        }
        return Ok(());
    }
    Err(failed("the server refused to resume twice".to_owned()))
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::vision::test_server::TestServer;

    fn sha256(bytes: &[u8]) -> String {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(bytes))
    }

    fn body() -> Vec<u8> {
        (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn downloads_a_whole_file_and_verifies_it() {
        let body = body();
        let hash = sha256(&body);
        let server = TestServer::serve(vec![("/f.bin".into(), body.clone())], 1);
        let dir = tempfile::tempdir().unwrap();
        let file =
            RemoteFile { file_name: "f.bin", url: "unused", size: None, sha256: Some(&hash), md5: None };
        let last = Cell::new((0, None));
        let got = download(&file, &server.url("f.bin"), dir.path(), &|d, t| last.set((d, t))).unwrap();
        assert_eq!(fs_err::read(dir.path().join("f.bin")).unwrap(), body);
        assert_eq!(
            (got.verification, got.sha256.as_str(), got.reused),
            (Verification::Sha256, hash.as_str(), false)
        );
        assert_eq!(last.get(), (200_000, Some(200_000)));
        assert!(!dir.path().join("f.bin.part").exists());
        assert_eq!(server.requests()[0].range, None);
    }

    #[test]
    fn resumes_a_partial_file_with_a_range_request() {
        let body = body();
        let hash = sha256(&body);
        let server = TestServer::serve(vec![("/f.bin".into(), body.clone())], 1);
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join("f.bin.part"), &body[..123_456]).unwrap();
        let file = RemoteFile {
            file_name: "f.bin",
            url: "unused",
            size: Some(200_000),
            sha256: Some(&hash),
            md5: None,
        };
        let first = Cell::new(None);
        let progress = |d: u64, _| {
            if first.get().is_none() {
                first.set(Some(d));
            }
        };
        download(&file, &server.url("f.bin"), dir.path(), &progress).unwrap();
        assert_eq!(fs_err::read(dir.path().join("f.bin")).unwrap(), body);
        assert_eq!(server.requests()[0].range.as_deref(), Some("bytes=123456-"));
        assert_eq!(first.get(), Some(123_456), "progress starts at the resumed length");
    }

    #[test]
    fn a_dropped_connection_keeps_the_part_file_and_the_next_run_resumes_it() {
        let body = body();
        let hash = sha256(&body);
        let file =
            RemoteFile { file_name: "f.bin", url: "unused", size: None, sha256: Some(&hash), md5: None };
        let dir = tempfile::tempdir().unwrap();
        let server = TestServer::serve_cut(vec![("/f.bin".into(), body.clone())], 1, Some(50_000));
        let err = download(&file, &server.url("f.bin"), dir.path(), &|_, _| {}).unwrap_err().to_string();
        let part = dir.path().join("f.bin.part");
        assert!(err.contains(&format!("a partial download resumes from {}", part.display())), "{err}");
        assert_eq!(fs_err::read(&part).unwrap(), body[..50_000]);

        let server = TestServer::serve(vec![("/f.bin".into(), body.clone())], 1);
        download(&file, &server.url("f.bin"), dir.path(), &|_, _| {}).unwrap();
        assert_eq!(server.requests()[0].range.as_deref(), Some("bytes=50000-"));
        assert_eq!(fs_err::read(dir.path().join("f.bin")).unwrap(), body);
    }

    #[test]
    fn a_checksum_mismatch_deletes_the_download() {
        let server = TestServer::serve(vec![("/f.bin".into(), b"tampered".to_vec())], 1);
        let dir = tempfile::tempdir().unwrap();
        let file = RemoteFile {
            file_name: "f.bin",
            url: "unused",
            size: None,
            sha256: Some(&"0".repeat(64)),
            md5: None,
        };
        let err = download(&file, &server.url("f.bin"), dir.path(), &|_, _| {}).unwrap_err();
        assert!(matches!(err, DataError::ChecksumMismatch { .. }), "{err}");
        assert!(err.to_string().contains("SHA-256 mismatch"), "{err}");
        assert_eq!(
            fs_err::read_dir(dir.path()).unwrap().count(),
            0,
            "neither the file nor the .part is left"
        );
    }

    #[test]
    fn an_error_status_keeps_nothing_and_names_the_url() {
        let server = TestServer::serve(vec![], 1);
        let dir = tempfile::tempdir().unwrap();
        let file = RemoteFile { file_name: "gone.bin", url: "unused", size: None, sha256: None, md5: None };
        let url = server.url("gone.bin");
        let err = download(&file, &url, dir.path(), &|_, _| {}).unwrap_err().to_string();
        assert!(err.starts_with(&format!("{url}: the server answered 404 Not Found")), "{err}");
        assert!(err.contains("--from PATH"), "{err}");
        assert!(!dir.path().join("gone.bin").exists());
    }

    #[test]
    fn a_complete_file_in_place_is_verified_and_reused_without_a_request() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join("f.bin"), b"abc").unwrap();
        let hash = sha256(b"abc");
        let file =
            RemoteFile { file_name: "f.bin", url: "unused", size: None, sha256: Some(&hash), md5: None };
        // Port 9 (discard) on loopback: any request would fail the test.
        let got = download(&file, "http://127.0.0.1:9/f.bin", dir.path(), &|_, _| {}).unwrap();
        assert!(got.reused);
        assert_eq!(got.bytes, 3);
    }
}
