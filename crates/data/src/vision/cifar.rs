//! CIFAR-10 and CIFAR-100, "binary version", from the `.tar.gz` or its extracted folder.
//!
//! A batch file is a run of fixed-size records: the label byte(s), then 3072 pixel bytes
//! (1024 red, 1024 green, 1024 blue, each 32 rows of 32), i.e. already `[C, H, W]`.
//! CIFAR-10 records carry one label byte; CIFAR-100 records carry the coarse then the fine
//! label, and phasezoo uses the fine one (100 classes).
//! Reference: <https://www.cs.toronto.edu/~kriz/cifar.html> ("Binary version").

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::tar_archive::{corrupt_archive, open_tar};
use super::{DataError, DatasetName, ImageSet, VisionData};

const PIXELS: usize = 3 * 32 * 32;

/// The layout of one of the two binary distributions.
struct Layout {
    name: DatasetName,
    /// The folder inside the archive.
    folder: &'static str,
    train: &'static [&'static str],
    test: &'static str,
    /// Label bytes before the pixels of each record.
    label_bytes: usize,
    /// Which of them is the label used.
    label_index: usize,
}

const CIFAR10: Layout = Layout {
    name: DatasetName::Cifar10,
    folder: "cifar-10-batches-bin",
    train: &[
        "data_batch_1.bin",
        "data_batch_2.bin",
        "data_batch_3.bin",
        "data_batch_4.bin",
        "data_batch_5.bin",
    ],
    test: "test_batch.bin",
    label_bytes: 1,
    label_index: 0,
};

const CIFAR100: Layout = Layout {
    name: DatasetName::Cifar100,
    folder: "cifar-100-binary",
    train: &["train.bin"],
    test: "test.bin",
    label_bytes: 2,
    label_index: 1,
};

/// Reads CIFAR-10 or CIFAR-100 from `from`: the `.tar.gz` (or `.tar`), the extracted folder,
/// or the folder that holds the extracted folder.
///
/// # Panics
/// If `name` is not a CIFAR dataset (a bug of the caller).
pub(crate) fn read_cifar(name: DatasetName, from: &Path) -> Result<VisionData, DataError> {
    let layout = match name {
        DatasetName::Cifar10 => &CIFAR10,
        DatasetName::Cifar100 => &CIFAR100,
        other => unreachable!("read_cifar called for {other}"),
    };
    let mut files = if from.is_dir() { read_folder(layout, from)? } else { read_archive(layout, from)? };
    let mut take = |file: &str| files.remove(file).expect("read_folder/read_archive return every file");
    let mut train = empty_set();
    for file in layout.train {
        let (path, bytes) = take(file);
        append_records(layout, &path, &bytes, &mut train)?;
    }
    let mut test = empty_set();
    let (path, bytes) = take(layout.test);
    append_records(layout, &path, &bytes, &mut test)?;
    VisionData::new(name, train, test, from)
}

/// File name → (path for errors, bytes) of every file of the layout.
type Files = HashMap<&'static str, (PathBuf, Vec<u8>)>;

fn wanted(layout: &Layout) -> impl Iterator<Item = &'static str> {
    layout.train.iter().copied().chain([layout.test])
}

fn read_folder(layout: &Layout, from: &Path) -> Result<Files, DataError> {
    let nested = from.join(layout.folder);
    let dir = if nested.is_dir() { nested } else { from.to_path_buf() };
    if !dir.join(layout.test).is_file() {
        return Err(DataError::wrong_source(
            from,
            format!(
                "no {} here or in {}/; {} is imported from {}-binary.tar.gz or its extracted folder",
                layout.test,
                layout.folder,
                layout.name,
                layout.name.as_str().replace("cifar", "cifar-")
            ),
        ));
    }
    let mut files = Files::new();
    for file in wanted(layout) {
        let path = dir.join(file);
        let bytes = fs_err::read(&path)?;
        files.insert(file, (path, bytes));
    }
    Ok(files)
}

/// Reads the batch files out of a tar archive, gzip-compressed or not.
fn read_archive(layout: &Layout, archive_path: &Path) -> Result<Files, DataError> {
    let corrupt = corrupt_archive(archive_path);
    let mut archive = open_tar(archive_path)?;
    let mut files = Files::new();
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let member = entry.path().map_err(corrupt)?.into_owned();
        let Some(file) = member.file_name().and_then(|f| wanted(layout).find(|w| f == *w)) else {
            continue;
        };
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(corrupt)?;
        files.insert(file, (archive_path.join(&member), bytes));
    }
    if let Some(missing) = wanted(layout).find(|w| !files.contains_key(w)) {
        return Err(DataError::corrupt(
            archive_path,
            format!(
                "the archive has no {}/{missing} (truncated, or not the {} binary version?)",
                layout.folder, layout.name
            ),
        ));
    }
    Ok(files)
}

fn empty_set() -> ImageSet {
    ImageSet { images: Vec::new(), labels: Vec::new(), n: 0, channels: 3, height: 32, width: 32 }
}

