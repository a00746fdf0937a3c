//! The phasezoo spec of a PTMZ image experiment, from its trials' `params.json` (SPEC §1.2):
//! `model::type` gives the architecture, the dataset comes from a `dataset` key or else from the
//! dataset paths and the folder name, the recipe from the `optim::*` and `training::*` keys, and
//! the grid from [`Grid`] (width × batch size × seeds).
//!
//! The spec is written as TOML text and parsed by [`ZooSpec::parse`], so it passes the same
//! validation (and gets the same family defaults) as a spec a user writes.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use pz_spec::{ZooSpec, DATASETS};
use serde_json::Value;

use crate::{Error, Experiment, Grid, Result, Trial};

/// The load axis phasezoo imports: the ResNet zoos' width.
pub(crate) const WIDTH_KEY: &str = "model::width";
/// The temperature axis phasezoo imports: the batch size.
pub(crate) const BATCH_KEY: &str = "training::batchsize";

/// The spec of `experiment`, whose trials form `grid`.
///
/// # Errors
/// [`Error::Unsupported`] for axes other than width × batch size, an architecture other than
/// the ResNets, a dataset phasezoo does not know, a recipe key phasezoo cannot follow;
/// [`Error::Spec`] when the inferred spec does not validate.
pub(crate) fn infer_spec(experiment: &Experiment, grid: &Grid) -> Result<ZooSpec> {
    let unsupported = |message: String| Error::Unsupported { path: experiment.dir.clone(), message };
    if grid.load.key != WIDTH_KEY || grid.temperature.key != BATCH_KEY {
        return Err(unsupported(format!(
            "phasezoo imports image zoos over `{WIDTH_KEY}` × `{BATCH_KEY}`; this experiment's axes are `{}` × `{}`",
            grid.load.key, grid.temperature.key
        )));
    }
    // Grid inference checked that no other hyperparameter varies: the first trial speaks for all.
    let first = &experiment.trials[0];
    let architecture = architecture(first)?;
    let dataset = dataset(experiment)?;
    let epochs = match first.params.get("training::epochs_train").and_then(Value::as_u64) {
        Some(e) => e,
        None => experiment
            .trials
            .iter()
            .flat_map(|t| &t.results)
            .map(|r| u64::from(r.training_iteration))
            .max()
            .unwrap_or(0),
    };
    let number = |key: &str, default: Option<f64>| {
        first.param_f64(key).or(default).ok_or_else(|| {
            unsupported(format!("trial {} has no numeric `{key}` in params.json", first.dir.display()))
        })
    };
    let lr = number("optim::lr", None)?;
    let weight_decay = number("optim::wd", Some(0.0))?;
    let momentum = number("optim::momentum", Some(0.9))?;
    let optimizer = match first.params.get("optim::optimizer").and_then(Value::as_str).map(str::to_lowercase)
    {
        None => "sgd".to_owned(),
        Some(o) if o == "sgd" || o == "adam" => o,
        Some(o) => {
            return Err(unsupported(format!("`optim::optimizer` = \"{o}\": phasezoo trains sgd or adam")))
        }
    };
    let schedule = match first.params.get("optim::scheduler").and_then(Value::as_str) {
        Some("OneCycleLR") => "one_cycle",
        None | Some("None" | "none" | "") => "constant",
        Some(s) => {
            return Err(unsupported(format!("`optim::scheduler` = \"{s}\": phasezoo has OneCycleLR or none")))
        }
    };
    let integers = |axis: &crate::Axis| -> Result<Vec<u64>> {
        axis.values
            .iter()
            .map(|&v| {
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                (v >= 1.0 && v.fract() == 0.0 && v < 1e9)
                    .then_some(v as u64)
                    .ok_or_else(|| unsupported(format!("`{}` = {v} is not a positive integer", axis.key)))
            })
            .collect()
    };
    let (widths, batch_sizes) = (integers(&grid.load)?, integers(&grid.temperature)?);
    if let Some(seed) = grid.seeds.iter().find(|s| **s < 0) {
        return Err(unsupported(format!("seed {seed} is negative; phasezoo seeds are unsigned")));
    }
    let list = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
    let seeds: Vec<u64> = grid.seeds.iter().map(|&s| s.unsigned_abs()).collect();
    let (every, extra_epochs) = checkpoint_policy(experiment, epochs);
    let name = folder_name(experiment);
    let description =
        serde_json::to_string(&format!("Imported from the PTMZ experiment {}", experiment.dir.display()))
            .expect("a string serializes");
    let mut text = format!(
        "name = \"{name}\"\ndescription = {description}\n\n\
         [model]\narchitecture = \"{architecture}\"\nwidth = {w}\n\n\
         [problem]\nkind = \"image\"\ndataset = \"{dataset}\"\naugment = true\n\n\
         [train]\nepochs = {epochs}\noptimizer = \"{optimizer}\"\nlr = {lr:?}\nmomentum = {momentum:?}\n\
         weight_decay = {weight_decay:?}\nschedule = \"{schedule}\"\nbatch_size = {b}\n\n\
         [grid]\nseeds = [{seeds}]\n\n\
         [grid.load]\nkey = \"model.width\"\nname = \"width\"\nlabel = \"width (ResNet base channels)\"\nvalues = [{widths}]\n\n\
         [grid.temperature]\nkey = \"train.batch_size\"\nname = \"batch_size\"\n\
         label = \"batch size (images per SGD step)\"\nvalues = [{batch_sizes}]\n\n\
         [checkpoint]\nevery = {every}\nepochs = [{extra}]\n",
        w = widths[0],
        b = batch_sizes[0],
        seeds = list(&seeds),
        widths = list(&widths),
        batch_sizes = list(&batch_sizes),
        extra = list(&extra_epochs),
    );
    // The thresholds `phasezoo phases --summary` applies to PTMZ's published tables, so that an
    // imported zoo and its summary CSV are labelled alike (mc: image zoos' 1.5-point dead zone).
    let _ = writeln!(text, "\n[phases]\ntrain_loss = 0.1\ncka = 0.8");
    let _ = writeln!(text, "\n[run]\ndevice = \"auto\"");
    ZooSpec::parse(&text, &format!("the spec inferred from {}", experiment.dir.display()), &[])
        .map_err(|source| Error::Spec { path: experiment.dir.clone(), source })
}

