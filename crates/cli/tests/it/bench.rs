//! `phasezoo bench resnet`, the command BENCHMARKS.md's grid figures come from: its output
//! format (one line per cell, one for the grid) and its refusal of unknown settings.

use crate::util::run;

fn args(extra: &[&str]) -> Vec<String> {
    [
        "bench",
        "resnet",
        "--device",
        "cpu",
        "--widths",
        "2,4",
        "--batches",
        "32",
        "--images",
        "64",
        "--epochs",
        "2",
    ]
    .iter()
    .chain(extra)
    .map(|s| (*s).to_string())
    .collect()
}

#[test]
fn bench_resnet_prints_a_line_per_cell_and_one_for_the_grid() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(tmp.path(), &args(&["--layout", "contiguous"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<serde_json::Value> =
        out.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3, "{}", out.stdout);
    let mut widths: Vec<u64> = lines[..2].iter().map(|c| c["width"].as_u64().unwrap()).collect();
    widths.sort_unstable();
    assert_eq!(widths, [2, 4]);
    for cell in &lines[..2] {
        assert_eq!(cell["batch_size"], 32);
        assert_eq!(cell["images"], 128, "64 images × 2 epochs");
        let (whole, last) =
            (cell["images_per_sec"].as_f64().unwrap(), cell["last_epoch_images_per_sec"].as_f64().unwrap());
        assert!(whole > 0.0 && last > 0.0, "{cell}");
    }
    let grid = &lines[2];
    assert_eq!(
        (grid["grid"].as_bool(), grid["cells"].as_u64(), grid["images"].as_u64()),
        (Some(true), Some(2), Some(256))
    );
    assert_eq!(grid["layout"], "contiguous");
    assert_eq!(grid["precision"], "float32");
}

#[test]
fn bench_resnet_refuses_an_unknown_layout_and_names_the_choices() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(tmp.path(), &args(&["--layout", "nhwc"]));
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("auto, channels_last, contiguous"), "{}", out.stderr);
    assert!(out.stdout.is_empty());
}
