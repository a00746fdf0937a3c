//! Language models scored at weights that are not a checkpoint's (SPEC §5 for a language
//! model: averages over epochs or seeds, interpolations, aligned copies) and as ensembles: what
//! [`crate::ZooFamily::evaluate_weights`] does for language-model zoos.
//!
//! Every set of weights is scored on the same [`EVAL_WINDOWS`] windows of `train.bin` and of
//! `val.bin`, evenly spaced over each file (no draw: the same windows for every model of a zoo
//! and every call). "Loss" is the mean next-token cross-entropy in nats, "accuracy" the fraction
//! of tokens whose argmax prediction is the next token; the test set is the validation split.
//! There is no BatchNorm, so [`crate::weights::BnConditioning`] does not apply. An ensemble's
//! prediction is the mean of its members' softmax probabilities per token, its loss the
//! negative log of that mean at the target.

use std::collections::HashMap;

use pz_data::text::Corpus;
use pz_models::gpt2::Gpt2;
use pz_models::AttentionKernel;
use pz_spec::PlannedModel;
use tch::{Device, Kind, Tensor};

use super::data::{even_windows, loss_sum_and_correct, windows_at_once, Windows};
use super::trainer::net_config;
use crate::weights::{Scores, WeightScores, WeightsRequest};
use crate::Error;

/// Windows of each split every set of weights is scored on (overlapping where a split is
/// shorter than that many contexts).
pub(crate) const EVAL_WINDOWS: usize = 32;

/// Summed loss and correct predictions over a split's windows, and the tokens they cover.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    loss: f64,
    correct: i64,
    tokens: i64,
}

impl Tally {
    fn add(&mut self, (loss, correct): (Tensor, Tensor), tokens: i64) {
        self.loss += loss.double_value(&[]);
        self.correct += correct.int64_value(&[]);
        self.tokens += tokens;
    }

    #[allow(clippy::cast_precision_loss)]
    fn mean(self) -> (f64, f64) {
        (self.loss / self.tokens as f64, self.correct as f64 / self.tokens as f64)
    }
}

/// [`crate::ZooFamily::evaluate_weights`] for language models: `plan`'s GPT-2 on `corpus` at
/// each state dict of `request`.
pub(super) fn evaluate_weights(
    corpus: &Corpus,
    plan: &PlannedModel,
    request: &WeightsRequest<'_>,
    device: Device,
) -> Result<WeightScores, Error> {
    let shape = net_config(&plan.config)?;
    let mut model = Gpt2::new(&shape, device, plan.config.seed)
        .map_err(|e| Error::Config(format!("model {}: {e}", plan.id())))?;
    model.set_attention_kernel(AttentionKernel::Explicit);
    let names = model.parameter_names();
    // Each state dict through the model's own loader (names, dtypes, shapes checked), kept as
    // a name → tensor map for `forward_with`.
    let mut members: Vec<HashMap<String, Tensor>> = Vec::with_capacity(request.weights.len());
    for weights in request.weights {
        model.load_named(weights)?;
        let params = model.parameters();
        members.push(names.iter().zip(&params).map(|(n, p)| (n.clone(), p.detach().copy())).collect());
    }
    let context = usize::try_from(shape.context).expect("positive");
    let at_once = windows_at_once(&model, i64::try_from(EVAL_WINDOWS).expect("small"));
    let mut sets = Vec::with_capacity(2);
    for file in [&corpus.train, &corpus.val] {
        let windows = even_windows(file, EVAL_WINDOWS, context, device)?;
        sets.push(tch::no_grad(|| score_split(&model, &members, &windows, at_once, request.ensemble)));
    }
    let scores = |k: usize| {
        let (train_loss, train_acc) = sets[0][k].mean();
        let (test_loss, test_acc) = sets[1][k].mean();
        Scores { train_loss, train_acc, test_loss, test_acc }
    };
    Ok(WeightScores {
        members: (0..members.len()).map(scores).collect(),
        ensemble: request.ensemble.then(|| scores(members.len())),
    })
}

/// Each member's tally on `windows`, then the ensemble's when asked (last).
fn score_split(
    model: &Gpt2,
    members: &[HashMap<String, Tensor>],
    windows: &Windows,
    at_once: i64,
    ensemble: bool,
) -> Vec<Tally> {
    let mut tallies = vec![Tally::default(); members.len() + usize::from(ensemble)];
    for chunk in windows.chunks(at_once) {
        let tokens = chunk.targets.numel() as i64;
        let mut probabilities: Option<Tensor> = None;
        for (k, params) in members.iter().enumerate() {
            let logits = model.forward_with(params, &chunk.inputs).to_kind(Kind::Float);
            tallies[k].add(loss_sum_and_correct(&logits, &chunk.targets), tokens);
            if ensemble {
                let p = logits.softmax(-1, Kind::Double);
                probabilities = Some(probabilities.map_or_else(|| p.shallow_clone(), |sum| sum + &p));
            }
        }
        if let Some(sum) = probabilities {
            #[allow(clippy::cast_precision_loss)]
            let mean = sum / members.len() as f64;
            // The mean probability's log as logits: cross-entropy of its softmax is −log p̄.
            tallies[members.len()].add(loss_sum_and_correct(&mean.log(), &chunk.targets), tokens);
        }
    }
    tallies
}

#[cfg(test)]
#[path = "apply_tests.rs"]
pub(super) mod tests;
