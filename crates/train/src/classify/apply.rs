//! Image classifiers scored at weights that are not a checkpoint's (SPEC §5: averages over
//! epochs or seeds, interpolations, aligned copies) and as ensembles: what
//! [`crate::ZooFamily::evaluate_weights`] does for image zoos.
//!
//! # BatchNorm
//! Averaged weights need running statistics that fit them ([`BnConditioning`]):
//! - `Recompute` (phasezoo's default): reset and recomputed exactly by one pass over the
//!   training set in train mode (the curves' [`recompute_batch_norm`], Garipov's `update_bn`);
//! - `PtmzCompat` (the original's `condition_bn.py`, SPEC §5.1 step 3): train mode at momentum
//!   0.1 from the statistics the weights carry (not reset), at most [`PTMZ_PASSES`] batches,
//!   capped at one epoch: an exponential average dominated by the last batches;
//! - `Keep`: the statistics the weights carry (a trained member as it is, for ensembles).
//!
//! Both conditioning passes run on the shuffled, augmented training set at the model's own
//! batch size. Then eval mode ([`score`]): the training set augmented as in training (the
//! original scores its augmented train loader) and the test set. Every draw (shuffle,
//! augmentation) comes from the model's seed at stream epochs from [`STREAM_EPOCH`] on, which
//! no training run and no curve reaches, so every set of weights of one call sees the same
//! batches, and calls with the same model see the same batches too.

use pz_data::vision::VisionData;
use pz_models::tensor_from_named;
use pz_models::vision::{BatchNormStats, Norm, VisionModel};
use pz_spec::{PlannedModel, ProblemConfig};
use pz_store::NamedTensor;
use tch::{Device, Kind, Tensor};

use super::curves::{recompute_batch_norm, score};
use super::{model_config, ImageTask};
use crate::vision::{augment_rng, epoch_permutation};
use crate::weights::{BnConditioning, Scores, WeightScores, WeightsRequest, PTMZ_PASSES};
use crate::Error;

/// PyTorch's BatchNorm momentum, the original's during conditioning.
const PTMZ_MOMENTUM: f64 = 0.1;

/// Stream epoch of the conditioning shuffle and augmentation; `STREAM_EPOCH + 1` draws the
/// scored training set's augmentation. 2^21 is beyond any training run and below the curves'
/// 2^22 (classify/curves.rs).
const STREAM_EPOCH: u64 = 1 << 21;

/// Images per evaluation batch (eval mode: the size changes rounding only).
const EVAL_BATCH: usize = 500;

/// One member ready to score: its trainable tensors and its (conditioned) statistics.
struct Member {
    params: Vec<Tensor>,
    stats: BatchNormStats,
}

/// [`crate::ZooFamily::evaluate_weights`] for images: `plan`'s network on `data` at each
/// state dict of `request`.
pub(super) fn evaluate_weights(
    data: &VisionData,
    plan: &PlannedModel,
    request: &WeightsRequest<'_>,
    device: Device,
) -> Result<WeightScores, Error> {
    let ProblemConfig::Image(image) = &plan.config.problem else {
        return Err(Error::Config(format!("model {} is not an image model", plan.id())));
    };
    let task = ImageTask::new(data, image, device);
    let shape = model_config(&plan.config, task.channels, task.classes, task.image_size);
    let problems = shape.problems();
    if !problems.is_empty() {
        return Err(Error::Config(format!("model {}: {}", plan.id(), problems.join("; "))));
    }
    let mut model = VisionModel::new(&shape, device, plan.config.seed);
    let batch = usize::try_from(plan.config.train.batch_size).expect("a batch size");
    let seed = plan.config.seed;
    let mut members = Vec::with_capacity(request.weights.len());
    let mut kept = Vec::new();
    for weights in request.weights {
        let member = load(&mut model, weights)?;
        let member = condition(&model, member, request.conditioning, &task, seed, batch);
        let (train_loss, train_error) =
            score(&model, &member.params, &member.stats, train_batches(&task, seed));
        let (test_loss, test_error) = score(&model, &member.params, &member.stats, test_batches(&task));
        members.push(Scores {
            train_loss,
            train_acc: 1.0 - train_error / 100.0,
            test_loss,
            test_acc: 1.0 - test_error / 100.0,
        });
        if request.ensemble {
            kept.push(member);
        }
    }
    let ensemble = request.ensemble.then(|| {
        let (train_loss, train_acc) = ensemble_score(&model, &kept, train_batches(&task, seed));
        let (test_loss, test_acc) = ensemble_score(&model, &kept, test_batches(&task));
        Scores { train_loss, train_acc, test_loss, test_acc }
    });
    Ok(WeightScores { members, ensemble })
}

