//! The language-model family behind [`ZooFamily`]: one GPT-2 per unit (widths differ, so models
//! do not stack, [`Packing::OneModelPerUnit`]), packed onto GPUs by their expected share of one (pz_exec::pack), all on one
//! corpus read memory-mapped, which the workers share.

use pz_data::text::Corpus;
use pz_spec::{ModelConfig, Plan, PlannedModel, ProblemConfig, ResolvedModel};
use pz_store::ZooDir;
use tch::Device;

use super::measured::LmMeasured;
use super::population::train_lm_model;
use crate::family::{Packing, WorkerCache, ZooFamily};
use crate::measured::MeasuredPopulation;
use crate::weights::{FinetuneRequest, Scores, WeightScores, WeightsRequest};
use crate::{Error, Outcome, Run};

/// GPT-2 language models on one text corpus.
pub struct LmFamily<'a> {
    corpus: &'a Corpus,
}

impl<'a> LmFamily<'a> {
    /// The family on `corpus`.
    #[must_use]
    pub fn new(corpus: &'a Corpus) -> Self {
        Self { corpus }
    }
}

/// Multiply-adds of one training step of a GPT-2 (forward and backward = 3 × forward): per
/// token, one per parameter (the tied head included once, its matrix product being the
/// embedding's only one) and 2·depth·d·T for attention's two products (Kaplan et al. 2020,
/// C_forward ≈ 2N + 2·n_layer·n_ctx·d_model FLOPs per token); the cost the pack scheduler
/// shares GPUs by.
fn step_multiply_adds(config: &ResolvedModel) -> f64 {
    let ModelConfig::Gpt2(g) = &config.model else { return 0.0 };
    let (d, depth, t) = (f64::from(g.model_dim), f64::from(g.depth), f64::from(g.context));
    let tokens = f64::from(config.train.batch_size) * t;
    3.0 * tokens * (g.parameter_count() + 2.0 * depth * d * t)
}

/// Bytes a GPT-2's training holds in its logits at its peak: a step's `batch × context` rows
/// of the padded vocabulary at 16 bytes each (PyTorch's autocast cross-entropy: bf16 logits, a
/// float32 copy, float32 log-probabilities, float32 and bf16 gradients; the fused kernels need 4,
/// but the fallback must fit too). Evaluations go in chunks of at most a step's windows
/// (`trainer.rs`), in float32 with their log-probabilities (8 bytes), so they stay below it;
/// the activations of the small models a GPU packs are small beside these.
fn step_memory_bytes(config: &ResolvedModel) -> f64 {
    let ModelConfig::Gpt2(g) = &config.model else { return 0.0 };
    #[allow(clippy::cast_precision_loss)] // vocabularies are far below 2^52
    let vocab = pz_models::gpt2::padded_vocab(i64::from(g.vocab_size)) as f64;
    f64::from(config.train.batch_size) * f64::from(g.context) * vocab * 16.0
}

impl ZooFamily for LmFamily<'_> {
    fn name(&self) -> &'static str {
        "language-model"
    }

    fn check_models(&self, plan: &Plan) -> Result<(), Error> {
        let meta = &self.corpus.meta;
        for m in &plan.models {
            let ModelConfig::Gpt2(g) = &m.config.model else {
                return Err(Error::Config(format!("model {} is not a GPT-2", m.id())));
            };
            let shortest = self.corpus.train.len().min(self.corpus.val.len());
            let problem = if (g.vocab_size as usize) < meta.vocab_size {
                Some(format!(
                    "model.vocab_size = {} cannot hold the corpus's {} token ids",
                    g.vocab_size, meta.vocab_size
                ))
            } else if (g.context as usize) >= shortest {
                Some(format!(
                    "model.context = {} needs {} tokens per window, but the corpus's shorter split has {shortest}",
                    g.context,
                    g.context + 1
                ))
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(Error::Config(format!(
                    "model {} cannot be trained on {}: {problem}\n  hint: check model.context and model.vocab_size",
                    m.id(),
                    self.corpus.dir.display()
                )));
            }
        }
        Ok(())
    }

    /// `train.steps_per_epoch`, or the steps of `problem.tokens_per_epoch` at the model's
    /// batch size.
    fn steps_per_epoch(&self, config: &ResolvedModel) -> u64 {
        match (&config.problem, &config.model) {
            (ProblemConfig::Text(text), ModelConfig::Gpt2(g)) => {
                text.steps_per_epoch(&config.train, g.context)
            }
            _ => u64::from(config.train.steps_per_epoch),
        }
    }

    fn packing(&self) -> Packing {
        Packing::OneModelPerUnit
    }

    fn step_multiply_adds(&self, config: &ResolvedModel) -> f64 {
        step_multiply_adds(config)
    }

    fn step_memory_bytes(&self, config: &ResolvedModel) -> f64 {
        step_memory_bytes(config)
    }

    fn load_measured(
        &self,
        zoo: &ZooDir,
        models: &[PlannedModel],
        epoch: u32,
        device: Device,
    ) -> Result<Box<dyn MeasuredPopulation>, Error> {
        Ok(Box::new(LmMeasured::load(zoo, self.corpus, models, epoch, device)?))
    }

    fn evaluate_weights(
        &self,
        model: &PlannedModel,
        request: &WeightsRequest<'_>,
        device: Device,
    ) -> Result<WeightScores, Error> {
        super::apply::evaluate_weights(self.corpus, model, request, device)
    }

    fn finetune(
        &self,
        model: &PlannedModel,
        request: &FinetuneRequest<'_>,
        device: Device,
    ) -> Result<Scores, Error> {
        super::finetune::finetune(model, request, device)
    }

    fn train_unit(
        &self,
        _cache: &mut WorkerCache,
        unit: &[PlannedModel],
        run: &Run,
    ) -> Result<Outcome, Error> {
        train_lm_model(run, &unit[0], self.corpus)
    }
}

#[cfg(test)]
mod tests {
    use pz_exec::pack::memory_share;
    use pz_spec::{Plan, ZooSpec};

    use super::step_memory_bytes;

    #[test]
    fn a_gpt2_whose_logits_fill_a_gpu_takes_that_share_of_it() {
        let text = include_str!("../../../../examples/shakespeare-gpt2-gpu.toml");
        let plan = Plan::new(&ZooSpec::parse(text, "t", &[]).unwrap()).unwrap();
        let bytes = |batch: u32| {
            let m = plan.models.iter().find(|m| m.config.train.batch_size == batch).unwrap();
            step_memory_bytes(&m.config)
        };
        // 128 windows of 128 tokens, the vocabulary padded to 50,304, 16 bytes a logit.
        assert_eq!(bytes(128), 128.0 * 128.0 * 50_304.0 * 16.0);
        assert_eq!(bytes(8), 8.0 * 128.0 * 50_304.0 * 16.0);
        // At most four such trainings share a GPU (the zoo ran out of memory with eight).
        assert!(memory_share(bytes(128)) > 0.2);
    }
}
