//! Transfer of an image model to a second dataset (`phasezoo apply finetune`, issue 18;
//! SPEC §5.4): what [`crate::ZooFamily::finetune`] does for image zoos.
//!
//! The model is built for the target's classes, every tensor but the classifier head
//! ([`pz_models::vision::VisionModelConfig::head_names`]) copied from the source weights, the
//! head freshly initialised from the model's seed. Then, by SGD with momentum and PyTorch's
//! L2 weight decay over `[finetune] epochs` epochs of the target's training set (shuffled from
//! `[finetune] seed` and the model's seed):
//! - **probe**: only the head is trained, the network frozen in eval mode (BatchNorm on the
//!   source's running statistics), `probe_lr`;
//! - **full**: every parameter, train mode (BatchNorm statistics updated as in training), `lr`.
//!
//! Target images of another side than the source's (STL-10's 96 for a CIFAR-10 model's 32)
//! are resized once, by area averaging when the side divides (96 → 32: each pixel the mean of
//! a 3 × 3 block, torchvision's `Resize` with antialias on such a factor) and bilinearly
//! otherwise; the channel counts must match. Scores are in eval mode: the target's training
//! set as fine-tuned on, and its test set.

use pz_data::vision::DatasetName;
use pz_models::tensor_from_named;
use pz_models::vision::VisionModel;
use pz_spec::{ImageConfig, PlannedModel, ProblemConfig};
use tch::{Device, Kind, Reduction, Tensor};

use super::curves::score;
use super::{model_config, ImageTask};
use crate::vision::{augment_rng, epoch_permutation};
use crate::weights::{FinetuneRequest, Scores};
use crate::{Error, ZooData};

/// Stream epochs of the fine-tuning shuffles: 2^23 − 2^20, far beyond any training run, the
/// conditioning (2^21) and the curves (from 2^22), below the streams' limit of 2^23, so no
/// batch order is shared with them.
const STREAM_EPOCH: u64 = (1 << 23) - (1 << 20);
/// Images per evaluation batch.
const EVAL_BATCH: i64 = 500;

/// [`crate::ZooFamily::finetune`] for images.
pub(super) fn finetune(
    plan: &PlannedModel,
    request: &FinetuneRequest<'_>,
    device: Device,
) -> Result<Scores, Error> {
    let (model, task) = transfer(plan, request, device)?;
    let params = model.trainable();
    let stats = model.batch_norm_stats();
    let train =
        score(&model, &params, stats, batches(&task.train_images, &task.train_labels, &task.eval_transform));
    let test =
        score(&model, &params, stats, batches(&task.test_images, &task.test_labels, &task.eval_transform));
    Ok(Scores {
        train_loss: train.0,
        train_acc: 1.0 - train.1 / 100.0,
        test_loss: test.0,
        test_acc: 1.0 - test.1 / 100.0,
    })
}

/// The transferred model and the target data it was trained on (see the module notes).
fn transfer(
    plan: &PlannedModel,
    request: &FinetuneRequest<'_>,
    device: Device,
) -> Result<(VisionModel, ImageTask), Error> {
    let ProblemConfig::Image(source) = &plan.config.problem else {
        return Err(Error::Config(format!("model {} is not an image model", plan.id())));
    };
    let ZooData::Images(target) = request.target else {
        return Err(Error::Config("fine-tuning an image model needs an image dataset as its target".into()));
    };
    let cfg = request.config;
    let from = source
        .dataset
        .parse::<DatasetName>()
        .map_err(|e| Error::Config(format!("model {}: {e}", plan.id())))?
        .info();
    let image = ImageConfig {
        dataset: cfg.dataset.clone(),
        train_subset: cfg.train_subset,
        test_subset: cfg.test_subset,
        augment: cfg.augment,
    };
    let mut task = ImageTask::new(target, &image, device);
    let (channels, side) =
        (i64::try_from(from.channels).unwrap_or(0), i64::try_from(from.height).unwrap_or(0));
    if task.channels != channels {
        return Err(Error::Config(format!(
            "[finetune] dataset {} has {} channel(s); the zoo's {} models take {channels}\n  hint: fine-tune on a dataset with {channels} channel(s) (e.g. mnist for fashion-mnist, stl10 for cifar10)",
            cfg.dataset, task.channels, source.dataset
        )));
    }
    if task.image_size != side {
        task.train_images = resize(&task.train_images, side);
        task.test_images = resize(&task.test_images, side);
        task.image_size = side;
    }
    let shape = model_config(&plan.config, channels, task.classes, side);
    let mut model = VisionModel::new(&shape, device, plan.config.seed);
    load_all_but_head(&mut model, request, plan)?;
    let head = shape.head_names();
    let names = model.trainable_names();
    let params = model.trainable();
    let trained: Vec<Tensor> = names
        .iter()
        .zip(&params)
        .filter(|(n, _)| !request.probe || head.contains(&n.as_str()))
        .map(|(_, p)| p.shallow_clone())
        .collect();
    let lr = if request.probe { cfg.probe_lr } else { cfg.lr };
    let mut velocity: Vec<Tensor> = trained.iter().map(Tensor::zeros_like).collect();
    let batch = usize::try_from(cfg.batch_size).expect("a batch size");
    let n = task.train_len();
    let seed = plan.config.seed ^ cfg.seed.rotate_left(32);
    for epoch in 0..u64::from(cfg.epochs) {
        let order = epoch_permutation(seed, STREAM_EPOCH + epoch, n).to_device(device);
        for b in 0..n.div_ceil(batch) {
            let (start, len) = span(b, batch, n);
            let idx = order.narrow(0, start, len);
            let x = task.train_transform.train_batch(
                &task.train_images.index_select(0, &idx),
                &mut augment_rng(seed, STREAM_EPOCH + epoch, b as u64),
            );
            let y = task.train_labels.index_select(0, &idx);
            let logits = model.forward_t(&x, !request.probe);
            let loss = logits.cross_entropy_loss::<Tensor>(&y, None, Reduction::Mean, -100, 0.0);
            let grads = Tensor::run_backward(&[loss], &trained, false, false);
            sgd_step(&trained, &grads, &mut velocity, lr, cfg.momentum, cfg.weight_decay);
        }
    }
    Ok((model, task))
}