/// `weights` copied into `model` (checked: names, dtypes, shapes), then copied out as a member
/// of its own, so the next state dict can reuse the model.
fn load(model: &mut VisionModel, weights: &[NamedTensor]) -> Result<Member, Error> {
    let named = weights
        .iter()
        .map(|t| {
            tensor_from_named(t)
                .map(|tensor| (t.name.clone(), tensor))
                .ok_or_else(|| Error::Checkpoint(format!("tensor {} has an unsupported dtype", t.name)))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    model.load_state_dict(&named)?;
    tch::no_grad(|| {
        let params = model.trainable().iter().map(|p| p.detach().copy()).collect();
        let stats = model.new_batch_norm_stats();
        let own = model.batch_norm_stats();
        for i in 0..stats.len() {
            let ((mean, var), (own_mean, own_var)) = (stats.layer(i), own.layer(i));
            mean.shallow_clone().copy_(&own_mean);
            var.shallow_clone().copy_(&own_var);
        }
        Ok(Member { params, stats })
    })
}

/// `member` with its statistics set as `how` says (a model without BatchNorm is unchanged).
fn condition(
    model: &VisionModel,
    member: Member,
    how: BnConditioning,
    task: &ImageTask,
    seed: u64,
    batch: usize,
) -> Member {
    if member.stats.is_empty() {
        return member;
    }
    match how {
        BnConditioning::Keep => member,
        BnConditioning::Recompute => {
            let stats = recompute_batch_norm(model, &member.params, conditioning_batches(task, seed, batch));
            Member { stats, ..member }
        }
        BnConditioning::PtmzCompat => {
            tch::no_grad(|| {
                for (x, _) in conditioning_batches(task, seed, batch).take(PTMZ_PASSES) {
                    let _ =
                        model.forward_with(&member.params, Norm::Update(&member.stats, PTMZ_MOMENTUM), &x);
                }
            });
            member
        }
    }
}

/// One epoch of the training set, shuffled and augmented as in training, in batches of
/// `batch` (the last may be partial, as PyTorch's loader without `drop_last`).
fn conditioning_batches(
    task: &ImageTask,
    seed: u64,
    batch: usize,
) -> impl Iterator<Item = (Tensor, Tensor)> + '_ {
    let n = task.train_len();
    let order = epoch_permutation(seed, STREAM_EPOCH, n).to_device(task.train_labels.device());
    (0..n.div_ceil(batch)).map(move |b| {
        let (start, len) = span(b, batch, n);
        let idx = order.narrow(0, start, len);
        let images = task.train_images.index_select(0, &idx);
        let x = task.train_transform.train_batch(&images, &mut augment_rng(seed, STREAM_EPOCH, b as u64));
        (x, task.train_labels.index_select(0, &idx))
    })
}

/// The training set in stored order, augmented as in training, for scoring.
fn train_batches(task: &ImageTask, seed: u64) -> impl Iterator<Item = (Tensor, Tensor)> + '_ {
    let n = task.train_len();
    (0..n.div_ceil(EVAL_BATCH)).map(move |b| {
        let (start, len) = span(b, EVAL_BATCH, n);
        let images = task.train_images.narrow(0, start, len);
        let mut rng = augment_rng(seed, STREAM_EPOCH + 1, b as u64);
        (task.train_transform.train_batch(&images, &mut rng), task.train_labels.narrow(0, start, len))
    })
}

/// The test set in order, normalised only.
fn test_batches(task: &ImageTask) -> impl Iterator<Item = (Tensor, Tensor)> + '_ {
    let n = usize::try_from(task.test_labels.size()[0]).expect("a length");
    (0..n.div_ceil(EVAL_BATCH)).map(move |b| {
        let (start, len) = span(b, EVAL_BATCH, n);
        (
            task.eval_transform.eval_batch(&task.test_images.narrow(0, start, len)),
            task.test_labels.narrow(0, start, len),
        )
    })
}

/// (start, length) of batch `b` of `batch` images of a set of `n`.
fn span(b: usize, batch: usize, n: usize) -> (i64, i64) {
    let start = b * batch;
    let len = batch.min(n - start);
    (i64::try_from(start).expect("a length"), i64::try_from(len).expect("a length"))
}

