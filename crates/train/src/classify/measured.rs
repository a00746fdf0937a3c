//! Image classifiers behind [`MeasuredPopulation`], in eval mode (BatchNorm on its running
//! statistics), float32:
//! - the Hessian (SPEC §3.1) of each model alone (widths differ between cells, so models do not
//!   stack) on 10 batches of 64 training samples (shuffled and augmented once from
//!   `metrics.hessian.seed`, the same for every model; one pass of 640) and on the first 640 test images (`_val`);
//! - CKA (SPEC §3.2) on the logits of the first 1,280 test images, per batch of 128;
//! - mode connectivity (SPEC §3.3) between the seeds of one cell (curves.rs).
//!
//! A ViT is measured with its twice-differentiable attention kernel (libtorch has no double
//! backward for the fused one).

use pz_data::vision::VisionData;
use pz_models::AttentionKernel;
use pz_spec::{CkaConfig, ImageConfig, PlannedModel, ProblemConfig};
use pz_store::ZooDir;
use tch::{Device, Kind, Tensor};

use super::curves::{CurveData, ImageCurves};
use super::{load_image_model, metric_batches, ImageTask, ImageTrainer, MetricSet};
use crate::measured::{CurveProblem, LossGraph, MeasuredPopulation};
use crate::Error;

/// PTMZ's Hessian data: `hessian_number_batches` × `hessian_batch_size`.
const BATCHES: usize = 10;
const BATCH_SIZE: i64 = 64;
/// PTMZ's CKA data: `CKA_num_batches` × `CKA_batch_size`.
const CKA_BATCHES: usize = 10;
const CKA_BATCH_SIZE: i64 = 128;

/// Image models loaded at one epoch, each with the dataset subset of its spec on the device.
pub(super) struct ImageMeasured {
    /// The distinct data configurations of the members and their datasets on the device.
    tasks: Vec<(ImageConfig, ImageTask)>,
    /// Per member: its task's index and the model.
    models: Vec<(usize, ImageTrainer)>,
    /// `metrics.hessian.seed`: which training samples the Hessian is taken on.
    hessian_seed: u64,
    /// `[metrics.curve]`'s data seed and weight decay.
    curve: CurveData,
}

impl ImageMeasured {
    /// `models` at `epoch` from their checkpoints, on `data`.
    pub(super) fn load(
        zoo: &ZooDir,
        data: &VisionData,
        models: &[PlannedModel],
        epoch: u32,
        device: Device,
    ) -> Result<Self, Error> {
        let mut tasks: Vec<(ImageConfig, ImageTask)> = Vec::new();
        let mut loaded = Vec::with_capacity(models.len());
        for m in models {
            let ProblemConfig::Image(image) = &m.config.problem else {
                return Err(Error::Config(format!("model {} is not an image model", m.id())));
            };
            let t = match tasks.iter().position(|(c, _)| c == image) {
                Some(t) => t,
                None => {
                    tasks.push((image.clone(), ImageTask::new(data, image, device)));
                    tasks.len() - 1
                }
            };
            let mut trainer = load_image_model(zoo, m, epoch, &tasks[t].1, device)?;
            trainer.model.set_attention_kernel(AttentionKernel::Explicit);
            loaded.push((t, trainer));
        }
        let c = &zoo.spec.metrics.curve;
        let curve = CurveData { seed: c.seed, weight_decay: c.weight_decay };
        Ok(Self { tasks, models: loaded, hessian_seed: zoo.spec.metrics.hessian.seed, curve })
    }
}

impl MeasuredPopulation for ImageMeasured {
    fn members(&self) -> usize {
        self.models.len()
    }

    fn loss_graph(&self, group: usize, set: usize) -> Result<LossGraph, Error> {
        let (t, trainer) = &self.models[group];
        let set = if set == 0 { MetricSet::Train } else { MetricSet::Test };
        // PTMZ's 10 batches of 64 (each drawn and augmented as PTMZ draws it) go through the
        // model as one pass of 640: in eval mode the mean loss over 640 samples is the
        // batch-size-weighted mean of the 10 batch losses, so the Hessian is the same (up to float
        // rounding), but a product launches a tenth of the kernels, which narrow models are
        // bound by. With ten passes the validation zoo's Hessians took 6 workers 28 s of GPU
        // time per model (BENCHMARKS.md).
        let batches = metric_batches(&self.tasks[*t].1, set, BATCHES, BATCH_SIZE, self.hessian_seed);
        let (images, labels): (Vec<Tensor>, Vec<Tensor>) = batches.into_iter().unzip();
        let (images, labels) = (Tensor::cat(&images, 0), Tensor::cat(&labels, 0));
        let losses = vec![(1.0, trainer.eval_loss(&images, &labels).unsqueeze(0))];
        let params = trainer.parameters().iter().map(Tensor::shallow_clone).collect();
        Ok(LossGraph { params, stacked: false, losses })
    }

    /// The Hessian's images: 10 × 64, or the whole set when smaller.
    fn loss_samples(&self, group: usize, set: usize) -> Vec<usize> {
        let task = &self.tasks[self.models[group].0].1;
        let available = if set == 0 {
            task.train_len()
        } else {
            usize::try_from(task.test_labels.size()[0]).unwrap_or(0)
        };
        vec![(BATCHES * usize::try_from(BATCH_SIZE).expect("positive")).min(available)]
    }

    /// The logits (PTMZ's representation; `metrics.cka.layer` is the PINN's choice).
    fn representations(&self, _cka: &CkaConfig) -> Result<Vec<Vec<Tensor>>, Error> {
        let batches: Vec<Vec<(Tensor, Tensor)>> = self
            .tasks
            .iter()
            .map(|(_, task)| metric_batches(task, MetricSet::Test, CKA_BATCHES, CKA_BATCH_SIZE, 0))
            .collect();
        Ok(self
            .models
            .iter()
            .map(|(t, trainer)| {
                batches[*t]
                    .iter()
                    .map(|(x, _)| trainer.eval_logits(x).to_kind(Kind::Double).to_device(Device::Cpu))
                    .collect()
            })
            .collect())
    }

    /// The pairs' models must share their architecture, width and data (the seeds of one
    /// cell do; the metrics measure image curves one cell at a time): their endpoints stack.
    fn curves(&self, pairs: &[(usize, usize)]) -> Result<Box<dyn CurveProblem + '_>, Error> {
        let Some(&(first, _)) = pairs.first() else {
            return Err(Error::Config("no pairs to join by curves".into()));
        };
        let (task, base) = &self.models[first];
        for &m in pairs.iter().flat_map(|(i, j)| [i, j]) {
            let (t, trainer) = &self.models[m];
            if t != task || trainer.model.config() != base.model.config() {
                return Err(Error::Config(format!(
                    "curves join models of one architecture, width and dataset: {} and {} differ",
                    base.model.config(),
                    trainer.model.config()
                )));
            }
        }
        let stack = |end: fn(&(usize, usize)) -> usize| -> Vec<Tensor> {
            (0..base.parameters().len())
                .map(|k| {
                    let rows: Vec<Tensor> =
                        pairs.iter().map(|p| self.models[end(p)].1.parameters()[k].detach()).collect();
                    Tensor::stack(&rows, 0)
                })
                .collect()
        };
        let (theta0, theta2) = (stack(|p| p.0), stack(|p| p.1));
        let task = &self.tasks[*task].1;
        Ok(Box::new(ImageCurves::new(pairs.to_vec(), theta0, theta2, &base.model, task, self.curve)))
    }
}