/// The source weights into `model`, its own (fresh) head kept; the error names the model.
fn load_all_but_head(
    model: &mut VisionModel,
    request: &FinetuneRequest<'_>,
    plan: &PlannedModel,
) -> Result<(), Error> {
    let head = model.config().head_names();
    let mut named = Vec::with_capacity(request.weights.len());
    for t in request.weights.iter().filter(|t| !head.contains(&t.name.as_str())) {
        let tensor = tensor_from_named(t).ok_or_else(|| {
            Error::Checkpoint(format!("model {}: tensor {} has an unsupported dtype", plan.id(), t.name))
        })?;
        named.push((t.name.clone(), tensor));
    }
    let own = model.state_dict();
    named.extend(own.into_iter().filter(|(k, _)| head.contains(&k.as_str())).map(|(k, t)| (k, t.copy())));
    model.load_state_dict(&named)?;
    Ok(())
}

/// PyTorch's SGD with momentum (dampening 0, not Nesterov) and L2 weight decay, in place.
fn sgd_step(
    params: &[Tensor],
    grads: &[Tensor],
    velocity: &mut [Tensor],
    lr: f64,
    momentum: f64,
    decay: f64,
) {
    tch::no_grad(|| {
        for ((p, g), v) in params.iter().zip(grads).zip(velocity.iter_mut()) {
            let d = g + p * decay;
            *v = &*v * momentum + d;
            let _ = p.shallow_clone().g_sub_(&(&*v * lr));
        }
    });
}

/// uint8 images `[N, C, H, W]` resized to `side`², uint8: area averaging when `side` divides
/// H, bilinear otherwise (see the module notes).
fn resize(images: &Tensor, side: i64) -> Tensor {
    let h = images.size()[2];
    let x = images.to_kind(Kind::Float);
    let out = if h % side == 0 {
        x.adaptive_avg_pool2d([side, side])
    } else {
        x.upsample_bilinear2d([side, side], false, None, None)
    };
    out.round().clamp(0.0, 255.0).to_kind(Kind::Uint8)
}

/// Batches of a set in order, normalised.
fn batches<'a>(
    images: &'a Tensor,
    labels: &'a Tensor,
    transform: &'a crate::vision::Augmentation,
) -> impl Iterator<Item = (Tensor, Tensor)> + 'a {
    let n = labels.size()[0];
    (0..(n + EVAL_BATCH - 1) / EVAL_BATCH).map(move |b| {
        let (start, len) = (b * EVAL_BATCH, EVAL_BATCH.min(n - b * EVAL_BATCH));
        (transform.eval_batch(&images.narrow(0, start, len)), labels.narrow(0, start, len))
    })
}

/// (start, length) of batch `b` of `batch` images of a set of `n`.
fn span(b: usize, batch: usize, n: usize) -> (i64, i64) {
    let start = b * batch;
    let len = batch.min(n - start);
    (i64::try_from(start).expect("a length"), i64::try_from(len).expect("a length"))
}

#[cfg(test)]
#[path = "finetune_tests.rs"]
mod tests;
