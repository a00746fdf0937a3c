//! `index_epochs.csv` and `index.parquet`: one row per model and evaluated epoch with the grid
//! axes, the training numbers, every metric measured at that epoch, and the cell's phase.
//! Readable in one line: `pandas.read_parquet("index.parquet")`, `polars.read_parquet(...)`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt32Array, UInt64Array};
use arrow_schema::{DataType, Field, Schema};

use crate::application_values::{ApplicationValues, APPLICATION_COLUMNS};
use crate::{
    atomic_write, stored_density, summarize_density, Error, MetricKey, Result, ZooDir, TEST_SET_SUFFIX,
};

/// The metric columns, in order (docs/METRICS.md defines them); empty where not measured.
pub const METRIC_COLUMNS: [&str; 16] = [
    MetricKey::HessianTopEv.as_str(),
    MetricKey::HessianTrace.as_str(),
    MetricKey::HessianTraceStdErr.as_str(),
    // The same on the test set ([`MetricKey::on_test_set`]; image and language-model zoos).
    "hessian_top_ev_val",
    "hessian_trace_val",
    "hessian_trace_std_err_val",
    MetricKey::Cka.as_str(),
    MetricKey::McTrainLoss.as_str(),
    MetricKey::McTestLoss.as_str(),
    // Classifiers only (empty for the PINN).
    MetricKey::McTrainError.as_str(),
    MetricKey::McTestError.as_str(),
    MetricKey::WwAlpha.as_str(),
    // Zoos with `[metrics.llc]` only.
    MetricKey::Llc.as_str(),
    MetricKey::LlcStd.as_str(),
    MetricKey::LlcRHat.as_str(),
    MetricKey::LlcNbeta.as_str(),
];

/// A summary of the Hessian's spectral density ([`crate::summarize_density`]), train set then
/// test set: the mass of negative eigenvalues and the smallest and largest Ritz values; empty
/// where no density was measured (`metrics.hessian.density_probes = 0`, the default).
pub const DENSITY_COLUMNS: [&str; 6] = [
    "hessian_density_negative_mass",
    "hessian_density_min",
    "hessian_density_max",
    "hessian_density_negative_mass_val",
    "hessian_density_min_val",
    "hessian_density_max_val",
];

/// Further result.json keys with a column of their own (image zoos: accuracies and the learning
/// rate); empty where a zoo's results have no such key (the PINN).
pub const RESULT_COLUMNS: [&str; 3] = ["train_acc", "test_acc", "lr"];

/// One model at one evaluated epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochIndexRow {
    /// Model id.
    pub model_id: String,
    /// Load axis short name.
    pub load_name: String,
    /// Load value.
    pub load_value: f64,
    /// Temperature axis short name.
    pub temperature_name: String,
    /// Temperature value.
    pub temperature_value: f64,
    /// Seed.
    pub seed: u64,
    /// The model's status now.
    pub status: String,
    /// Epoch.
    pub epoch: u32,
    /// Optimizer steps at that epoch.
    pub step: u64,
    /// Train loss (`None` when not finite).
    pub train_loss: Option<f64>,
    /// Test loss.
    pub test_loss: Option<f64>,
    /// Test error.
    pub test_error: Option<f64>,
    /// Values of [`RESULT_COLUMNS`] in this epoch's result line.
    pub results: BTreeMap<String, f64>,
    /// Values of [`METRIC_COLUMNS`] and [`DENSITY_COLUMNS`] measured at this epoch, and of
    /// [`APPLICATION_COLUMNS`] where this epoch is the cell's analysis epoch.
    pub metrics: BTreeMap<String, f64>,
    /// The cell's phase at this epoch (`I` … `IV-B`), when labelled.
    pub phase: Option<String>,
}

/// Every evaluated epoch of every planned model, phases empty.
///
/// # Errors
/// Malformed result or metrics files.
pub fn collect_epoch_rows(zoo: &ZooDir, plan: &pz_spec::Plan) -> Result<Vec<EpochIndexRow>> {
    let finite = |v: f64| v.is_finite().then_some(v);
    let applications = ApplicationValues::read(zoo)?;
    let mut rows = Vec::new();
    for m in &plan.models {
        let dir = zoo.model(m.id());
        let status = dir.read_status()?.state.to_string();
        let metrics = dir.read_metrics()?;
        for r in dir.read_results()? {
            let measured = metrics.iter().find(|x| x.epoch == r.epoch);
            let mut values: BTreeMap<String, f64> = METRIC_COLUMNS
                .iter()
                .filter_map(|k| Some(((*k).to_string(), measured?.values.get(*k)?.as_f64()?)))
                .collect();
            if let Some(m) = measured {
                values.extend(density_columns(&m.values));
            }
            values.extend(applications.at(m.cell, r.epoch));
            let c = &m.config;
            rows.push(EpochIndexRow {
                model_id: m.id().to_string(),
                load_name: c.load.name.clone(),
                load_value: c.load.value,
                temperature_name: c.temperature.name.clone(),
                temperature_value: c.temperature.value,
                seed: c.seed,
                status: status.clone(),
                epoch: r.epoch,
                step: r.step,
                train_loss: finite(r.train_loss),
                test_loss: finite(r.test_loss),
                test_error: finite(r.test_error),
                results: RESULT_COLUMNS
                    .iter()
                    .filter_map(|k| {
                        Some(((*k).to_string(), r.extra.get(*k)?.as_f64().filter(|v| v.is_finite())?))
                    })
                    .collect(),
                metrics: values,
                phase: None,
            });
        }
    }
    Ok(rows)
}

