use std::collections::BTreeMap;
use std::path::Path;

use pz_spec::{Plan, ZooSpec};
use pz_store::{EpochRecord, ModelState, ModelStatus, ZooDir};
use serde_json::json;

use super::*;
use crate::draw::prepare;
use crate::font::ensure_font;
use crate::layout::{cell_rect, HEIGHT, WIDTH};
use crate::render::render_rgb;

/// (train accuracy, test accuracy) of the model at (load index, temperature index, seed).
type Accuracies = fn(usize, usize, u64) -> (f64, f64);

/// The embedded default with its axes listed in descending order (load beta 20, 1; temperature
/// lr 1e-2, 1e-3) and two seeds, every model done. `metrics` and `accuracies` give each model's
/// numbers from (load index, temperature index, seed), in the spec's order.
fn write_zoo(
    dir: &Path,
    accuracies: Option<Accuracies>,
    metrics: &dyn Fn(usize, usize, u64) -> Vec<(&'static str, f64)>,
) {
    let grid = ["grid.load.values=[20,1]", "grid.temperature.values=[1e-2,1e-3]", "grid.seeds=[0,1]"];
    let o: Vec<String> = grid.iter().map(|s| (*s).to_string()).collect();
    let spec = ZooSpec::parse(pz_spec::EMBEDDED_DEFAULT, "test", &o).unwrap();
    let zoo = ZooDir::create_or_open(dir, &spec).unwrap();
    for m in &Plan::new(&spec).unwrap().models {
        let (l, t, seed) = (m.cell.load, m.cell.temperature, m.config.seed);
        let d = zoo.model(m.id());
        fs_err::create_dir_all(d.status_path().parent().unwrap()).unwrap();
        d.write_status(&ModelStatus { state: ModelState::Done, epoch: Some(1), message: None }).unwrap();
        let record = |epoch: u32, extra: BTreeMap<String, serde_json::Value>| EpochRecord {
            epoch,
            train_loss: 0.5,
            test_loss: 1.0,
            test_error: 0.25,
            step: u64::from(epoch) * 10,
            extra,
        };
        let extra = accuracies.map_or_else(BTreeMap::new, |f| {
            let (train, test) = f(l, t, seed);
            BTreeMap::from([("train_acc".to_string(), json!(train)), ("test_acc".to_string(), json!(test))])
        });
        d.write_results(&[record(0, BTreeMap::new()), record(1, extra)]).unwrap();
        let values: BTreeMap<String, serde_json::Value> =
            metrics(l, t, seed).into_iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
        if !values.is_empty() {
            d.merge_metrics(1, values).unwrap();
        }
    }
}

fn panels_of(dir: &Path) -> Vec<ZooPanel> {
    zoo_panels(&ZooView::open(dir).unwrap()).unwrap()
}

fn find<'a>(panels: &'a [ZooPanel], name: &str) -> &'a Heatmap {
    &panels.iter().find(|p| p.name == name).unwrap_or_else(|| panic!("no {name} panel")).heatmap
}

#[test]
fn keys_a_zoo_lacks_get_no_panel() {
    let tmp = tempfile::tempdir().unwrap();
    write_zoo(tmp.path(), None, &|_, _, _| Vec::new());
    let names: Vec<&str> = panels_of(tmp.path()).iter().map(|p| p.name).collect();
    assert_eq!(names, ["test_error", "train_loss"]);
}

