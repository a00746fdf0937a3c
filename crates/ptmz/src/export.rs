//! A phasezoo image zoo as a PTMZ experiment folder (issue 19, SPEC §2): one Ray-named trial
//! folder per trained model with `params.json` in the original's keys, `result.json` lines with
//! the original's metric keys and `checkpoint_<epoch:06>/checkpoints` files that
//! `torch.load(path, weights_only=True)` reads as the model's `state_dict()`.
//!
//! Trial indexes follow the original's order (width fastest, then seed, then batch size, each in
//! the spec's order). Re-exporting into the same folder reuses each trial's folder (matched by
//! the name up to its date) and writes only what differs.

use std::path::{Path, PathBuf};

use pz_spec::{ModelConfig, Plan, ProblemConfig, Schedule};
use pz_store::{atomic_write, Checkpoint, ZooDir};
use serde_json::json;

use crate::import::{ptmz_line, BATCH_KEY, WIDTH_KEY};
use crate::{read_state_dict, write_state_dict, Error, Progress, Result, Tensor};

/// What an export did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportReport {
    /// The experiment folder written.
    pub out: PathBuf,
    /// Trial folders (models with results).
    pub trials: usize,
    /// Checkpoint files written by this run.
    pub checkpoints_written: usize,
    /// Checkpoint files already there with the same tensors.
    pub checkpoints_unchanged: usize,
    /// Models left out (not trained yet), one line each.
    pub skipped: Vec<String>,
}

