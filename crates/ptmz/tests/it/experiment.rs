//! A PTMZ experiment folder built as Ray Tune lays it out (SPEC §2): 2 widths × 2 batch sizes
//! × 2 seeds, parsed into trials and a grid.

use std::fs;
use std::path::{Path, PathBuf};

use pz_ptmz::{read_experiment, read_state_dict, write_state_dict, Dtype, Error, Tensor};

const WIDTHS: [u32; 2] = [2, 4];
const BATCH_SIZES: [u32; 2] = [1024, 8];
const EPOCHS: u32 = 2;

fn trial_folder(index: u32, width: u32, seed: u32, batch_size: u32) -> String {
    format!(
        "NN_tune_trainable_bf0b6_{index:05}_{index}_model_width={width},optim_lr=0.1000,optim_wd=0.0005,\
         seed={seed},training_batchsize={batch_size}_2024-05-22_11-30-52"
    )
}

fn write_trial(exp: &Path, index: u32, width: u32, seed: u32, batch_size: u32, wd: f64) -> PathBuf {
    let dir = exp.join(trial_folder(index, width, seed, batch_size));
    fs::create_dir_all(&dir).unwrap();
    let params = serde_json::json!({
        "model::type": "Resnet18_width", "model::width": width, "model::o_dim": 10,
        "optim::lr": 0.1, "optim::wd": wd, "optim::optimizer": "sgd", "seed": seed,
        "training::batchsize": batch_size, "training::epochs_train": EPOCHS,
        "resources": {"cpu": 12 + 4 * (index % 2), "gpu": 1}, "cuda": true,
        "dataset::dump": "/ds2/cifar10/dataset_preprocessed.pt",
    });
    fs::write(dir.join("params.json"), params.to_string()).unwrap();
    let mut lines = String::new();
    for epoch in 0..=EPOCHS {
        let loss = if width == 2 && batch_size == 8 && epoch == EPOCHS {
            "NaN".to_owned()
        } else {
            format!("{}", 2.3 / f64::from(epoch + 1))
        };
        lines += &format!(
            "{{\"train_loss\": {loss}, \"train_acc\": 0.5, \"test_loss\": 1.0, \"test_acc\": 0.{epoch}, \"done\": {}, \
             \"training_iteration\": {epoch}, \"trial_id\": \"bf0b6_{index:05}\", \"date\": \"2024-05-22_11-31-00\", \
             \"timestamp\": 1716370260, \"time_this_iter_s\": 1.5, \"time_total_s\": 3.0, \"pid\": 42, \
             \"hostname\": \"gpu1\", \"node_ip\": \"10.0.0.1\", \"time_since_restore\": 3.0, \
             \"iterations_since_restore\": {epoch}, \"config\": {{\"scheduler::steps_per_epoch\": 49}}}}\n",
            epoch == EPOCHS
        );
    }
    fs::write(dir.join("result.json"), lines).unwrap();
    for epoch in 0..=EPOCHS {
        let folder = dir.join(format!("checkpoint_{epoch:06}"));
        fs::create_dir_all(&folder).unwrap();
        if index == 3 && epoch == EPOCHS {
            continue; // an interrupted save
        }
        let weight = Tensor {
            name: "module.fc.bias".into(),
            dtype: Dtype::U8,
            shape: vec![2],
            data: vec![index as u8, epoch as u8],
        };
        write_state_dict(&folder.join("checkpoints"), &[weight]).unwrap();
        fs::write(folder.join("optimizer"), b"not read").unwrap();
    }
    dir
}

/// The full grid, trial index = 4·b + 2·s + w (width fastest, then seed, then batch size).
pub(crate) fn write_experiment(exp: &Path) {
    for (b, &batch_size) in BATCH_SIZES.iter().enumerate() {
        for seed in 0..2 {
            for (w, &width) in WIDTHS.iter().enumerate() {
                write_trial(exp, (4 * b + 2 * seed + w) as u32, width, seed as u32, batch_size, 0.0005);
            }
        }
    }
    fs::write(exp.join("config.json"), "{}").unwrap();
    fs::write(exp.join("experiment_state-2024-05-22_11-30-50.json"), "{}").unwrap();
    fs::create_dir_all(exp.join("hessian_cifar10_Resnet18_width_kaiming_uniform_115eps_width_2-256"))
        .unwrap();
}

