//! A language model transferred to a second corpus (`[finetune]` on a language-model zoo, as
//! nanoGPT fine-tunes GPT-2 on Shakespeare): what [`crate::ZooFamily::finetune`] does for
//! language-model zoos.
//!
//! - Only `full` fine-tuning: a GPT-2's output head is its token embedding (tied), so there is
//!   no head to re-initialise and train alone; `probe` is refused with that reason.
//! - The zoo's own recipe (AdamW groups, betas, gradient clipping, micro-batches, precision)
//!   at `finetune.lr` held constant (no warm-up, no decay), `finetune.weight_decay`, and
//!   `finetune.batch_size` windows of the model's context per step, drawn from the target's
//!   `train.bin` per step from a stream of the model's seed and `finetune.seed`.
//! - `finetune.epochs` passes of `finetune.train_subset` windows each, or, when that is 0, of
//!   the whole `train.bin` (its tokens / (batch × context) steps, at least one).
//! - Scored as [`super::apply`] scores weights, on the target corpus's train and validation
//!   windows; `finetune.momentum`, `probe_lr`, `test_subset` and `augment` do not apply.

use pz_data::text::Corpus;
use pz_spec::{FinetuneConfig, PlannedModel};
use tch::Device;

use super::apply::evaluate_weights;
use super::trainer::{net_config, LmTrainer};
use crate::weights::{BnConditioning, FinetuneRequest, Scores, WeightsRequest};
use crate::{Error, ZooData};

/// [`crate::ZooFamily::finetune`] for language models.
pub(super) fn finetune(
    plan: &PlannedModel,
    request: &FinetuneRequest<'_>,
    device: Device,
) -> Result<Scores, Error> {
    let ZooData::Text(corpus) = request.target else {
        return Err(Error::Config(format!(
            "finetune.dataset = {:?}: a language-model zoo is fine-tuned on a text corpus\n  hint: name a corpus (`phasezoo data fetch shakespeare`)",
            request.config.dataset
        )));
    };
    if request.probe {
        return Err(Error::Config(
            "finetune.modes = [\"probe\"]: a GPT-2's head is its token embedding (tied), so there is no head to train alone\n  hint: use modes = [\"full\"] for language-model zoos"
                .into(),
        ));
    }
    let cfg = request.config;
    let shape = net_config(&plan.config)?;
    let context = usize::try_from(shape.context).expect("positive");
    if corpus.meta.vocab_size > usize::try_from(shape.vocab_size).expect("positive")
        || corpus.train.len().min(corpus.val.len()) <= context
    {
        return Err(Error::Config(format!(
            "model {} cannot be fine-tuned on {}: its vocabulary ({}) or context ({context}) does not fit the corpus",
            plan.id(),
            corpus.dir.display(),
            shape.vocab_size
        )));
    }
    let mut config = plan.config.clone();
    let t = &mut config.train;
    (t.lr, t.min_lr, t.warmup_steps, t.weight_decay) = (cfg.lr, cfg.lr, 0, cfg.weight_decay);
    t.batch_size = cfg.batch_size;
    t.micro_batch = t.micro_batch.min(cfg.batch_size);
    // The windows' stream: the model's own, moved by finetune.seed (a different stream from
    // its training's whenever finetune.seed ≠ 0, and the same for every run with these keys).
    config.seed = plan.config.seed ^ cfg.seed.rotate_left(32);
    let steps = total_steps(cfg, corpus, context);
    let mut trainer = LmTrainer::new(&config, steps, device)?;
    trainer.model.load_named(request.weights)?;
    for _ in 0..steps {
        // The step's loss stays on the device (reading it would wait each step); the scores
        // below say how the transfer went, NaN included.
        let _loss = trainer.train_step(&corpus.train)?;
    }
    let tuned = [trainer.model.named_tensors()];
    let scoring = WeightsRequest { weights: &tuned, conditioning: BnConditioning::Keep, ensemble: false };
    Ok(evaluate_weights(corpus, plan, &scoring, device)?.members[0])
}

/// Optimizer steps of the transfer: epochs × windows per epoch / batch, rounded up.
fn total_steps(cfg: &FinetuneConfig, corpus: &Corpus, context: usize) -> u64 {
    let batch = cfg.batch_size as usize;
    let windows = if cfg.train_subset > 0 { cfg.train_subset } else { corpus.train.len() / context };
    u64::from(cfg.epochs) * windows.div_ceil(batch).max(1) as u64
}

#[cfg(test)]
#[path = "finetune_tests.rs"]
mod tests;
