//! `phasezoo import SRC --out DIR`: a PTMZ experiment folder (Ray Tune trial folders with
//! `torch.save` checkpoints) as a phasezoo zoo; pz-ptmz does the work without executing pickle.
//! This file supplies what pz-ptmz cannot compute without libtorch: the state dict of
//! phasezoo's model of each trial.

use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;

use anyhow::{Context, Result};
use pz_data::vision::DatasetName;
use pz_models::VisionModel;
use pz_spec::{ProblemConfig, ResolvedModel};
use pz_store::{Dtype, FileLayout, TensorLayout};

/// Arguments of `phasezoo import`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The PTMZ experiment folder (holding `NN_tune_trainable_..._model_width=..,seed=..,training_batchsize=.._<date>` trial folders).
    src: PathBuf,
    /// The zoo folder to write (created, or completed when an earlier import made it).
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: &Args, progress: bool) -> Result<ExitCode> {
    let bar = CheckpointBar::new(progress, "checkpoints imported");
    let report = pz_ptmz::import_experiment(&args.src, &args.out, &VisionShapes, &mut |p| bar.on(p))
        .with_context(|| format!("cannot import {}", args.src.display()));
    bar.finish();
    let report = report?;
    for line in &report.skipped {
        eprintln!("phasezoo: skipped {line}");
    }
    eprintln!(
        "phasezoo: imported {} trials into {} ({} models): {} checkpoints written, {} unchanged",
        report.trials,
        report.zoo.display(),
        report.models,
        report.checkpoints_written,
        report.checkpoints_unchanged
    );
    Ok(ExitCode::SUCCESS)
}

/// phasezoo's vision models, built on the CPU to read their state-dict layout.
struct VisionShapes;

fn dataset(model: &ResolvedModel) -> std::result::Result<DatasetName, String> {
    match &model.problem {
        ProblemConfig::Image(image) => DatasetName::from_str(&image.dataset).map_err(|e| e.to_string()),
        _ => Err("not an image problem".into()),
    }
}

impl pz_ptmz::ModelShapes for VisionShapes {
    fn state_dict(&self, model: &ResolvedModel) -> std::result::Result<FileLayout, String> {
        let info = dataset(model)?.info();
        let (channels, classes, side) = (info.channels, info.classes, info.height);
        let size = |n: usize| i64::try_from(n).map_err(|e| e.to_string());
        let config = pz_train::classify::model_config(model, size(channels)?, size(classes)?, size(side)?);
        let built = VisionModel::new(&config, tch::Device::Cpu, 0);
        let required = built
            .state_dict()
            .into_iter()
            .map(|(name, t)| {
                let dtype = if t.kind() == tch::Kind::Int64 { Dtype::I64 } else { Dtype::F32 };
                #[allow(clippy::cast_sign_loss)]
                let shape = t.size().iter().map(|&d| d as usize).collect();
                TensorLayout { name, dtype, shape }
            })
            .collect();
        Ok(FileLayout { required, optional: Vec::new() })
    }

    fn steps_per_epoch(&self, model: &ResolvedModel) -> u64 {
        let train = dataset(model).map_or(0, |d| d.info().train_len as u64);
        train.div_ceil(u64::from(model.train.batch_size.max(1)))
    }
}

/// A bar over the checkpoints pz-ptmz converts (import and export), hidden as the other bars are.
pub struct CheckpointBar(indicatif::ProgressBar);

impl CheckpointBar {
    pub fn new(visible: bool, what: &str) -> Self {
        let target = if visible {
            indicatif::ProgressDrawTarget::stderr()
        } else {
            indicatif::ProgressDrawTarget::hidden()
        };
        let bar = indicatif::ProgressBar::with_draw_target(Some(0), target);
        let template = "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg} | ETA {eta}";
        bar.set_style(indicatif::ProgressStyle::with_template(template).expect("valid template"));
        bar.set_message(what.to_owned());
        Self(bar)
    }

    pub fn on(&self, progress: pz_ptmz::Progress) {
        match progress {
            pz_ptmz::Progress::Planned { checkpoints } => self.0.set_length(checkpoints),
            pz_ptmz::Progress::Checkpoint => self.0.inc(1),
        }
    }

    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}