/// `resnet18` or `resnet50` from `model::type` (`Resnet18_width`, `Resnet50_width`).
fn architecture(trial: &Trial) -> Result<&'static str> {
    let value = trial.params.get("model::type").and_then(Value::as_str).unwrap_or_default();
    match normalize(value).as_str() {
        v if v.starts_with("resnet18") => Ok("resnet18"),
        v if v.starts_with("resnet50") => Ok("resnet50"),
        _ => Err(Error::Unsupported {
            path: trial.dir.join("params.json"),
            message: format!(
                "`model::type` = {value:?}: phasezoo imports the ResNet zoos (`Resnet18_width`, `Resnet50_width`); \
                 the ViT zoos' module names are unpublished"
            ),
        }),
    }
}

/// The phasezoo dataset: a `dataset` key if any trial has one, else the first dataset name found
/// in `dataset::dump`, `training::data_path` or the experiment folder's name
/// (`tune_zoo_cifar10_...`).
fn dataset(experiment: &Experiment) -> Result<&'static str> {
    let first = &experiment.trials[0];
    let text = |key: &str| first.params.get(key).and_then(Value::as_str).map(str::to_owned);
    if let Some(named) = text("dataset") {
        return dataset_in(&named).filter(|d| normalize(d) == normalize(&named)).ok_or_else(|| {
            Error::Unsupported {
                path: first.dir.join("params.json"),
                message: format!("`dataset` = {named:?} is none of phasezoo's datasets {DATASETS:?}"),
            }
        });
    }
    let folder = experiment.dir.file_name().map(|f| f.to_string_lossy().into_owned());
    [text("dataset::dump"), text("training::data_path"), folder]
        .into_iter()
        .flatten()
        .find_map(|t| dataset_in(&t))
        .ok_or_else(|| Error::Unsupported {
            path: experiment.dir.clone(),
            message: format!(
                "cannot tell the dataset: no `dataset` key, and none of {DATASETS:?} in `dataset::dump`, \
                 `training::data_path` or the folder name\n  hint: add \"dataset\": \"cifar10\" (for example) to each params.json"
            ),
        })
}

/// The first phasezoo dataset named in `text`, ignoring case, `-` and `_` (CIFAR-100 before
/// CIFAR-10, which it contains).
fn dataset_in(text: &str) -> Option<&'static str> {
    let t = normalize(text);
    ["cifar100", "cifar10", "fashion-mnist", "svhn", "tiny-imagenet"]
        .into_iter()
        .find(|d| t.contains(&normalize(d)))
        .filter(|d| DATASETS.contains(d))
}

fn normalize(s: &str) -> String {
    s.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect()
}

/// `(every, epochs)` of a checkpoint policy keeping the epochs the trials saved: every epoch if
/// some trial saved them all, else those listed (0 and the last are always kept).
fn checkpoint_policy(experiment: &Experiment, epochs: u64) -> (u32, Vec<u64>) {
    let saved: BTreeSet<u64> =
        experiment.trials.iter().flat_map(|t| &t.checkpoints).map(|c| u64::from(c.epoch)).collect();
    if (0..=epochs).all(|e| saved.contains(&e)) {
        return (1, Vec::new());
    }
    (0, saved.into_iter().filter(|&e| e != 0 && e != epochs).collect())
}

/// The zoo's name: the experiment folder's name in the characters a spec name allows.
fn folder_name(experiment: &Experiment) -> String {
    let raw = experiment.dir.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    let name: String =
        raw.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
    if name.trim_matches('.').is_empty() {
        "ptmz-import".to_owned()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datasets_are_found_in_paths_and_folder_names() {
        assert_eq!(dataset_in("tune_zoo_cifar100_Resnet50_width"), Some("cifar100"));
        assert_eq!(dataset_in("/ds2/CIFAR-10/dataset_preprocessed.pt"), Some("cifar10"));
        assert_eq!(dataset_in("tune_zoo_tinyimagenet_Resnet18"), Some("tiny-imagenet"));
        assert_eq!(dataset_in("Fashion_MNIST"), Some("fashion-mnist"));
        assert_eq!(dataset_in("mnist"), None);
    }
}