/// The [`DENSITY_COLUMNS`] of a `metrics.json` line: per loss set with a density, its summary.
fn density_columns(values: &BTreeMap<String, serde_json::Value>) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    for (set, suffix) in ["", TEST_SET_SUFFIX].into_iter().enumerate() {
        let Some(s) = stored_density(values, suffix).and_then(|(n, w)| summarize_density(&n, &w)) else {
            continue;
        };
        let names = DENSITY_COLUMNS[3 * set..3 * set + 3].iter().map(|n| (*n).to_string());
        out.extend(names.zip([s.negative_mass, s.min, s.max]));
    }
    out
}

/// Write `index_epochs.csv` and `index.parquet` into the zoo folder (atomically, each).
///
/// # Errors
/// I/O errors.
pub fn write_epoch_index(dir: &Path, rows: &[EpochIndexRow]) -> Result<()> {
    write_csv(&dir.join("index_epochs.csv"), rows)?;
    write_parquet(&dir.join("index.parquet"), rows)
}

fn write_csv(path: &Path, rows: &[EpochIndexRow]) -> Result<()> {
    let csv_err = |source| Error::Csv { path: path.into(), source };
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<&str> = vec![
        "model_id",
        "load_name",
        "load_value",
        "temperature_name",
        "temperature_value",
        "seed",
        "status",
        "epoch",
        "step",
        "train_loss",
        "test_loss",
        "test_error",
    ];
    header.extend(RESULT_COLUMNS);
    header.extend(METRIC_COLUMNS);
    header.extend(DENSITY_COLUMNS);
    header.extend(APPLICATION_COLUMNS);
    header.push("phase");
    w.write_record(&header).map_err(csv_err)?;
    let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    for r in rows {
        let mut record = vec![
            r.model_id.clone(),
            r.load_name.clone(),
            r.load_value.to_string(),
            r.temperature_name.clone(),
            r.temperature_value.to_string(),
            r.seed.to_string(),
            r.status.clone(),
            r.epoch.to_string(),
            r.step.to_string(),
            opt(r.train_loss),
            opt(r.test_loss),
            opt(r.test_error),
        ];
        record.extend(RESULT_COLUMNS.iter().map(|k| opt(r.results.get(*k).copied())));
        let metric_keys = METRIC_COLUMNS.iter().chain(&DENSITY_COLUMNS).chain(&APPLICATION_COLUMNS);
        record.extend(metric_keys.map(|k| opt(r.metrics.get(*k).copied())));
        record.push(r.phase.clone().unwrap_or_default());
        w.write_record(&record).map_err(csv_err)?;
    }
    let bytes = w.into_inner().map_err(|e| Error::Io(e.into_error()))?;
    atomic_write(path, &bytes)
}

fn write_parquet(path: &Path, rows: &[EpochIndexRow]) -> Result<()> {
    let text = |f: fn(&EpochIndexRow) -> &str| -> ArrayRef {
        Arc::new(StringArray::from(rows.iter().map(f).collect::<Vec<_>>()))
    };
    let float = |f: &dyn Fn(&EpochIndexRow) -> Option<f64>| -> ArrayRef {
        Arc::new(Float64Array::from(rows.iter().map(f).collect::<Vec<_>>()))
    };
    let mut fields = vec![
        Field::new("model_id", DataType::Utf8, false),
        Field::new("load_name", DataType::Utf8, false),
        Field::new("load_value", DataType::Float64, false),
        Field::new("temperature_name", DataType::Utf8, false),
        Field::new("temperature_value", DataType::Float64, false),
        Field::new("seed", DataType::UInt64, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("epoch", DataType::UInt32, false),
        Field::new("step", DataType::UInt64, false),
        Field::new("train_loss", DataType::Float64, true),
        Field::new("test_loss", DataType::Float64, true),
        Field::new("test_error", DataType::Float64, true),
    ];
    let mut columns: Vec<ArrayRef> = vec![
        text(|r| &r.model_id),
        text(|r| &r.load_name),
        float(&|r| Some(r.load_value)),
        text(|r| &r.temperature_name),
        float(&|r| Some(r.temperature_value)),
        Arc::new(UInt64Array::from(rows.iter().map(|r| r.seed).collect::<Vec<_>>())),
        text(|r| &r.status),
        Arc::new(UInt32Array::from(rows.iter().map(|r| r.epoch).collect::<Vec<_>>())),
        Arc::new(UInt64Array::from(rows.iter().map(|r| r.step).collect::<Vec<_>>())),
        float(&|r| r.train_loss),
        float(&|r| r.test_loss),
        float(&|r| r.test_error),
    ];
    for key in
        RESULT_COLUMNS.into_iter().chain(METRIC_COLUMNS).chain(DENSITY_COLUMNS).chain(APPLICATION_COLUMNS)
    {
        let in_results = RESULT_COLUMNS.contains(&key);
        fields.push(Field::new(key, DataType::Float64, true));
        columns.push(float(&|r| if in_results { r.results.get(key) } else { r.metrics.get(key) }.copied()));
    }
    fields.push(Field::new("phase", DataType::Utf8, true));
    columns.push(Arc::new(StringArray::from(rows.iter().map(|r| r.phase.as_deref()).collect::<Vec<_>>())));
    let schema = Arc::new(Schema::new(fields));
    let corrupt = |e: &dyn std::fmt::Display| Error::corrupt(path, format!("cannot write Parquet: {e}"));
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| corrupt(&e))?;
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(Vec::new(), schema, None).map_err(|e| corrupt(&e))?;
    writer.write(&batch).map_err(|e| corrupt(&e))?;
    let bytes = writer.into_inner().map_err(|e| corrupt(&e))?;
    atomic_write(path, &bytes)
}

#[cfg(test)]
#[path = "epoch_index_tests.rs"]
mod tests;
