//! A small zoo on disk for unit tests: the embedded default with beta ∈ {1, 20}, one learning
//! rate, three seeds; each model's state and final numbers chosen by the test.

use std::collections::BTreeMap;
use std::path::Path;

use pz_spec::{Plan, ZooSpec};
use pz_store::{EpochRecord, MetricKey, ModelState, ModelStatus, ZooDir};

/// One model's fixture: state, final (train loss, test error), metric values of its last epoch.
pub struct Model {
    pub state: ModelState,
    pub last: Option<(f64, f64)>,
    pub metrics: Vec<(MetricKey, f64)>,
}

pub fn model(state: ModelState, last: Option<(f64, f64)>, metrics: &[(MetricKey, f64)]) -> Model {
    Model { state, last, metrics: metrics.to_vec() }
}

/// Write a zoo at `dir` with `[phases]` overrides; `models` in plan order (load 1 seeds 0, 1,
/// 2, then load 20 seeds 0, 1, 2). Returns the plan.
pub fn write(dir: &Path, phases: &[&str], models: &[Model]) -> Plan {
    let grid = ["grid.load.values=[1,20]", "grid.temperature.values=[1e-2]", "grid.seeds=[0,1,2]"];
    let o: Vec<String> = grid.iter().chain(phases).map(|s| (*s).to_string()).collect();
    let spec = ZooSpec::parse(pz_spec::EMBEDDED_DEFAULT, "test", &o).unwrap();
    let zoo = ZooDir::create_or_open(dir, &spec).unwrap();
    let plan = Plan::new(&spec).unwrap();
    assert_eq!(plan.models.len(), models.len());
    for (m, fixture) in plan.models.iter().zip(models) {
        let d = zoo.model(m.id());
        std::fs::create_dir_all(d.status_path().parent().unwrap()).unwrap();
        let epoch = fixture.last.map(|_| 1);
        d.write_status(&ModelStatus { state: fixture.state, epoch, message: None }).unwrap();
        if let Some((train_loss, test_error)) = fixture.last {
            let record = |epoch, train_loss, test_error| EpochRecord {
                epoch,
                train_loss,
                test_loss: 1.0,
                test_error,
                step: u64::from(epoch) * 10,
                extra: BTreeMap::new(),
            };
            d.write_results(&[record(0, 9.0, 1.0), record(1, train_loss, test_error)]).unwrap();
        }
        if !fixture.metrics.is_empty() {
            let values = fixture.metrics.iter().map(|(k, v)| (k.to_string(), serde_json::json!(v))).collect();
            d.merge_metrics(1, values).unwrap();
        }
    }
    plan
}
