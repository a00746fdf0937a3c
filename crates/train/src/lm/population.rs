//! A GPT-2 behind the [`Population`] seam: a population of one (widths differ from cell to
//! cell, so models do not stack), trained a fixed number of steps per epoch and evaluated on
//! fixed validation windows.
//!
//! `result.json` per epoch: `train_loss` is the mean of the epoch's batch losses (nanoGPT's
//! running loss; at epoch 0 the untrained model's loss on `problem.eval_windows` fixed
//! training windows); `test_loss` is the mean cross-entropy in nats per token on the fixed
//! validation windows and `test_error` is 1 − next-token (argmax) accuracy there; `extra`
//! holds `val_loss` (= `test_loss`, under the language-model name), `tokens` (trained on so
//! far), `lr` (of the epoch's last step) and, on CUDA, `tokens_per_s`: the epoch's training
//! tokens over the wall time of its steps (evaluation and checkpoints excluded; the first epoch
//! also pays one-off costs). The CPU logs the rate but leaves it out of the file, whose bytes
//! a resumed run must reproduce.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use pz_data::text::Corpus;
use pz_spec::{PlannedModel, ProblemConfig};
use pz_store::{CheckpointState, EpochRecord, LoadedCheckpoint, NamedTensor};
use tch::{Device, Kind, Tensor};

use super::data::{even_windows, Windows};
use super::trainer::LmTrainer;
use crate::population::{MemberEpoch, Population};
use crate::{run_population, Error, Outcome, Run};

/// Where `PHASEZOO_TORCH_PROFILE` (a folder) asks for a libtorch profile of the first step of
/// epoch 2 (past the first epoch's one-off costs): `<folder>/<model>.trace.json`, a Chrome trace
/// of the step's operators and CUDA kernels (bench/trace_summary.py sums it). A developer's
/// tool for finding where a step's time goes; a profiler that will not start is logged.
fn start_profile(model: &str) -> Option<(pz_device::Profiler, std::path::PathBuf)> {
    let dir = std::env::var_os("PHASEZOO_TORCH_PROFILE")?;
    let path = std::path::Path::new(&dir).join(format!("{model}.trace.json"));
    match pz_device::Profiler::start(tch::Cuda::is_available()) {
        Ok(p) => Some((p, path)),
        Err(e) => {
            tracing::warn!(model, "no profile: {e}");
            None
        }
    }
}

/// Wait for the step's kernels, then write the trace.
fn save_profile(profiler: pz_device::Profiler, path: &std::path::Path, device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i64::try_from(i).expect("small"));
    }
    match profiler.save(path) {
        Ok(()) => tracing::info!(path = %path.display(), "libtorch profile written"),
        Err(e) => tracing::warn!(path = %path.display(), "no profile: {e}"),
    }
}

/// One GPT-2, its corpus and its fixed evaluation windows.
pub(crate) struct LmTraining<'a> {
    /// The model's id, for the log.
    model: String,
    trainer: LmTrainer,
    corpus: &'a Corpus,
    steps_per_epoch: u64,
    /// Fixed validation windows (each epoch's test numbers) and training windows (epoch 0's
    /// train loss).
    val: Windows,
    train: Windows,
}

impl<'a> LmTraining<'a> {
    /// The model of `plan` from its seed, with its windows on `device`.
    ///
    /// # Errors
    /// A model that does not build, or a corpus too short for its context.
    pub(crate) fn new(
        plan: &PlannedModel,
        corpus: &'a Corpus,
        device: Device,
        cuda_graphs: bool,
    ) -> Result<Self, Error> {
        let config = &plan.config;
        let ProblemConfig::Text(text) = &config.problem else {
            return Err(Error::Config(format!("model {} is not a language model", plan.id())));
        };
        let shape = super::trainer::net_config(config)?;
        let context = usize::try_from(shape.context).expect("positive");
        let steps_per_epoch = text.steps_per_epoch(&config.train, u32::try_from(context).expect("small"));
        let total = steps_per_epoch * u64::from(config.train.epochs);
        let n = text.eval_windows as usize;
        Ok(Self {
            model: plan.id().to_string(),
            trainer: LmTrainer::new(config, total, device)?.with_cuda_graphs(cuda_graphs),
            val: even_windows(&corpus.val, n, context, device)?,
            train: even_windows(&corpus.train, n, context, device)?,
            corpus,
            steps_per_epoch,
        })
    }
}

