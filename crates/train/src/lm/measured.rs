//! GPT-2 models behind [`MeasuredPopulation`], float32 with the explicit attention kernel
//! (libtorch has no double backward for the fused one), on fixed token windows the same for
//! every model of a zoo:
//! - the Hessian (SPEC §3.1 for a language model) of the mean next-token cross-entropy on
//!   [`HESSIAN_BATCHES`] × [`HESSIAN_WINDOWS`] windows of `train.bin` (`""`) and of `val.bin`
//!   (`"_val"`), drawn from `metrics.hessian.seed` (split s from `window_rng(seed, s)`), each
//!   model alone (widths differ between cells);
//! - CKA (SPEC §3.2) on the final hidden states (after `ln_f`) of [`CKA_BATCHES`] ×
//!   [`CKA_WINDOWS`] validation windows evenly spaced over `val.bin`, each batch flattened to
//!   `[windows·T, d]` (every position a sample). The logits would be `[·, 50257]` wide, so
//!   `metrics.cka.layer` does not apply: it is always the hidden states;
//! - curves (SPEC §3.3): a pair's Bézier curve trained on [`CURVE_WINDOWS`] fresh training
//!   windows per step (call c draws `window_rng(metrics.curve.seed, c)`), and evaluated on the
//!   Hessian's windows: [train loss, validation loss, validation error = 1 − accuracy].
//!   Rows are computed one by one at each row's weights and stacked; a pair's two ends share
//!   their shapes (a cell's seeds).

use std::cell::Cell;
use std::collections::HashMap;

use pz_data::text::{window_rng, Corpus};
use pz_models::gpt2::Gpt2;
use pz_models::AttentionKernel;
use pz_spec::{CkaConfig, PlannedModel};
use pz_store::{Checkpoint, ZooDir};
use tch::{Device, Kind, Tensor};

use super::data::{corpus_error, even_windows, loss_sum_and_correct, windows_at_once, Windows};
use super::trainer::net_config;
use crate::measured::{CurveProblem, LossGraph, MeasuredPopulation};
use crate::{checkpoint_at, Error};

/// The Hessian's data per loss set: batches × windows of `context` tokens.
const HESSIAN_BATCHES: usize = 4;
const HESSIAN_WINDOWS: usize = 4;
/// CKA's data: batches × windows (PTMZ: 10 batches for images).
const CKA_BATCHES: usize = 10;
const CKA_WINDOWS: usize = 8;
/// Training windows per curve-training step.
const CURVE_WINDOWS: usize = 8;

/// GPT-2 models loaded at one epoch, with the corpus and the metrics' windows.
pub(super) struct LmMeasured {
    models: Vec<Gpt2>,
    corpus: Corpus,
    context: usize,
    /// The Hessian's batches of the training and the validation split.
    hessian: [Vec<Windows>; 2],
    curve_seed: u64,
    device: Device,
}

impl LmMeasured {
    /// `models` at `epoch` from their checkpoints, on `corpus`.
    pub(super) fn load(
        zoo: &ZooDir,
        corpus: &Corpus,
        models: &[PlannedModel],
        epoch: u32,
        device: Device,
    ) -> Result<Self, Error> {
        // Its own handle on the corpus (maps are cheap): a measured population outlives the
        // family that loads it.
        let corpus = Corpus::open(&corpus.dir).map_err(|e| Error::Corpus {
            what: format!("corpus {}", corpus.dir.display()),
            source: Box::new(e),
        })?;
        let mut loaded = Vec::with_capacity(models.len());
        for m in models {
            let shape = net_config(&m.config)?;
            let mut model = Gpt2::new(&shape, device, m.config.seed)
                .map_err(|e| Error::Config(format!("model {}: {e}", m.id())))?;
            let checkpoint = checkpoint_at(zoo, m, epoch)?;
            // A checkpoint whose tensors do not fit is unusable, as one failing its manifest.
            model.load_named(&checkpoint.model).map_err(|e| Error::UnusableCheckpoint {
                model: m.id().to_string(),
                epoch,
                dir: zoo.model(m.id()).path.join(Checkpoint::dir_name(epoch)),
                source: Box::new(e.into()),
            })?;
            model.set_attention_kernel(AttentionKernel::Explicit);
            loaded.push(model);
        }
        let context = loaded.first().map_or(1, |m| usize::try_from(m.config().context).expect("positive"));
        if loaded.iter().any(|m| m.config().context != loaded[0].config().context) {
            return Err(Error::Config("models measured together must share model.context".into()));
        }
        let seed = zoo.spec.metrics.hessian.seed;
        let draw = |file: &pz_data::text::TokenFile, split: u64| -> Result<Vec<Windows>, Error> {
            let mut rng = window_rng(seed, split);
            (0..HESSIAN_BATCHES)
                .map(|_| {
                    let batch = file
                        .windows(context, HESSIAN_WINDOWS, &mut rng)
                        .map_err(|e| corpus_error(file, e))?;
                    Ok(Windows::of(&batch, device))
                })
                .collect()
        };
        let hessian = [draw(&corpus.train, 0)?, draw(&corpus.val, 1)?];
        Ok(Self { models: loaded, corpus, context, hessian, curve_seed: zoo.spec.metrics.curve.seed, device })
    }
}

impl MeasuredPopulation for LmMeasured {
    fn members(&self) -> usize {
        self.models.len()
    }

