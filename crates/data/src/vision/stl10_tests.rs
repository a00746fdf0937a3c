use sha2::{Digest, Sha256};

use super::*;
use crate::vision::fixtures::{stl10_images, stl10_pixel, tar_gz};
use crate::vision::test_server::TestServer;
use crate::vision::{fetch, fetch_files, load, RemoteFile};

/// Three train images labelled 1, 10, 5 and two test images labelled 2, 7 (images numbered
/// 0..3 and 10..12 for [`stl10_pixel`]), after members the reader must skip.
fn stl10_files() -> Vec<(String, Vec<u8>)> {
    vec![
        ("stl10_binary/class_names.txt".into(), b"airplane\nbird\n".to_vec()),
        ("stl10_binary/unlabeled_X.bin".into(), vec![9; 1000]),
        ("stl10_binary/train_X.bin".into(), stl10_images(0, 3)),
        ("stl10_binary/train_y.bin".into(), vec![1, 10, 5]),
        ("stl10_binary/test_X.bin".into(), stl10_images(10, 2)),
        ("stl10_binary/test_y.bin".into(), vec![2, 7]),
    ]
}

fn write_archive(dir: &Path, files: &[(String, Vec<u8>)]) -> PathBuf {
    let path = dir.join("stl10_binary.tar.gz");
    fs_err::write(&path, tar_gz(files)).unwrap();
    path
}

/// Image k written out row by row, channel by channel: what the reader must return.
fn row_major(k: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for c in 0..3 {
        for row in 0..96 {
            for col in 0..96 {
                out.push(stl10_pixel(k, c, row, col));
            }
        }
    }
    out
}

fn check(data: &VisionData) {
    assert_eq!((data.train.n, data.test.n, data.classes), (3, 2, 10));
    assert_eq!((data.train.channels, data.train.height, data.train.width), (3, 96, 96));
    assert_eq!(data.train.labels, [0, 9, 4]);
    assert_eq!(data.test.labels, [1, 6]);
    // In the file, byte 1 is row 1 of column 0 and byte 96 row 0 of column 1.
    let raw = stl10_images(0, 1);
    assert_eq!((raw[1], raw[96]), (5, 2));
    assert_eq!((data.train.image(0)[96], data.train.image(0)[1]), (5, 2));
    for k in 0..3 {
        assert_eq!(data.train.image(k), row_major(k), "train image {k}");
    }
    for k in 0..2 {
        assert_eq!(data.test.image(k), row_major(10 + k), "test image {k}");
    }
}

#[test]
fn reads_the_tar_gz_transposing_the_column_major_channels() {
    let dir = tempfile::tempdir().unwrap();
    check(&read_stl10(&write_archive(dir.path(), &stl10_files())).unwrap());
}

#[test]
fn reads_the_extracted_folder_or_its_parent() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in stl10_files() {
        let path = dir.path().join(name);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(path, bytes).unwrap();
    }
    check(&read_stl10(dir.path()).unwrap());
    check(&read_stl10(&dir.path().join("stl10_binary")).unwrap());
    let empty = dir.path().join("empty");
    fs_err::create_dir(&empty).unwrap();
    let err = read_stl10(&empty).unwrap_err().to_string();
    let expected = format!("{}: no test_X.bin here or in stl10_binary/", empty.display());
    assert!(err.starts_with(&expected), "{err}");
}

#[test]
fn a_label_0_or_11_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    for bad in [0u8, 11] {
        let mut files = stl10_files();
        files[5].1 = vec![3, bad];
        let archive = write_archive(dir.path(), &files);
        let err = read_stl10(&archive).unwrap_err().to_string();
        let member = archive.join("stl10_binary/test_y.bin");
        let expected = format!("{}: label 1 is {bad}; STL-10 labels are 1..=10", member.display());
        assert!(err.starts_with(&expected), "{err}");
    }
}

#[test]
fn wrong_sizes_are_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("stl10_binary.tar.gz");
    let member = |name: &str| archive.join("stl10_binary").join(name).display().to_string();

    let mut files = stl10_files();
    files[2].1.pop();
    write_archive(dir.path(), &files);
    let err = read_stl10(&archive).unwrap_err().to_string();
    let expected =
        format!("{}: 82943 bytes is not a whole, non-zero number of 27648-byte", member("train_X.bin"));
    assert!(err.starts_with(&expected), "{err}");

    let mut files = stl10_files();
    files[3].1 = vec![1, 2];
    write_archive(dir.path(), &files);
    let err = read_stl10(&archive).unwrap_err().to_string();
    let expected =
        format!("{}: 2 labels for the 3 images of {}", member("train_y.bin"), member("train_X.bin"));
    assert!(err.starts_with(&expected), "{err}");

    let mut files = stl10_files();
    files.remove(5);
    write_archive(dir.path(), &files);
    let err = read_stl10(&archive).unwrap_err().to_string();
    let expected = format!("{}: the archive has no stl10_binary/test_y.bin", archive.display());
    assert!(err.starts_with(&expected), "{err}");

    let bytes = tar_gz(&stl10_files());
    fs_err::write(&archive, &bytes[..bytes.len() / 2]).unwrap();
    let err = read_stl10(&archive).unwrap_err().to_string();
    assert!(err.starts_with(&archive.display().to_string()), "{err}");
    assert!(err.contains("damaged or truncated"), "{err}");
}

#[test]
fn fetch_downloads_verifies_and_imports_and_refuses_a_checksum_mismatch() {
    let body = tar_gz(&stl10_files());
    let hash = hex::encode(Sha256::digest(&body));
    let server = TestServer::serve(vec![("/stl10_binary.tar.gz".into(), body.clone())], 2);
    let canonical = &DatasetName::Stl10.info().files[0];
    let ours = RemoteFile { size: Some(body.len() as u64), sha256: Some(&hash), ..canonical.clone() };
    let data_dir = tempfile::tempdir().unwrap();
    let report =
        fetch_files(DatasetName::Stl10, &[ours], data_dir.path(), Some(&server.base_url()), &|_, _| {})
            .unwrap();
    assert_eq!(report.cache, data_dir.path().join("stl10.safetensors"));
    check(&load(DatasetName::Stl10, data_dir.path()).unwrap());

    let data_dir = tempfile::tempdir().unwrap();
    let err = fetch(DatasetName::Stl10, data_dir.path(), Some(&server.base_url()), &|_, _| {}).unwrap_err();
    assert!(matches!(err, DataError::ChecksumMismatch { .. }), "{err}");
    assert!(err.to_string().contains("stl10_binary.tar.gz: SHA-256 mismatch"), "{err}");
    assert!(err.to_string().contains("expected f31fd992"), "{err}");
    assert!(!data_dir.path().join("stl10.safetensors").exists());
    assert_eq!(fs_err::read_dir(data_dir.path().join("downloads")).unwrap().count(), 0);
}