#[test]
fn a_ray_tune_folder_parses_into_trials_and_its_grid() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = tmp.path().join("tune_zoo_cifar10_Resnet18_width_kaiming_uniform_2eps_width_2-4");
    write_experiment(&exp);
    let experiment = read_experiment(&exp).unwrap();
    assert_eq!(
        experiment.trials.iter().map(|t| t.name.index).collect::<Vec<_>>(),
        (0..8).collect::<Vec<_>>()
    );

    let grid = experiment.grid().unwrap();
    assert_eq!((grid.load.key.as_str(), grid.load.values.clone()), ("model::width", vec![2.0, 4.0]));
    assert_eq!(
        (grid.temperature.key.as_str(), grid.temperature.values.clone()),
        ("training::batchsize", vec![8.0, 1024.0])
    );
    assert_eq!(grid.seeds, vec![0, 1]);
    assert!(grid.is_complete());
    let cell = grid.cell(4.0, 8.0).unwrap();
    for &(seed, i) in &cell.trials {
        let trial = &experiment.trials[i];
        assert_eq!(
            (trial.param_f64("model::width"), trial.param_f64("training::batchsize"), trial.seed()),
            (Some(4.0), Some(8.0), Some(seed))
        );
        assert_eq!(trial.name.index, 4 + 2 * seed as u32 + 1);
    }

    let trial = &experiment.trials[4]; // width 2, batch size 8, seed 0
    assert_eq!(
        (trial.name.trial_id.as_str(), trial.name.tag("training::batchsize")),
        ("bf0b6_00004", Some("8"))
    );
    assert_eq!(trial.results.len(), 3);
    assert_eq!(trial.result(1).unwrap().number("test_acc"), Some(0.1));
    assert!(trial.result(2).unwrap().number("train_loss").unwrap().is_nan());
    assert!(trial.result(0).unwrap().metric_keys().all(|k| k.ends_with("_loss") || k.ends_with("_acc")));
    assert_eq!(trial.checkpoints.iter().map(|c| c.epoch).collect::<Vec<_>>(), vec![0, 1, 2]);
    let checkpoint = trial.checkpoint(1).unwrap();
    assert!(checkpoint.model.ends_with("checkpoint_000001/checkpoints") && checkpoint.optimizer.is_some());
    assert_eq!(read_state_dict(&checkpoint.model).unwrap()[0].data, vec![4, 1]);
    let interrupted = &experiment.trials[3];
    assert_eq!(interrupted.checkpoints.len(), 2);
    assert!(interrupted.incomplete_checkpoints[0].ends_with("checkpoint_000002"));
}

#[test]
fn a_folder_name_contradicting_params_json_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = write_trial(tmp.path(), 0, 2, 0, 8, 0.0005);
    let lying = tmp.path().join(trial_folder(0, 2, 1, 8));
    fs::rename(&dir, &lying).unwrap();
    let err = read_experiment(tmp.path()).unwrap_err();
    assert!(
        matches!(&err, Error::Trial { message, .. } if message.contains("`seed` is 0 but the folder name says 1")),
        "{err}"
    );
}

#[test]
fn a_third_varying_hyperparameter_or_a_repeated_model_is_not_a_grid() {
    let tmp = tempfile::tempdir().unwrap();
    write_experiment(tmp.path());
    write_trial(tmp.path(), 8, 2, 0, 8, 0.001);
    let err = read_experiment(tmp.path()).unwrap().grid().unwrap_err().to_string();
    assert!(err.contains("`optim::wd` varies"), "{err}");

    let tmp = tempfile::tempdir().unwrap();
    write_experiment(tmp.path());
    write_trial(tmp.path(), 8, 2, 0, 8, 0.0005);
    let err = read_experiment(tmp.path()).unwrap().grid().unwrap_err().to_string();
    assert!(err.contains("are the same model"), "{err}");
}