/// (NLL of the mean probabilities, accuracy of their argmax) of `members` as one classifier,
/// each in eval mode on its own statistics. Probabilities are averaged in float64, so an
/// ensemble of copies of one member gives that member's numbers up to rounding.
fn ensemble_score(
    model: &VisionModel,
    members: &[Member],
    batches: impl Iterator<Item = (Tensor, Tensor)>,
) -> (f64, f64) {
    tch::no_grad(|| {
        let device = model.device();
        let (mut nll, mut correct, mut n) =
            (Tensor::zeros([], (Kind::Double, device)), Tensor::zeros([], (Kind::Int64, device)), 0i64);
        for (x, y) in batches {
            let each: Vec<Tensor> = members
                .iter()
                .map(|m| {
                    let logits = model.forward_with(&m.params, Norm::Running(&m.stats), &x);
                    logits.to_kind(Kind::Double).softmax(-1, Kind::Double)
                })
                .collect();
            // [K, B, classes] → [B, classes]
            let probs = Tensor::stack(&each, 0).mean_dim(0, false, Kind::Double);
            nll -= probs.log().gather(1, &y.unsqueeze(1), false).sum(Kind::Double);
            correct += probs.argmax(-1, false).eq_tensor(&y).sum(Kind::Int64);
            n += y.size()[0];
        }
        #[allow(clippy::cast_precision_loss)]
        let n = n.max(1) as f64;
        #[allow(clippy::cast_precision_loss)]
        (nll.double_value(&[]) / n, correct.int64_value(&[]) as f64 / n)
    })
}

#[cfg(test)]
mod tests {
    use pz_models::tensor_to_named;
    use pz_spec::{Plan, ZooSpec};

    use super::super::tests::random_data;
    use super::*;

    const FASHION: &str = include_str!("../../../../examples/fashion-resnet18-small.toml");

    /// A width-2 ResNet-18 of batch size `batch` on 1×12×12 images, augmented.
    fn planned(batch: u32) -> PlannedModel {
        let sets = [
            "grid.load.values=[2]".to_string(),
            format!("grid.temperature.values=[{batch}]"),
            "problem.augment=true".into(),
        ];
        let spec = ZooSpec::parse(FASHION, "t", &sets).unwrap();
        Plan::new(&spec).unwrap().models.remove(0)
    }

    /// A state dict of `plan`'s model from init `seed`, every parameter moved off its init,
    /// running statistics set to `mean` and `var` (as if trained elsewhere).
    fn weights(plan: &PlannedModel, seed: u64, mean: f64, var: f64) -> Vec<NamedTensor> {
        tch::manual_seed(i64::try_from(seed).unwrap());
        let shape = model_config(&plan.config, 1, 10, 12);
        let m = VisionModel::new(&shape, Device::Cpu, seed);
        m.state_dict()
            .into_iter()
            .map(|(k, t)| {
                let t = if k.ends_with("running_mean") {
                    t.full_like(mean)
                } else if k.ends_with("running_var") {
                    t.full_like(var)
                } else if t.is_floating_point() {
                    &t + t.randn_like() * 0.1
                } else {
                    t
                };
                tensor_to_named(&k, &t)
            })
            .collect()
    }

    fn scores(
        data: &VisionData,
        plan: &PlannedModel,
        w: &[Vec<NamedTensor>],
        how: BnConditioning,
    ) -> Vec<Scores> {
        let request = WeightsRequest { weights: w, conditioning: how, ensemble: false };
        evaluate_weights(data, plan, &request, Device::Cpu).unwrap().members
    }

    #[test]
    fn recompute_forgets_the_weights_statistics_and_ptmz_compat_folds_batches_into_them() {
        let (data, plan) = (random_data(3, 300, 70), planned(32));
        let w = [weights(&plan, 1, 0.0, 1.0), weights(&plan, 1, 3.0, 9.0)];
        let recomputed = scores(&data, &plan, &w, BnConditioning::Recompute);
        assert_eq!(recomputed[0], recomputed[1], "recomputed statistics ignore the carried ones");
        // 10 batches at momentum 0.1 leave 0.9^10 ≈ 35 % of the carried statistics.
        let ptmz = scores(&data, &plan, &w, BnConditioning::PtmzCompat);
        assert_ne!(ptmz[0], ptmz[1], "the original's EMA starts from the carried statistics");
        assert_ne!(ptmz[0], recomputed[0]);
        let kept = scores(&data, &plan, &w, BnConditioning::Keep);
        assert_ne!(kept[0], kept[1]);
    }