    fn loss_graph(&self, group: usize, set: usize) -> Result<LossGraph, Error> {
        let model = &self.models[group];
        let batches = &self.hessian[set];
        // Equal windows per batch: the mean over batches is the mean over tokens.
        #[allow(clippy::cast_precision_loss)]
        let weight = 1.0 / batches.len() as f64;
        let losses =
            batches.iter().map(|w| (weight, model.loss(&w.inputs, &w.targets).unsqueeze(0))).collect();
        Ok(LossGraph { params: model.parameters(), stacked: false, losses })
    }

    /// Predicted tokens: batches × windows × context.
    fn loss_samples(&self, _group: usize, _set: usize) -> Vec<usize> {
        vec![HESSIAN_BATCHES * HESSIAN_WINDOWS * self.context]
    }

    fn representations(&self, _cka: &CkaConfig) -> Result<Vec<Vec<Tensor>>, Error> {
        let windows = even_windows(&self.corpus.val, CKA_BATCHES * CKA_WINDOWS, self.context, self.device)?;
        let batches = windows.chunks(i64::try_from(CKA_WINDOWS).expect("small"));
        Ok(tch::no_grad(|| {
            self.models
                .iter()
                .map(|m| {
                    batches
                        .iter()
                        .map(|w| {
                            let d = m.config().model_dim;
                            m.hidden(&w.inputs).reshape([-1, d]).to_kind(Kind::Double).to_device(Device::Cpu)
                        })
                        .collect()
                })
                .collect()
        }))
    }

    fn curves(&self, pairs: &[(usize, usize)]) -> Result<Box<dyn CurveProblem + '_>, Error> {
        let names = self.models.first().map(Gpt2::parameter_names).unwrap_or_default();
        let stack = |end: fn(&(usize, usize)) -> usize| -> Vec<Tensor> {
            (0..names.len())
                .map(|i| {
                    let rows: Vec<Tensor> =
                        pairs.iter().map(|p| self.models[end(p)].parameters()[i].detach()).collect();
                    Tensor::stack(&rows, 0)
                })
                .collect()
        };
        let (theta0, theta2) = (stack(|p| p.0), stack(|p| p.1));
        Ok(Box::new(LmCurves {
            measured: self,
            rows: pairs.to_vec(),
            names,
            theta0,
            theta2,
            calls: Cell::new(0),
        }))
    }
}

/// Bézier curves between pairs of GPT-2 models.
struct LmCurves<'a> {
    measured: &'a LmMeasured,
    rows: Vec<(usize, usize)>,
    /// Parameter names, the order of every stacked list.
    names: Vec<String>,
    theta0: Vec<Tensor>,
    theta2: Vec<Tensor>,
    /// Loss calls so far: call c trains on windows drawn from `window_rng(curve seed, c)`.
    calls: Cell<u64>,
}

impl LmCurves<'_> {
    /// Row r's weights at the stacked point `phi`, by name (views keeping the graph).
    fn row_weights(&self, phi: &[Tensor], r: usize) -> HashMap<String, Tensor> {
        let r = i64::try_from(r).expect("few rows");
        self.names.iter().zip(phi).map(|(n, p)| (n.clone(), p.get(r))).collect()
    }

    /// The model computing row r (its first end: both ends share the shapes).
    fn model(&self, r: usize) -> &Gpt2 {
        &self.measured.models[self.rows[r].0]
    }
}

impl CurveProblem for LmCurves<'_> {
    fn rows(&self) -> &[(usize, usize)] {
        &self.rows
    }

    fn endpoints(&self) -> (&[Tensor], &[Tensor]) {
        (&self.theta0, &self.theta2)
    }

    fn loss(&self, phi: &[Tensor]) -> Tensor {
        let m = self.measured;
        let call = self.calls.replace(self.calls.get() + 1);
        let batch = m
            .corpus
            .train
            .windows(m.context, CURVE_WINDOWS, &mut window_rng(m.curve_seed, call))
            .expect("the corpus held the Hessian's windows of this context");
        let w = Windows::of(&batch, m.device);
        let losses: Vec<Tensor> = (0..self.rows.len())
            .map(|r| self.model(r).loss_with(&self.row_weights(phi, r), &w.inputs, &w.targets))
            .collect();
        Tensor::stack(&losses, 0)
    }

    fn evaluate(&self, phi: &[Tensor]) -> Vec<Tensor> {
        let [train, val] = &self.measured.hessian;
        // Per row: (train loss, val loss, val error), each summed over the set's windows.
        let per_row: Vec<[f64; 3]> = (0..self.rows.len())
            .map(|r| {
                let weights = self.row_weights(phi, r);
                let score = |set: &[Windows]| {
                    let (mut loss, mut correct, mut tokens) = (0.0, 0, 0);
                    let at_once =
                        windows_at_once(self.model(r), i64::try_from(HESSIAN_WINDOWS).expect("small"));
                    for w in set.iter().flat_map(|w| w.chunks(at_once)) {
                        let (l, c) = loss_sum_and_correct(
                            &self.model(r).forward_with(&weights, &w.inputs),
                            &w.targets,
                        );
                        loss += l.double_value(&[]);
                        correct += c.int64_value(&[]);
                        tokens += w.inputs.numel();
                    }
                    #[allow(clippy::cast_precision_loss)]
                    (loss / tokens as f64, 1.0 - correct as f64 / tokens as f64)
                };
                let (train_loss, _) = score(train);
                let (val_loss, val_error) = score(val);
                [train_loss, val_loss, val_error]
            })
            .collect();
        (0..3).map(|j| Tensor::from_slice(&per_row.iter().map(|v| v[j]).collect::<Vec<_>>())).collect()
    }
}
