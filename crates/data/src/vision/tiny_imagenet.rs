//! TinyImageNet-200 from the `tiny-imagenet-200` folder or `tiny-imagenet-200.zip`.
//!
//! Layout: `wnids.txt` lists the 200 WordNet ids; the class index is the line order.
//! Train images are `train/<wnid>/images/<wnid>_<k>.JPEG`, taken class by class and by k.
//! The test set is the labelled validation split, as in the PTMZ loader:
//! `val/images/val_<k>.JPEG`, labelled by `val/val_annotations.txt` (tab-separated: file,
//! wnid, then the bounding box), in that file's order. The unlabelled `test/` is not read.
//! All images are 64×64; grayscale ones are converted to RGB.

use std::path::Path;

use super::jpeg::{decode_all, EncodedImage};
use super::tree::FileTree;
use super::{DataError, DatasetName, ImageSet, VisionData};

const FOLDER: &str = "tiny-imagenet-200";
const WNIDS: &str = "wnids.txt";
const ANNOTATIONS: &str = "val/val_annotations.txt";
const SIDE: usize = 64;

/// Reads both splits from `from` (the folder, its parent, or the zip).
pub(crate) fn read_tiny_imagenet(from: &Path) -> Result<VisionData, DataError> {
    let mut tree = FileTree::open(from, FOLDER, WNIDS)?;
    let wnids = read_wnids(&mut tree)?;

    let mut train = Vec::new();
    let mut train_labels = Vec::new();
    for (class, wnid) in wnids.iter().enumerate() {
        let folder = format!("train/{wnid}/images");
        let mut files: Vec<String> = tree.list(&folder)?.into_iter().filter(|f| is_jpeg(f)).collect();
        if files.is_empty() {
            return Err(DataError::corrupt(
                tree.display_path(&folder),
                "no JPEG images in this class folder",
            ));
        }
        files.sort_by_key(|f| (image_number(f), f.clone()));
        for file in files {
            let rel = format!("{folder}/{file}");
            train.push(EncodedImage { bytes: tree.read(&rel)?, path: tree.display_path(&rel) });
            train_labels.push(class as i64);
        }
    }

    let annotations = String::from_utf8(tree.read(ANNOTATIONS)?)
        .map_err(|_| DataError::corrupt(tree.display_path(ANNOTATIONS), "not UTF-8 text"))?;
    let mut test = Vec::new();
    let mut test_labels = Vec::new();
    for (line_no, line) in annotations.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let mut fields = line.split('\t');
        let (Some(file), Some(wnid)) = (fields.next(), fields.next()) else {
            return Err(DataError::corrupt(
                tree.display_path(ANNOTATIONS),
                format!("line {}: expected `file<TAB>wnid<TAB>box`, found `{line}`", line_no + 1),
            ));
        };
        let class = wnids.iter().position(|w| w == wnid.trim()).ok_or_else(|| {
            DataError::corrupt(
                tree.display_path(ANNOTATIONS),
                format!("line {}: wnid `{wnid}` is not in {WNIDS}", line_no + 1),
            )
        })?;
        let rel = format!("val/images/{}", file.trim());
        test.push(EncodedImage { bytes: tree.read(&rel)?, path: tree.display_path(&rel) });
        test_labels.push(class as i64);
    }

    let set = |images: &[EncodedImage], labels: Vec<i64>| -> Result<ImageSet, DataError> {
        Ok(ImageSet {
            images: decode_all(images, SIDE, SIDE)?,
            n: labels.len(),
            labels,
            channels: 3,
            height: SIDE,
            width: SIDE,
        })
    };
    let train = set(&train, train_labels)?;
    let test = set(&test, test_labels)?;
    VisionData::new(DatasetName::TinyImagenet, train, test, from)
}

fn read_wnids(tree: &mut FileTree) -> Result<Vec<String>, DataError> {
    let path = tree.display_path(WNIDS);
    let text =
        String::from_utf8(tree.read(WNIDS)?).map_err(|_| DataError::corrupt(&path, "not UTF-8 text"))?;
    let wnids: Vec<String> =
        text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
    let classes = DatasetName::TinyImagenet.info().classes;
    if wnids.len() != classes {
        return Err(DataError::corrupt(&path, format!("{} wnids, TinyImageNet has {classes}", wnids.len())));
    }
    Ok(wnids)
}

fn is_jpeg(file: &str) -> bool {
    let lower = file.to_ascii_lowercase();
    lower.ends_with(".jpeg") || lower.ends_with(".jpg")
}