    /// The original's conditioning reproduced by hand: the model in train mode (PyTorch's
    /// momentum 0.1, statistics not reset) for exactly 100 of the epoch's 150 batches.
    #[test]
    fn ptmz_compat_is_one_hundred_train_mode_batches_from_the_carried_statistics() {
        let (data, plan) = (random_data(4, 300, 70), planned(2));
        let w = weights(&plan, 2, 0.5, 2.0);
        let ptmz = scores(&data, &plan, std::slice::from_ref(&w), BnConditioning::PtmzCompat)[0];
        let ProblemConfig::Image(image) = &plan.config.problem else { unreachable!() };
        let task = ImageTask::new(&data, image, Device::Cpu);
        let by_hand = |passes: usize| {
            let mut model = VisionModel::new(&model_config(&plan.config, 1, 10, 12), Device::Cpu, 0);
            let named: Vec<_> = w.iter().map(|t| (t.name.clone(), tensor_from_named(t).unwrap())).collect();
            model.load_state_dict(&named).unwrap();
            tch::no_grad(|| {
                for (x, _) in conditioning_batches(&task, plan.config.seed, 2).take(passes) {
                    let _ = model.forward_t(&x, true);
                }
            });
            score(&model, &model.trainable(), model.batch_norm_stats(), test_batches(&task))
        };
        let (loss, error) = by_hand(PTMZ_PASSES);
        assert_eq!((ptmz.test_loss, ptmz.test_acc), (loss, 1.0 - error / 100.0));
        assert_ne!(by_hand(150).0, loss, "the cap matters: the epoch has 150 batches");
    }

    #[test]
    fn an_ensemble_of_copies_of_one_member_scores_as_the_member() {
        let (data, plan) = (random_data(5, 200, 90), planned(32));
        let w = weights(&plan, 3, 0.1, 1.5);
        let copies = [w.clone(), w.clone(), w];
        let request = WeightsRequest { weights: &copies, conditioning: BnConditioning::Keep, ensemble: true };
        let out = evaluate_weights(&data, &plan, &request, Device::Cpu).unwrap();
        let (member, ensemble) = (out.members[0], out.ensemble.unwrap());
        assert!(out.members.iter().all(|s| *s == member));
        assert!((ensemble.test_acc - member.test_acc).abs() < 1e-12, "{ensemble:?} vs {member:?}");
        assert!((ensemble.train_acc - member.train_acc).abs() < 1e-12);
        // Mean of probabilities in float64 vs log-softmax in float32: rounding only.
        assert!((ensemble.test_loss - member.test_loss).abs() < 1e-5 * member.test_loss.abs().max(1.0));
        assert!((ensemble.train_loss - member.train_loss).abs() < 1e-5 * member.train_loss.abs().max(1.0));
    }

    #[test]
    fn kept_statistics_score_the_test_set_as_training_evaluates_it() {
        let (data, plan) = (random_data(6, 64, 90), planned(32));
        let w = weights(&plan, 4, 0.2, 1.3);
        let ours = scores(&data, &plan, std::slice::from_ref(&w), BnConditioning::Keep)[0];
        let ProblemConfig::Image(image) = &plan.config.problem else { unreachable!() };
        let task = ImageTask::new(&data, image, Device::Cpu);
        let mut trainer = super::super::ImageTrainer::new(&plan.config, &task, Device::Cpu).unwrap();
        let loaded = pz_store::LoadedCheckpoint {
            model: w,
            optimizer: trainer.checkpoint_tensors().1,
            state: pz_store::CheckpointState { epoch: 0, step: 0, rng: std::collections::BTreeMap::new() },
        };
        trainer.restore(&loaded).unwrap();
        let theirs = trainer.evaluate(&task.test_images, &task.test_labels, &task.eval_transform, None);
        assert!((ours.test_acc - theirs.accuracy).abs() < 1e-12, "{ours:?} vs {theirs:?}");
        assert!((ours.test_loss - theirs.loss).abs() < 1e-6);
    }

    #[test]
    fn weights_of_another_shape_are_refused_naming_the_tensor() {
        let (data, plan) = (random_data(7, 32, 16), planned(32));
        let mut w = weights(&plan, 5, 0.0, 1.0);
        w.retain(|t| t.name != "fc.bias");
        let request =
            WeightsRequest { weights: &[w], conditioning: BnConditioning::Recompute, ensemble: false };
        let err = evaluate_weights(&data, &plan, &request, Device::Cpu).unwrap_err();
        assert!(err.to_string().contains("fc.bias"), "{err}");
    }
}
