use pz_store::ModelState;
use serde_json::json;

use super::*;
use crate::testzoo;

#[test]
fn a_step_in_a_flat_noisy_curve_is_a_jump_and_steady_growth_is_not() {
    // Increments 0.1, 0.05, 4.0, 0.1, 0.05: the median is 0.1; 4.0 ≥ 3 × 0.1 and ≫ 2 √(2) 0.1.
    let llc = [1.0, 1.1, 1.05, 5.05, 5.15, 5.1];
    let se = [0.1; 6];
    assert_eq!(jump_indices(&llc, &se), vec![3]);
    // Steady growth: every increment equals the median, none stands out.
    assert!(jump_indices(&[1.0, 2.0, 3.0, 4.0, 5.0], &se[..5]).is_empty());
    // The same step within the estimator's noise (se 2: 2 √8 ≈ 5.7 > 4) is no jump.
    assert!(jump_indices(&llc, &[2.0; 6]).is_empty());
    // Too few increments to know the usual change.
    assert!(jump_indices(&[1.0, 1.1, 5.0], &[0.0; 3]).is_empty());
    // Unknown se counts as no noise; a drop is a jump as well as a rise.
    assert_eq!(jump_indices(&[5.0, 5.1, 5.0, 1.0, 1.1], &[f64::NAN; 5]), vec![3]);
    // A non-finite value never jumps, nor do its neighbours' increments.
    assert!(jump_indices(&[1.0, 1.1, f64::NAN, 1.2, 1.3], &[0.0; 5]).is_empty());
}

fn record(epoch: u32, values: serde_json::Value) -> MetricsRecord {
    MetricsRecord { epoch, values: serde_json::from_value(values).unwrap() }
}

#[test]
fn a_models_curve_takes_its_llc_lines_in_epoch_order_with_std_over_root_chains() {
    let trace = json!([[0.1, 0.2], [0.1, 0.2], [0.1, 0.2], [0.1, 0.2]]);
    let records = vec![
        record(5, json!({"llc": 3.0, "llc_std": 0.4, "llc_trace": trace})),
        record(1, json!({"llc": 1.0, "llc_std": 0.2, "llc_trace": trace})),
        record(3, json!({"hessian_top_ev": 2.0})),
    ];
    let c = model_llc_curve(&records).unwrap();
    assert_eq!(c.epochs, [1, 5]);
    assert_eq!(c.llc, [1.0, 3.0]);
    assert_eq!(c.se, [0.1, 0.2], "std / √4 chains");
    assert!(c.jumps.is_empty());
    assert!(model_llc_curve(&records[2..]).is_none(), "no llc, no curve");
    let no_std = model_llc_curve(&[record(2, json!({"llc": 1.5}))]).unwrap();
    assert!(no_std.se[0].is_nan());
}

#[test]
fn a_cells_curve_is_the_seed_mean_at_shared_epochs_with_spread_and_own_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let done = || testzoo::model(ModelState::Done, Some((0.1, 0.1)), &[]);
    let plan = testzoo::write(tmp.path(), &[], &[done(), done(), done(), done(), done(), done()]);
    let view_dir = tmp.path();
    let zoo = pz_store::ZooDir::open(view_dir).unwrap();
    // Load 1: seeds 0 and 1 at epochs 1, 2 (seed 1 also at 3), seed 2 without llc.
    let write = |k: usize, epoch: u32, llc: f64, std: f64| {
        let values = [
            ("llc".to_string(), json!(llc)),
            ("llc_std".to_string(), json!(std)),
            ("llc_trace".to_string(), json!([[0.0], [0.0], [0.0], [0.0]])),
        ];
        zoo.model(plan.models[k].id()).merge_metrics(epoch, values.into_iter().collect()).unwrap();
    };
    write(0, 1, 1.0, 0.2);
    write(0, 2, 2.0, 0.2);
    write(1, 1, 3.0, 0.2);
    write(1, 2, 4.0, 0.2);
    write(1, 3, 9.0, 0.2);
    let curves = zoo_llc_curves(&ZooView::open(view_dir).unwrap()).unwrap();
    assert!(curves.any());
    assert_eq!(curves.models.iter().filter(|c| c.is_some()).count(), 2);
    let cell = curves.cells[0][0].as_ref().expect("load 1's cell");
    assert_eq!(cell.epochs, [1, 2], "only the epochs both seeds have");
    assert_eq!(cell.llc, [2.0, 3.0]);
    // se² = s²/n + Σ se_k²/n²: s² = 2, n = 2, se_k = 0.2 / √4 = 0.1.
    let want = (2.0f64 / 2.0 + 2.0 * 0.01 / 4.0).sqrt();
    assert!(cell.se.iter().all(|s| (s - want).abs() < 1e-12), "{:?} vs {want}", cell.se);
    assert!(curves.cells[0][1].is_none(), "load 20 has no llc");
}