/// k of `<wnid>_<k>.JPEG`, so that `_10` sorts after `_9`; files without one sort last.
fn image_number(file: &str) -> u64 {
    let stem = file.rsplit_once('.').map_or(file, |(stem, _)| stem);
    stem.rsplit_once('_').and_then(|(_, k)| k.parse().ok()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::fixtures::{tiny_imagenet_files, zip_bytes};

    fn write_folder(root: &Path, files: &[(String, Vec<u8>)]) {
        for (name, bytes) in files {
            let path = root.join(name);
            fs_err::create_dir_all(path.parent().unwrap()).unwrap();
            fs_err::write(path, bytes).unwrap();
        }
    }

    /// Every image is one flat color; the fixture gives each image's label and color in
    /// reading order (see `tiny_imagenet_files`).
    fn check(data: &VisionData, expected_train: &[(i64, [u8; 3])], expected_test: &[(i64, [u8; 3])]) {
        assert_eq!((data.train.n, data.test.n), (expected_train.len(), expected_test.len()));
        for (set, expected) in [(&data.train, expected_train), (&data.test, expected_test)] {
            for (i, &(label, rgb)) in expected.iter().enumerate() {
                assert_eq!(set.labels[i], label, "image {i}");
                let image = set.image(i);
                for c in 0..3 {
                    // Flat colors survive JPEG at quality 100 up to a few levels of chroma
                    // quantisation; the exact layout is checked in `jpeg`'s tests.
                    let plane = &image[c * 4096..(c + 1) * 4096];
                    let worst = plane.iter().map(|p| p.abs_diff(rgb[c])).max().unwrap();
                    assert!(worst <= 4, "image {i} channel {c}: off by {worst} from {}", rgb[c]);
                }
            }
        }
    }

    #[test]
    fn reads_the_folder_its_parent_and_the_zip_alike() {
        let (files, train, test) = tiny_imagenet_files();
        let dir = tempfile::tempdir().unwrap();
        write_folder(&dir.path().join(FOLDER), &files);
        let zipped: Vec<(String, Vec<u8>)> =
            files.iter().map(|(n, b)| (format!("{FOLDER}/{n}"), b.clone())).collect();
        let zip_path = dir.path().join("tiny-imagenet-200.zip");
        let entries: Vec<(&str, &[u8])> = zipped.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
        fs_err::write(&zip_path, zip_bytes(&entries)).unwrap();

        let from_folder = read_tiny_imagenet(&dir.path().join(FOLDER)).unwrap();
        check(&from_folder, &train, &test);
        assert_eq!(read_tiny_imagenet(dir.path()).unwrap(), from_folder);
        assert_eq!(read_tiny_imagenet(&zip_path).unwrap(), from_folder);
    }

    #[test]
    fn train_images_sort_by_number_not_by_text() {
        let mut names = vec!["n1_10.JPEG", "n1_9.JPEG", "n1_0.JPEG"];
        names.sort_by_key(|f| image_number(f));
        assert_eq!(names, ["n1_0.JPEG", "n1_9.JPEG", "n1_10.JPEG"]);
    }

    #[test]
    fn an_unknown_wnid_in_the_annotations_names_the_line() {
        let (mut files, _, _) = tiny_imagenet_files();
        let ann = files.iter_mut().find(|(n, _)| n == ANNOTATIONS).unwrap();
        ann.1.extend_from_slice(b"val_9.JPEG\tn99999999\t0\t0\t63\t63\n");
        let dir = tempfile::tempdir().unwrap();
        write_folder(dir.path(), &files);
        let err = read_tiny_imagenet(dir.path()).unwrap_err().to_string();
        assert!(err.contains("val_annotations.txt: line 4: wnid `n99999999` is not in wnids.txt"), "{err}");
    }

    #[test]
    fn a_broken_jpeg_or_a_missing_class_folder_is_an_error_naming_it() {
        let (mut files, _, _) = tiny_imagenet_files();
        let dir = tempfile::tempdir().unwrap();
        let victim = files.iter_mut().find(|(n, _)| n.starts_with("val/images/")).unwrap();
        victim.1 = b"GIF89a".to_vec();
        let victim_name = victim.0.clone();
        write_folder(dir.path(), &files);
        let err = read_tiny_imagenet(dir.path()).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("{}: not a decodable JPEG", dir.path().join(&victim_name).display())),
            "{err}"
        );
        fs_err::remove_dir_all(dir.path().join("train/n00000005")).unwrap();
        let err = read_tiny_imagenet(dir.path()).unwrap_err().to_string();
        assert!(err.contains("train/n00000005/images: this folder is missing"), "{err}");
    }
}