/// Export the image zoo `dir` as the PTMZ experiment folder `out`.
///
/// # Errors
/// Not a zoo, or not a ResNet zoo over `model.width` × `train.batch_size`
/// ([`Error::Unsupported`]); a checkpoint that fails its manifest ([`Error::Store`]); I/O errors.
pub fn export_zoo(dir: &Path, out: &Path, progress: &mut dyn FnMut(Progress)) -> Result<ExportReport> {
    let zoo = ZooDir::open(dir)?;
    let spec = &zoo.spec;
    let unsupported = |message: String| Error::Unsupported { path: dir.to_owned(), message };
    let model_type = match spec.model {
        ModelConfig::Resnet18(_) => "Resnet18_width",
        ModelConfig::Resnet50(_) => "Resnet50_width",
        _ => {
            return Err(unsupported(format!(
                "a {} zoo: PTMZ folders hold ResNet zoos",
                spec.model.architecture()
            )))
        }
    };
    let ProblemConfig::Image(image) = &spec.problem else {
        return Err(unsupported("not an image zoo".into()));
    };
    if spec.grid.load.key != "model.width" || spec.grid.temperature.key != "train.batch_size" {
        return Err(unsupported(format!(
            "axes `{}` × `{}`: PTMZ folders are named by `{WIDTH_KEY}` × `{BATCH_KEY}` (model.width × train.batch_size)",
            spec.grid.load.key, spec.grid.temperature.key
        )));
    }
    let plan = Plan::new(spec).map_err(|source| Error::Spec { path: dir.to_owned(), source })?;
    let experiment = plan.models[0].id().as_str()[..5].to_owned();
    let (widths, seeds) = (spec.grid.load.values.len(), spec.grid.seeds.len());
    fs_err::create_dir_all(out)?;
    let existing: Vec<String> =
        fs_err::read_dir(out)?.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect();
    let date = utc_date();

    let mut report = ExportReport { out: out.to_owned(), ..ExportReport::default() };
    let mut models = Vec::new();
    for planned in &plan.models {
        let model_dir = zoo.model(planned.id());
        let records = model_dir.read_results()?;
        if records.is_empty() {
            report.skipped.push(format!("model {} has no results yet", planned.id()));
            continue;
        }
        models.push((planned, records, Checkpoint::list(&model_dir.path)?));
    }
    progress(Progress::Planned { checkpoints: models.iter().map(|m| m.2.len() as u64).sum() });
    for (planned, records, checkpoints) in models {
        let config = &planned.config;
        let seed_index = spec.grid.seeds.iter().position(|&s| s == config.seed).unwrap_or(0);
        let index = (planned.cell.temperature * seeds + seed_index) * widths + planned.cell.load;
        let prefix = format!(
            "NN_tune_trainable_{experiment}_{index:05}_{index}_model_width={},optim_lr={:.4},optim_wd={:.4},seed={},training_batchsize={}",
            config.load.value, config.train.lr, config.train.weight_decay, config.seed, config.temperature.value
        );
        let name = existing
            .iter()
            .find(|n| n.strip_prefix(&prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('_')))
            .cloned()
            .unwrap_or_else(|| format!("{prefix}_{date}"));
        let trial = out.join(name);
        fs_err::create_dir_all(&trial)?;
        let mut first_model = None;
        for checkpoint in &checkpoints {
            let tensors: Vec<Tensor> = checkpoint
                .load()?
                .model
                .into_iter()
                .map(|t| Tensor { name: t.name, dtype: t.dtype, shape: t.shape, data: t.data })
                .collect();
            let path = trial.join(Checkpoint::dir_name(checkpoint.epoch)).join("checkpoints");
            if path.is_file() && read_state_dict(&path).is_ok_and(|old| old == tensors) {
                report.checkpoints_unchanged += 1;
            } else {
                fs_err::create_dir_all(path.parent().expect("in a folder"))?;
                write_state_dict(&path, &tensors)?;
                report.checkpoints_written += 1;
            }
            first_model.get_or_insert(tensors);
            progress(Progress::Checkpoint);
        }
        let dim = |tensor: &str, axis: usize| {
            first_model.as_ref()?.iter().find(|t| t.name == tensor).and_then(|t| t.shape.get(axis).copied())
        };
        let params = json!({
            "model::type": model_type,
            "model::width": integer(config.load.value),
            "model::channels_in": dim("conv1.weight", 1),
            "model::o_dim": dim("fc.bias", 0),
            "model::nlin": "relu",
            "model::dropout": 0.0,
            "model::init_type": "kaiming_uniform",
            "model::use_bias": false,
            "optim::optimizer": serde_json::to_value(config.train.optimizer).expect("serializes"),
            "optim::lr": config.train.lr,
            "optim::wd": config.train.weight_decay,
            "optim::momentum": config.train.momentum,
            "optim::scheduler": if config.train.schedule == Schedule::OneCycle { "OneCycleLR" } else { "None" },
            "training::loss": "crossentropy",
            "training::batchsize": integer(config.temperature.value),
            "training::epochs_train": config.train.epochs,
            "training::output_epoch": 1,
            "seed": config.seed,
            "dataset": image.dataset,
            "cuda": false,
            "phasezoo::model_id": planned.id().as_str(),
        });
        write_if_changed(
            &trial.join("params.json"),
            serde_json::to_string_pretty(&params).expect("JSON").as_bytes(),
        )?;
        let steps_per_epoch = records.get(1).map_or(0, |r| r.step.saturating_sub(records[0].step));
        let last = records.last().map_or(0, |r| r.epoch);
        let trial_id = format!("{experiment}_{index:05}");
        let lines: String =
            records.iter().map(|r| ptmz_line(r, last, &trial_id, steps_per_epoch) + "\n").collect();
        write_if_changed(&trial.join("result.json"), lines.as_bytes())?;
        report.trials += 1;
    }
    Ok(report)
}

/// A width or batch size as the integer Ray's tags and the importer's checks compare.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn integer(value: f64) -> u64 {
    value as u64
}

fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<()> {
    if fs_err::read(path).ok().as_deref() != Some(bytes) {
        atomic_write(path, bytes)?;
    }
    Ok(())
}

/// The current UTC time as Ray writes it in trial names: `YYYY-MM-DD_HH-MM-SS`.
fn utc_date() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days, for days since 1970-01-01 (non-negative here).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}_{:02}-{:02}-{:02}", rest / 3600, rest % 3600 / 60, rest % 60)
}
