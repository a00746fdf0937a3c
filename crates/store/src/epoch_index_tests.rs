use std::collections::BTreeMap;

use arrow_array::Array;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use pz_spec::{Plan, ZooSpec};
use serde_json::json;

use super::*;
use crate::{EpochRecord, ModelState, ModelStatus};

/// A one-model zoo (the embedded default, beta 1, lr 1e-2, seed 0) with result lines at epochs
/// 0 and 1 and `metrics` measured at epoch 1.
fn zoo(dir: &Path, metrics: serde_json::Value) -> (ZooDir, Plan) {
    let o: Vec<String> = ["grid.load.values=[1]", "grid.temperature.values=[1e-2]", "grid.seeds=[0]"]
        .map(String::from)
        .to_vec();
    let spec = ZooSpec::parse(pz_spec::EMBEDDED_DEFAULT, "test", &o).unwrap();
    let zoo = ZooDir::create_or_open(dir, &spec).unwrap();
    let plan = Plan::new(&spec).unwrap();
    let d = zoo.model(plan.models[0].id());
    fs_err::create_dir_all(d.status_path().parent().unwrap()).unwrap();
    d.write_status(&ModelStatus { state: ModelState::Done, epoch: Some(1), message: None }).unwrap();
    let record = |epoch: u32| EpochRecord {
        epoch,
        train_loss: 0.5,
        test_loss: 1.0,
        test_error: 0.25,
        step: u64::from(epoch) * 10,
        extra: BTreeMap::new(),
    };
    d.write_results(&[record(0), record(1)]).unwrap();
    let values = serde_json::from_value(metrics).unwrap();
    d.merge_metrics(1, values).unwrap();
    (zoo, plan)
}