#[test]
fn the_papers_panels_have_the_originals_colour_maps_and_centres() {
    let tmp = tempfile::tempdir().unwrap();
    let e4 = 4f64.exp();
    write_zoo(tmp.path(), Some(|l, _, seed| (0.9, 0.5 + 0.1 * l as f64 + 0.02 * seed as f64)), &|l, _, _| {
        vec![
            ("cka", 0.9),
            ("hessian_top_ev", 3.0),
            ("hessian_trace", e4 * (1.0 + l as f64)),
            ("hessian_trace_val", -1.0),
            ("hessian_top_ev_val", 1f64.exp()),
            ("mc_train_error", -1.0),
            ("mc_test_error", -2.0),
        ]
    });
    let applications = json!({"version": 1, "runs": {
        "average_epochs_ptmz_compat": {"0,0": {"values": {"wiseft_acc_test_delta": 9.0}}},
        "average_epochs": {"0,0": {"values": {"wiseft_acc_test_delta": 0.01}}},
        "average_seeds_aligned": {"1,1": {"values": {"gitrebasin_acc_test_delta": -0.3}}}}});
    fs_err::write(tmp.path().join("applications.json"), applications.to_string()).unwrap();
    let panels = panels_of(tmp.path());
    let got: Vec<(&str, ColorMap, Option<f64>)> =
        panels.iter().map(|p| (p.name, p.heatmap.colormap, p.heatmap.center)).collect();
    let want = [
        ("test_accuracy", ColorMap::Viridis, None),
        ("generalization_gap", ColorMap::ViridisR, None),
        ("test_error", ColorMap::ViridisR, None),
        ("train_loss", ColorMap::ViridisR, None),
        ("cka", ColorMap::RdBuR, Some(1.0)),
        ("hessian_top_ev", ColorMap::Viridis, None),
        ("hessian_trace", ColorMap::Viridis, None),
        ("log_hessian_trace", ColorMap::RdBu, Some(4.0)),
        ("log_hessian_top_ev_val", ColorMap::RdBu, Some(1.0)),
        ("mc_train_error", ColorMap::RdBu, Some(0.0)),
        ("mc_test_error", ColorMap::RdBu, Some(0.0)),
        ("wiseft_acc_test_delta", ColorMap::Cividis, None),
        ("gitrebasin_acc_test_delta", ColorMap::Cividis, None),
    ];
    assert_eq!(got, want, "a non-positive trace has no log: no log_hessian_trace_val panel");
    assert_eq!(HESSIAN_TRACE_VAL, MetricKey::HessianTrace.on_test_set());
    assert_eq!(HESSIAN_TOP_EV_VAL, MetricKey::HessianTopEv.on_test_set());
    let top_ev_val = find(&panels, "log_hessian_top_ev_val");
    assert!(top_ev_val.values.iter().flatten().all(|v| v.is_some_and(|v| (v - 1.0).abs() < 1e-12)));

    // Columns: beta 1, 20 (the spec's load index 1, then 0); rows from the bottom: lr 1e-2, 1e-3
    // (index 0, then 1), so lr 1e-3 is the top row.
    let acc = find(&panels, "test_accuracy");
    assert_eq!((acc.x.values.clone(), acc.y.values.clone()), (vec![1.0, 20.0], vec![1e-2, 1e-3]));
    let close = |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() < 1e-12);
    // Seed mean of 0.5 + 0.1 l + 0.02 seed; beta 1 is load index 1.
    assert!(close(acc.values[0][0], 0.61) && close(acc.values[0][1], 0.51), "{:?}", acc.values);
    let ggap = find(&panels, "generalization_gap");
    assert!(close(ggap.values[1][0], 0.29) && close(ggap.values[1][1], 0.39), "{:?}", ggap.values);
    let trace = find(&panels, "log_hessian_trace");
    assert!(
        close(trace.values[0][0], 4.0 + 2f64.ln()) && close(trace.values[0][1], 4.0),
        "{:?}",
        trace.values
    );
    // applications.json: cell "load,temperature" = "0,0" is beta 20, lr 1e-2 (bottom right);
    // the first run by name holding the key wins.
    let wiseft = find(&panels, "wiseft_acc_test_delta");
    assert_eq!(wiseft.values, vec![vec![None, Some(0.01)], vec![None, None]]);
    let rebasin = find(&panels, "gitrebasin_acc_test_delta");
    assert_eq!(rebasin.values, vec![vec![None, None], vec![Some(-0.3), None]]);
}

#[test]
fn a_zoo_panel_draws_the_centre_white_and_the_smallest_temperature_at_the_top() {
    let tmp = tempfile::tempdir().unwrap();
    // mc_train_error: 0 at beta 1 (load index 1), -1 at beta 20 with lr 1e-3, +0.5 at beta 20
    // with lr 1e-2.
    write_zoo(tmp.path(), None, &|l, t, _| {
        let mc = match (l, t) {
            (1, _) => 0.0,
            (_, 1) => -1.0,
            _ => 0.5,
        };
        vec![("mc_train_error", mc)]
    });
    let panels = panels_of(tmp.path());
    let mut h = find(&panels, "mc_train_error").clone();
    h.annotate = false; // the numbers would cover the centre pixels
    ensure_font().unwrap();
    let p = prepare(&h, WIDTH, HEIGHT).unwrap();
    let buf = render_rgb(&h, &p, (WIDTH, HEIGHT), Path::new("mc.png")).unwrap();
    let pixel = |(x, y): (i32, i32)| {
        let i = 3 * (y as usize * WIDTH as usize + x as usize);
        (buf[i], buf[i + 1], buf[i + 2])
    };
    let l = &p.layout;
    // Heatmap row 1 is drawn on top: lr 1e-3. Column 1: beta 20.
    let (top_left, top_right, bottom_right) = (cell_rect(l, 1, 0), cell_rect(l, 1, 1), cell_rect(l, 0, 1));
    assert!(top_right.y1 <= bottom_right.y0 && top_left.x1 <= top_right.x0);
    // RdBu centred at 0 over [-1, 0.5]: 0 is the middle (246, 247, 247), -1 the red end
    // (103, 0, 31), 0.5 three quarters up (104, 171, 208) (matplotlib 3.11.2).
    assert_eq!(pixel(top_left.center()), (246, 247, 247), "beta 1: mc 0, the centre");
    assert_eq!(pixel(top_right.center()), (103, 0, 31), "beta 20, lr 1e-3: mc -1");
    assert_eq!(pixel(bottom_right.center()), (104, 171, 208), "beta 20, lr 1e-2: mc 0.5");
}