impl Population for LmTraining<'_> {
    fn members(&self) -> usize {
        1
    }

    fn steps_per_epoch(&self) -> u64 {
        self.steps_per_epoch
    }

    fn steps(&self) -> u64 {
        self.trainer.steps()
    }

    fn export(&self, _k: usize) -> (Vec<NamedTensor>, Vec<NamedTensor>) {
        self.trainer.checkpoint_tensors()
    }

    fn restore(&mut self, _k: usize, checkpoint: &LoadedCheckpoint, _model: &str) -> Result<(), Error> {
        self.trainer.restore(checkpoint)
    }

    fn state(&self, epoch: u32) -> CheckpointState {
        CheckpointState { epoch, step: self.trainer.steps(), rng: BTreeMap::new() }
    }

    fn initial(&mut self) -> Vec<MemberEpoch> {
        let (loss, _) = self.trainer.evaluate(&self.train);
        vec![MemberEpoch { train_loss: loss, extra: BTreeMap::new() }]
    }

    fn train_epoch(
        &mut self,
        epoch: u32,
        stop: &AtomicBool,
        on_steps: &mut dyn FnMut(u64),
    ) -> Result<Option<Vec<MemberEpoch>>, Error> {
        let started = Instant::now();
        // Summed on the device: one host synchronization an epoch, not one a step.
        let mut sum = Tensor::zeros([], (Kind::Double, self.trainer.model.device()));
        for i in 0..self.steps_per_epoch {
            if stop.load(Ordering::Relaxed) {
                return Ok(None);
            }
            let profiler = (epoch == 2 && i == 0).then(|| start_profile(&self.model)).flatten();
            sum += self.trainer.train_step(&self.corpus.train)?.to_kind(Kind::Double);
            if let Some((profiler, path)) = profiler {
                save_profile(profiler, &path, self.trainer.model.device());
            }
            on_steps(1);
        }
        #[allow(clippy::cast_precision_loss)]
        let train_loss = sum.double_value(&[]) / self.steps_per_epoch as f64;
        // Reading the sum waited for the epoch's last step: the clock covers every step.
        let secs = started.elapsed().as_secs_f64();
        #[allow(clippy::cast_precision_loss)]
        let tokens_per_s = (self.steps_per_epoch * self.trainer.tokens_per_step()) as f64 / secs.max(1e-9);
        tracing::info!(model = %self.model, epoch, tokens_per_s, step_secs = secs, "language-model epoch");
        let mut extra = BTreeMap::new();
        if self.trainer.model.device().is_cuda() {
            extra.insert("tokens_per_s".to_string(), serde_json::json!(tokens_per_s));
        }
        Ok(Some(vec![MemberEpoch { train_loss, extra }]))
    }

    fn records(&self, epoch: u32, train: Vec<MemberEpoch>) -> Vec<EpochRecord> {
        let (val_loss, val_accuracy) = self.trainer.evaluate(&self.val);
        train
            .into_iter()
            .map(|m| {
                let mut extra = m.extra;
                extra.insert("val_loss".to_string(), serde_json::json!(val_loss));
                extra.insert("tokens".to_string(), serde_json::json!(self.trainer.tokens()));
                if epoch > 0 {
                    extra.insert("lr".to_string(), serde_json::json!(self.trainer.last_lr()));
                }
                EpochRecord {
                    epoch,
                    train_loss: m.train_loss,
                    test_loss: val_loss,
                    test_error: 1.0 - val_accuracy,
                    step: self.trainer.steps(),
                    extra,
                }
            })
            .collect()
    }

    fn describe(&self) -> String {
        let c = self.trainer.model.config();
        format!("parameters={} heads={} context={}", self.trainer.model.parameter_count(), c.heads, c.context)
    }
}

/// Train one GPT-2 to its last epoch through the one loop, resuming from its newest intact
/// checkpoint that its results reach.
///
/// # Errors
/// As [`run_population`], and a model or corpus that does not fit.
pub(crate) fn train_lm_model(run: &Run, plan: &PlannedModel, corpus: &Corpus) -> Result<Outcome, Error> {
    let mut training = LmTraining::new(plan, corpus, run.device, run.cuda_graphs)?;
    run_population(run, std::slice::from_ref(plan), &mut training)
}
