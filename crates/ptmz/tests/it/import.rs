//! `import_experiment` on the Ray Tune folder of `experiment.rs` (a one-tensor state dict per
//! checkpoint, so no libtorch model is needed: the shapes come from a stand-in [`ModelShapes`]),
//! and `export_zoo` back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pz_ptmz::{export_zoo, import_experiment, read_experiment, Error, ModelShapes, Progress};
use pz_spec::ResolvedModel;
use pz_store::{Dtype, FileLayout, ModelState, TensorLayout, ZooDir};

use crate::experiment::write_experiment;

/// The fixture's model: one `fc.bias` of two bytes.
struct OneTensor(&'static str);

impl ModelShapes for OneTensor {
    fn state_dict(&self, _model: &ResolvedModel) -> Result<FileLayout, String> {
        let tensor = TensorLayout { name: self.0.into(), dtype: Dtype::U8, shape: vec![2] };
        Ok(FileLayout { required: vec![tensor], optional: Vec::new() })
    }
    fn steps_per_epoch(&self, model: &ResolvedModel) -> u64 {
        u64::from(model.train.batch_size)
    }
}

fn import(exp: &Path, zoo: &Path, shapes: &dyn ModelShapes) -> pz_ptmz::Result<pz_ptmz::ImportReport> {
    let mut counted = 0;
    let report =
        import_experiment(exp, zoo, shapes, &mut |p| counted += u64::from(p == Progress::Checkpoint));
    if let Ok(r) = &report {
        assert_eq!(counted as usize, r.checkpoints_written + r.checkpoints_unchanged);
    }
    report
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut all = BTreeMap::new();
    for entry in fs_err::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            all.extend(snapshot(&path));
        } else {
            all.insert(path.clone(), fs_err::read(&path).unwrap());
        }
    }
    all
}

#[test]
fn issue_19_an_experiment_imports_once_and_a_second_import_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (exp, zoo) = (tmp.path().join("tune_zoo_cifar10_Resnet18_width"), tmp.path().join("zoo"));
    write_experiment(&exp);
    let report = import(&exp, &zoo, &OneTensor("fc.bias")).unwrap();
    assert_eq!((report.models, report.trials, report.checkpoints_written), (8, 8, 23));
    assert_eq!(report.skipped.len(), 1, "{:?}", report.skipped); // trial 3's interrupted save
    let opened = ZooDir::open(&zoo).unwrap();
    let spec = &opened.spec;
    assert_eq!(
        (spec.grid.load.values.clone(), spec.grid.temperature.values.clone()),
        (vec![2.0, 4.0], vec![8.0, 1024.0])
    );
    assert_eq!((spec.train.epochs, spec.train.lr, spec.train.weight_decay), (2, 0.1, 0.0005));
    let plan = pz_spec::Plan::new(spec).unwrap();
    let states: Vec<ModelState> =
        plan.models.iter().map(|m| opened.model(m.id()).read_status().unwrap().state).collect();
    // Width 2 × batch 8 diverged at its last epoch (NaN train loss): failed, as the trainer marks it.
    assert_eq!(states.iter().filter(|s| **s == ModelState::Failed).count(), 2, "{states:?}");
    assert_eq!(states.iter().filter(|s| **s == ModelState::Done).count(), 6, "{states:?}");
    let first = opened.model(plan.models[0].id());
    let records = first.read_results().unwrap();
    assert_eq!(records[1].step, 49, "epoch 1 × the steps per epoch Ray recorded");
    assert_eq!(records[1].extra["test_acc"], serde_json::json!(0.1));
    assert!((records[1].test_error - 0.9).abs() < 1e-12);
    assert!(zoo.join("index.csv").is_file() && zoo.join("index_epochs.csv").is_file());

    let before = snapshot(&zoo);
    let again = import(&exp, &zoo, &OneTensor("fc.bias")).unwrap();
    assert_eq!((again.checkpoints_written, again.checkpoints_unchanged, again.models_written), (0, 23, 0));
    assert_eq!(snapshot(&zoo), before);

    // An interrupted import (a model folder lost half its files) is completed.
    let model = opened.model(plan.models[5].id());
    fs_err::remove_dir_all(model.path.join("checkpoint_000001")).unwrap();
    fs_err::remove_file(model.status_path()).unwrap();
    let resumed = import(&exp, &zoo, &OneTensor("fc.bias")).unwrap();
    assert_eq!((resumed.checkpoints_written, resumed.models_written), (1, 1));
    assert_eq!(snapshot(&zoo), before);

    // Export, then import the export: the same models, and their checkpoints as ours.
    let out = tmp.path().join("exported");
    let exported = export_zoo(&zoo, &out, &mut |_| {}).unwrap();
    assert_eq!((exported.trials, exported.checkpoints_written), (8, 23));
    assert_eq!(read_experiment(&out).unwrap().trials.len(), 8);
    let back = tmp.path().join("back");
    import(&out, &back, &OneTensor("fc.bias")).unwrap();
    let ids = |z: &Path| {
        fs_err::read_dir(z.join("models"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect::<std::collections::BTreeSet<_>>()
    };
    assert_eq!(ids(&back), ids(&zoo));
    let again = export_zoo(&zoo, &out, &mut |_| {}).unwrap();
    assert_eq!((again.checkpoints_written, again.checkpoints_unchanged), (0, 23));
}

#[test]
fn issue_19_a_tensor_phasezoo_does_not_have_is_refused_by_file_and_name_before_any_write() {
    let tmp = tempfile::tempdir().unwrap();
    let (exp, zoo) = (tmp.path().join("tune_zoo_cifar10_Resnet18_width"), tmp.path().join("zoo"));
    write_experiment(&exp);
    let err = import(&exp, &zoo, &OneTensor("head.bias")).unwrap_err();
    assert!(matches!(&err, Error::Layout { tensor, .. } if tensor == "fc.bias"), "{err}");
    let text = err.to_string();
    assert!(text.contains("checkpoint_000000/checkpoints: tensor `fc.bias`"), "{text}");
    assert!(!zoo.exists(), "nothing may be written");
}
