//! What loss-landscape metrics of an image model need from training (SPEC §3.1): the model at a
//! checkpoint, the fixed samples the Hessian is taken on, and the loss on them in eval mode.

use pz_spec::PlannedModel;
use pz_store::ZooDir;
use tch::{Device, Kind, Tensor};

use super::{ImageTask, ImageTrainer};
use crate::vision::{augment_rng, epoch_permutation};
use crate::{checkpoint_as, Error};

/// Which samples a metric is taken on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricSet {
    /// The first batches of the shuffled, augmented training set ("train" in PTMZ's metrics).
    Train,
    /// The first batches of the test set, normalized only ("val" in PTMZ's metrics).
    Test,
}

/// `batches` batches of `batch_size` (images, labels), already transformed, on the task's
/// device. Train: a permutation and augmentation drawn from `seed`'s streams, the same for every
/// model measured with that seed (PTMZ drew them once per cell and reused them for its seeds).
/// Test: the first `batches × batch_size` test images. Fewer when the set is smaller.
#[must_use]
pub fn metric_batches(
    task: &ImageTask,
    set: MetricSet,
    batches: usize,
    batch_size: i64,
    seed: u64,
) -> Vec<(Tensor, Tensor)> {
    pz_device::outside_captures(|| {
        let (images, labels) = match set {
            MetricSet::Train => {
                let order =
                    epoch_permutation(seed, 0, task.train_len()).to_device(task.train_images.device());
                (task.train_images.index_select(0, &order), task.train_labels.index_select(0, &order))
            }
            MetricSet::Test => (task.test_images.shallow_clone(), task.test_labels.shallow_clone()),
        };
        let n = images.size()[0];
        (0..batches)
            .map_while(|b| {
                let start = i64::try_from(b).expect("small") * batch_size;
                (start < n).then(|| {
                    let len = batch_size.min(n - start);
                    let x = images.narrow(0, start, len);
                    let x = match set {
                        MetricSet::Train => {
                            task.train_transform.train_batch(&x, &mut augment_rng(seed, 0, b as u64))
                        }
                        MetricSet::Test => task.eval_transform.eval_batch(&x),
                    };
                    (x, labels.narrow(0, start, len))
                })
            })
            .collect()
    })
}

/// The model of `plan` as its checkpoint at `epoch` holds it, ready for [`ImageTrainer::eval_loss`].
///
/// # Errors
/// No checkpoint at that epoch ([`Error::MissingCheckpoint`]), or one that fails a check of its
/// manifest or of the model's tensor names, dtypes and shapes ([`Error::UnusableCheckpoint`],
/// naming the model, the file and the reason).
pub fn load_image_model(
    zoo: &ZooDir,
    plan: &PlannedModel,
    epoch: u32,
    task: &ImageTask,
    device: Device,
) -> Result<ImageTrainer, Error> {
    let mut trainer = ImageTrainer::new(&plan.config, task, device)?.with_cuda_graphs(false);
    let layout = super::population::checkpoint_layout(&trainer);
    let loaded = checkpoint_as(zoo, plan, epoch, &layout)?;
    trainer.restore(&loaded)?;
    Ok(trainer)
}

impl ImageTrainer {
    /// The trainable parameters (convolutions, BatchNorm scales and shifts, the head), the
    /// tensors the model computes with.
    pub fn parameters(&self) -> &[Tensor] {
        &self.params
    }

    /// Mean cross-entropy of a transformed batch in eval mode (BatchNorm on its running
    /// statistics), in float32 whatever `train.precision` says, with its autograd graph to
    /// [`ImageTrainer::parameters`]: `[]`-shaped.
    pub fn eval_loss(&self, images: &Tensor, labels: &Tensor) -> Tensor {
        self.float32_eval_logits(images).log_softmax(-1, Kind::Float).nll_loss_nd::<Tensor>(
            labels,
            None,
            tch::Reduction::Mean,
            -100,
        )
    }

    /// Logits of a transformed batch in eval mode, float32, without gradients (PTMZ's CKA
    /// representation: the raw model's output, no log-softmax).
    pub fn eval_logits(&self, images: &Tensor) -> Tensor {
        tch::no_grad(|| self.float32_eval_logits(images))
    }

    /// Eval-mode logits in float32 (no autocast: the metrics are PTMZ's float32 ones).
    fn float32_eval_logits(&self, images: &Tensor) -> Tensor {
        self.model.forward_t(&self.prepare(images.shallow_clone()), false)
    }
}