fn append_records(layout: &Layout, path: &Path, bytes: &[u8], set: &mut ImageSet) -> Result<(), DataError> {
    let record = layout.label_bytes + PIXELS;
    if bytes.is_empty() || !bytes.len().is_multiple_of(record) {
        return Err(DataError::corrupt(
            path,
            format!("{} bytes is not a whole number of {record}-byte records (truncated?)", bytes.len()),
        ));
    }
    set.images.reserve(bytes.len() / record * PIXELS);
    for r in bytes.chunks_exact(record) {
        set.labels.push(i64::from(r[layout.label_index]));
        set.images.extend_from_slice(&r[layout.label_bytes..]);
    }
    set.n += bytes.len() / record;
    set.check(layout.name, "batch", path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::fixtures::{cifar_records, tar_gz};

    /// Two records per train batch and one test record, with distinct pixels and labels.
    fn cifar10_files() -> Vec<(String, Vec<u8>)> {
        let mut files: Vec<_> = (1..=5)
            .map(|b| {
                (
                    format!("cifar-10-batches-bin/data_batch_{b}.bin"),
                    cifar_records(&[&[b], &[9 - b]], 10 * usize::from(b)),
                )
            })
            .collect();
        files.push(("cifar-10-batches-bin/test_batch.bin".into(), cifar_records(&[&[4]], 200)));
        files.push(("cifar-10-batches-bin/batches.meta.txt".into(), b"airplane\n".to_vec()));
        files
    }

    fn check_cifar10(data: &VisionData) {
        assert_eq!((data.train.n, data.test.n, data.classes), (10, 1, 10));
        assert_eq!(data.train.labels, vec![1, 8, 2, 7, 3, 6, 4, 5, 5, 4]);
        assert_eq!(data.test.labels, vec![4]);
        // Record k of batch b has pixel i = (seed + k + i) mod 256, seed = 10·b: CHW as stored.
        assert_eq!(data.train.image(3)[..3], [21, 22, 23]);
        assert_eq!(data.train.image(3)[3071], ((20 + 1 + 3071) % 256) as u8);
        assert_eq!(data.test.image(0)[1024], ((200 + 1024) % 256) as u8);
    }

    #[test]
    fn reads_cifar10_from_the_tar_gz() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("cifar-10-binary.tar.gz");
        fs_err::write(&archive, tar_gz(&cifar10_files())).unwrap();
        check_cifar10(&read_cifar(DatasetName::Cifar10, &archive).unwrap());
    }

    #[test]
    fn reads_cifar10_from_the_extracted_folder_or_its_parent() {
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes) in cifar10_files() {
            let path = dir.path().join(name);
            fs_err::create_dir_all(path.parent().unwrap()).unwrap();
            fs_err::write(path, bytes).unwrap();
        }
        check_cifar10(&read_cifar(DatasetName::Cifar10, dir.path()).unwrap());
        check_cifar10(&read_cifar(DatasetName::Cifar10, &dir.path().join("cifar-10-batches-bin")).unwrap());
    }

    #[test]
    fn reads_the_fine_labels_of_cifar100() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("cifar-100-binary.tar.gz");
        let files = vec![
            ("cifar-100-binary/train.bin".to_owned(), cifar_records(&[&[3, 99], &[19, 42]], 0)),
            ("cifar-100-binary/test.bin".to_owned(), cifar_records(&[&[0, 7]], 5)),
        ];
        fs_err::write(&archive, tar_gz(&files)).unwrap();
        let data = read_cifar(DatasetName::Cifar100, &archive).unwrap();
        assert_eq!((data.train.labels.clone(), data.test.labels.clone()), (vec![99, 42], vec![7]));
        assert_eq!(data.classes, 100);
        assert_eq!(data.train.image(1)[0], 1);
        assert_eq!(data.test.image(0)[0], 5);
    }

    #[test]
    fn a_truncated_batch_names_the_member_of_the_archive() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("cifar-10-binary.tar.gz");
        let mut files = cifar10_files();
        files[2].1.pop();
        fs_err::write(&archive, tar_gz(&files)).unwrap();
        let err = read_cifar(DatasetName::Cifar10, &archive).unwrap_err().to_string();
        let member = archive.join("cifar-10-batches-bin/data_batch_3.bin");
        assert!(err.starts_with(&format!("{}: 6145 bytes is not a whole number", member.display())), "{err}");
    }

    #[test]
    fn a_truncated_archive_or_one_of_another_kind_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("cifar-10-binary.tar.gz");
        let bytes = tar_gz(&cifar10_files());
        fs_err::write(&archive, &bytes[..bytes.len() / 2]).unwrap();
        let err = read_cifar(DatasetName::Cifar10, &archive).unwrap_err().to_string();
        assert!(err.starts_with(&format!("{}: ", archive.display())), "{err}");
        fs_err::write(&archive, b"not an archive at all, just some text that is long enough").unwrap();
        let err = read_cifar(DatasetName::Cifar10, &archive).unwrap_err().to_string();
        assert!(err.starts_with(&format!("{}: ", archive.display())), "{err}");
    }

    #[test]
    fn a_label_out_of_range_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = cifar10_files();
        files[5].1 = cifar_records(&[&[10]], 0);
        let archive = dir.path().join("c.tar.gz");
        fs_err::write(&archive, tar_gz(&files)).unwrap();
        let err = read_cifar(DatasetName::Cifar10, &archive).unwrap_err().to_string();
        assert!(err.contains("test_batch.bin: batch label 0 is 10"), "{err}");
    }
}
