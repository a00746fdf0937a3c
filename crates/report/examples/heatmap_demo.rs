//! Renders a few demonstration heatmaps into the directory given as the
//! first argument (default `target/heatmap-demo`), for eyeballing the layout.
//!
//! `cargo run -p pz-report --example heatmap_demo -- /tmp/heatmaps`

use std::path::PathBuf;

use pz_report::{write_heatmap, ColorMap, ColorScale, GridAxis, Heatmap};

fn main() -> Result<(), pz_report::Error> {
    let out = std::env::args_os().nth(1).map_or_else(|| PathBuf::from("target/heatmap-demo"), PathBuf::from);
    let betas = vec![1.0, 3.0, 10.0, 30.0, 100.0];
    let lrs: Vec<f64> = (0..6).map(|i| 10f64.powf(-4.0 + 0.5 * f64::from(i))).collect();
    let values = lrs
        .iter()
        .enumerate()
        .map(|(r, lr)| {
            betas
                .iter()
                .enumerate()
                .map(|(c, b)| (r + c != 5).then(|| (lr.sqrt() * b / 3.0).min(1.5)))
                .collect()
        })
        .collect();
    let log = Heatmap {
        title: "test_error (relative L2), seed mean".into(),
        x: GridAxis { name: "beta (convection coefficient)".into(), values: betas },
        y: GridAxis { name: "lr (Adam learning rate)".into(), values: lrs },
        values,
        scale: ColorScale::Auto,
        colormap: ColorMap::Viridis,
        center: None,
        colorbar_label: "relative L2 error".into(),
        annotate: true,
        cell_text: Vec::new(),
        regions: Vec::new(),
    };
    write_heatmap(&log, &out.join("log.png"), &out.join("log.svg"))?;

    let small = Heatmap {
        title: "2x2 linear".into(),
        x: GridAxis { name: "x".into(), values: vec![1.0, 2.0] },
        y: GridAxis { name: "y".into(), values: vec![0.1, 0.2] },
        values: vec![vec![Some(0.0), Some(1.0)], vec![None, Some(0.5)]],
        scale: ColorScale::Auto,
        colormap: ColorMap::Viridis,
        center: None,
        colorbar_label: "value".into(),
        annotate: true,
        cell_text: Vec::new(),
        regions: Vec::new(),
    };
    write_heatmap(&small, &out.join("small.png"), &out.join("small.svg"))?;

    let wide = Heatmap {
        title: "many columns, vertical labels".into(),
        x: GridAxis {
            name: "width (hidden units)".into(),
            values: (0..24).map(|i| 10f64.powf(-3.0 + 0.25 * f64::from(i))).collect(),
        },
        y: GridAxis { name: "depth".into(), values: (1..=8).map(f64::from).collect() },
        values: (0..8)
            .map(|r| (0..24).map(|c| Some(f64::from(r * 24 + c) / 191.0 * 0.7 + 0.2)).collect())
            .collect(),
        scale: ColorScale::Auto,
        colormap: ColorMap::Viridis,
        center: None,
        colorbar_label: "train loss".into(),
        annotate: true,
        cell_text: Vec::new(),
        regions: Vec::new(),
    };
    write_heatmap(&wide, &out.join("wide.png"), &out.join("wide.svg"))
}