/// The rows of `index_epochs.csv`, each a map from column to its text.
fn read_csv(dir: &Path) -> Vec<BTreeMap<String, String>> {
    let text = fs_err::read_to_string(dir.join("index_epochs.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|l| header.iter().map(|h| (*h).to_string()).zip(l.split(',').map(String::from)).collect())
        .collect()
}

#[test]
fn test_set_hessian_values_and_density_summaries_get_their_own_columns() {
    let dir = tempfile::tempdir().unwrap();
    let (zoo, plan) = zoo(
        dir.path(),
        json!({
            "hessian_top_ev": 4.0, "hessian_trace": 30.0, "hessian_trace_std_err": 0.5,
            "hessian_top_ev_val": 6.0, "hessian_trace_val": 45.0, "hessian_trace_std_err_val": 0.75,
            // max |θ| = 8: the cut is -0.008; -2 (weight 0.125) counts, -0.001 does not.
            "hessian_density_nodes": [-2.0, -0.001, 0.5, 8.0],
            "hessian_density_weights": [0.125, 0.5, 0.25, 0.125],
            "hessian_density_nodes_val": [-1.0, 3.0],
            "hessian_density_weights_val": [0.5, 0.5],
        }),
    );
    write_epoch_index(dir.path(), &collect_epoch_rows(&zoo, &plan).unwrap()).unwrap();
    let rows = read_csv(dir.path());
    assert_eq!(rows.len(), 2);
    let want = [
        ("hessian_top_ev", "4"),
        ("hessian_trace", "30"),
        ("hessian_trace_std_err", "0.5"),
        ("hessian_top_ev_val", "6"),
        ("hessian_trace_val", "45"),
        ("hessian_trace_std_err_val", "0.75"),
        ("hessian_density_negative_mass", "0.125"),
        ("hessian_density_min", "-2"),
        ("hessian_density_max", "8"),
        ("hessian_density_negative_mass_val", "0.5"),
        ("hessian_density_min_val", "-1"),
        ("hessian_density_max_val", "3"),
    ];
    for (column, value) in want {
        assert_eq!(rows[1][column], value, "epoch 1, {column}");
        assert_eq!(rows[0][column], "", "epoch 0 was not measured: {column}");
    }
    assert_eq!(MetricKey::HessianTopEv.on_test_set(), METRIC_COLUMNS[3]);
    assert_eq!(MetricKey::HessianTrace.on_test_set(), METRIC_COLUMNS[4]);
    assert_eq!(MetricKey::HessianTraceStdErr.on_test_set(), METRIC_COLUMNS[5]);

    // The Parquet file has the same columns, typed float64, null where not measured.
    let file = std::fs::File::open(dir.path().join("index.parquet")).unwrap();
    let batch =
        ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap().next().unwrap().unwrap();
    for (column, value) in [("hessian_trace_val", 45.0), ("hessian_density_negative_mass", 0.125)] {
        let col = batch.column_by_name(column).unwrap();
        let floats = col.as_any().downcast_ref::<Float64Array>().unwrap();
        assert!(floats.is_null(0), "{column}");
        assert_eq!(floats.value(1), value, "{column}");
    }
}

#[test]
fn a_zoo_without_densities_or_test_set_values_leaves_their_columns_empty() {
    let dir = tempfile::tempdir().unwrap();
    let (zoo, plan) = zoo(dir.path(), json!({"hessian_top_ev": 4.0, "cka": 0.9}));
    write_epoch_index(dir.path(), &collect_epoch_rows(&zoo, &plan).unwrap()).unwrap();
    let rows = read_csv(dir.path());
    assert_eq!((rows[1]["hessian_top_ev"].as_str(), rows[1]["cka"].as_str()), ("4", "0.9"));
    for column in DENSITY_COLUMNS.iter().chain(&METRIC_COLUMNS[3..6]) {
        assert_eq!(rows[1][*column], "", "{column}");
    }
}

/// `applications.json`'s cell values land on the row of the cell's analysis epoch, from the
/// first run by name that has each column; a malformed file is refused naming it and the fix.
#[test]
fn application_values_fill_the_analysis_epochs_row_from_the_first_run_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let (zoo, plan) = zoo(dir.path(), json!({"hessian_top_ev": 4.0}));
    let file = json!({"version": 1, "runs": {
        "average_epochs": {"0,0": {"epoch": 1, "values": {"wiseft_acc_test_delta": 0.25}}},
        "average_epochs_ptmz_compat": {"0,0": {"epoch": 1, "values": {"wiseft_acc_test_delta": 9.0}}},
        "ensemble": {"0,0": {"epoch": 0, "values": {"ensemble_acc_test_delta": -0.5}}},
        "interpolate_aligned": {"0,0": {"epoch": 1, "values": {"barrier_test_loss": null}}},
        "interpolate_unaligned": {"0,0": {"epoch": 1, "values": {"barrier_test_loss": 0.75}}},
    }});
    fs_err::write(dir.path().join("applications.json"), file.to_string()).unwrap();
    write_epoch_index(dir.path(), &collect_epoch_rows(&zoo, &plan).unwrap()).unwrap();
    let rows = read_csv(dir.path());
    let at = |epoch: usize, column: &str| rows[epoch][column].clone();
    assert_eq!(
        (at(1, "wiseft_acc_test_delta"), at(0, "wiseft_acc_test_delta")),
        ("0.25".into(), String::new())
    );
    assert_eq!(
        (at(0, "ensemble_acc_test_delta"), at(1, "ensemble_acc_test_delta")),
        ("-0.5".into(), String::new())
    );
    // A null is no value: the next run by name gives it.
    assert_eq!(at(1, "barrier_test_loss"), "0.75");
    assert_eq!(at(1, "gitrebasin_acc_test_delta"), "");

    fs_err::write(dir.path().join("applications.json"), "{\"version\": 1}").unwrap();
    let err = collect_epoch_rows(&zoo, &plan).unwrap_err().to_string();
    assert!(err.contains("applications.json") && err.contains("run `phasezoo apply` again"), "{err}");
}
