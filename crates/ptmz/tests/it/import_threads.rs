//! `import_experiment` imports models on several threads: a bad checkpoint of a later model
//! still gives its own error, the models before it are complete, and a rerun after the fix ends
//! in the same zoo as a clean import.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pz_ptmz::{import_experiment, read_experiment, write_state_dict, Dtype, Error, ModelShapes, Tensor};
use pz_spec::{Plan, ResolvedModel};
use pz_store::{FileLayout, TensorLayout, ZooDir};

use crate::experiment::write_experiment;

/// The fixture's model: one `fc.bias` of two bytes.
struct OneTensor;

impl ModelShapes for OneTensor {
    fn state_dict(&self, _model: &ResolvedModel) -> Result<FileLayout, String> {
        let tensor = TensorLayout { name: "fc.bias".into(), dtype: Dtype::U8, shape: vec![2] };
        Ok(FileLayout { required: vec![tensor], optional: Vec::new() })
    }
    fn steps_per_epoch(&self, model: &ResolvedModel) -> u64 {
        u64::from(model.train.batch_size)
    }
}

fn import(exp: &Path, zoo: &Path) -> pz_ptmz::Result<pz_ptmz::ImportReport> {
    import_experiment(exp, zoo, &OneTensor, &mut |_| {})
}

/// Every file under `dir` with its bytes, by path relative to `dir`.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, all: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in fs_err::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, all);
            } else if path.file_name() != Some(".lock".as_ref()) {
                all.insert(path.strip_prefix(root).unwrap().to_owned(), fs_err::read(&path).unwrap());
            }
        }
    }
    let mut all = BTreeMap::new();
    walk(dir, dir, &mut all);
    all
}

#[test]
fn issue_19_a_later_models_bad_checkpoint_stops_the_import_with_its_error_and_a_rerun_completes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = tmp.path().join("tune_zoo_cifar10_Resnet18_width");
    write_experiment(&exp);
    let clean = tmp.path().join("clean");
    import(&exp, &clean).unwrap();
    let plan = Plan::new(&ZooDir::open(&clean).unwrap().spec).unwrap();

    // The second-to-last model's middle checkpoint holds a tensor phasezoo's model lacks (the
    // planning checks only the first checkpoint of each model shape).
    let experiment = read_experiment(&exp).unwrap();
    let grid = experiment.grid().unwrap();
    let bad_model = plan.models.len() - 2;
    let config = &plan.models[bad_model].config;
    let cell = grid.cell(config.load.value, config.temperature.value).unwrap();
    let trial = cell.trials.iter().find(|(s, _)| *s as u64 == config.seed).unwrap().1;
    let bad = experiment.trials[trial].checkpoint(1).unwrap().model.clone();
    let good = fs_err::read(&bad).unwrap();
    let head = Tensor { name: "module.head.bias".into(), dtype: Dtype::U8, shape: vec![2], data: vec![1, 2] };
    write_state_dict(&bad, &[head]).unwrap();

    let zoo = tmp.path().join("zoo");
    let err = import(&exp, &zoo).unwrap_err();
    assert!(
        matches!(&err, Error::Layout { path, tensor, .. } if *path == bad && tensor == "head.bias"),
        "{err}"
    );
    // Every model before it is complete: the same files as the clean import's.
    let (clean_files, files) = (snapshot(&clean), snapshot(&zoo));
    for planned in &plan.models[..bad_model] {
        let model = Path::new("models").join(planned.id().to_string());
        let of = |all: &BTreeMap<PathBuf, Vec<u8>>| {
            all.iter()
                .filter(|(p, _)| p.starts_with(&model))
                .map(|(p, b)| (p.clone(), b.clone()))
                .collect::<Vec<_>>()
        };
        assert!(!of(&clean_files).is_empty());
        assert_eq!(of(&files), of(&clean_files), "{}", model.display());
    }

    fs_err::write(&bad, good).unwrap();
    let rerun = import(&exp, &zoo).unwrap();
    assert!(rerun.checkpoints_unchanged >= 3 * bad_model - 1, "{rerun:?}");
    assert_eq!(snapshot(&zoo), clean_files);
}
