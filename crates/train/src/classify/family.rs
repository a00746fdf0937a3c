//! The image-classifier family behind [`ZooFamily`]: one model per unit (widths differ, so
//! models do not stack, [`Packing::OneModelPerUnit`]), packed onto GPUs by their expected share
//! of one; a worker keeps its dataset on its device between models.

use pz_data::vision::VisionData;
use pz_spec::{ImageConfig, Plan, PlannedModel, ProblemConfig, ResolvedModel};
use tch::Device;

use pz_store::ZooDir;

use super::measured::ImageMeasured;
use super::{model_config, step_multiply_adds, train_image_model, ImageTask};
use crate::family::{Packing, WorkerCache, ZooFamily};
use crate::measured::MeasuredPopulation;
use crate::weights::{FinetuneRequest, Scores, WeightScores, WeightsRequest};
use crate::{Error, Outcome, Run};

/// Image classifiers on one dataset.
pub struct ImageFamily<'a> {
    data: &'a VisionData,
}

impl<'a> ImageFamily<'a> {
    /// The family on `data`.
    #[must_use]
    pub fn new(data: &'a VisionData) -> Self {
        Self { data }
    }

    /// (channels, classes, image side) of the dataset.
    #[allow(clippy::cast_possible_wrap)]
    fn shape(&self) -> (i64, i64, i64) {
        let d = self.data;
        (d.train.channels as i64, d.classes as i64, d.train.height as i64)
    }
}

impl ZooFamily for ImageFamily<'_> {
    fn name(&self) -> &'static str {
        "image"
    }

    fn check_models(&self, plan: &Plan) -> Result<(), Error> {
        let (c, k, side) = self.shape();
        for m in &plan.models {
            let problems = model_config(&m.config, c, k, side).problems();
            if !problems.is_empty() {
                return Err(Error::Config(format!(
                    "model {} ({} = {}, {} = {}) cannot be built on {c}×{side}×{side} images: {}\n  hint: check model.width, model.patch_size and model.head_dim (docs/MODELS.md)",
                    m.id(),
                    m.config.load.name,
                    m.config.load.value,
                    m.config.temperature.name,
                    m.config.temperature.value,
                    problems.join("; ")
                )));
            }
        }
        Ok(())
    }

    /// A pass over the (sub)set of training images at the model's batch size.
    fn steps_per_epoch(&self, config: &ResolvedModel) -> u64 {
        let n = match &config.problem {
            ProblemConfig::Image(image) if image.train_subset > 0 => {
                image.train_subset.min(self.data.train.n)
            }
            _ => self.data.train.n,
        };
        (n as u64).div_ceil(u64::from(config.train.batch_size))
    }

    fn packing(&self) -> Packing {
        Packing::OneModelPerUnit
    }

    fn step_multiply_adds(&self, config: &ResolvedModel) -> f64 {
        let (c, k, side) = self.shape();
        step_multiply_adds(config, c, k, side)
    }

    fn load_measured(
        &self,
        zoo: &ZooDir,
        models: &[PlannedModel],
        epoch: u32,
        device: Device,
    ) -> Result<Box<dyn MeasuredPopulation>, Error> {
        Ok(Box::new(ImageMeasured::load(zoo, self.data, models, epoch, device)?))
    }

    fn evaluate_weights(
        &self,
        model: &PlannedModel,
        request: &WeightsRequest<'_>,
        device: Device,
    ) -> Result<WeightScores, Error> {
        super::apply::evaluate_weights(self.data, model, request, device)
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
        cache: &mut WorkerCache,
        unit: &[PlannedModel],
        run: &Run,
    ) -> Result<Outcome, Error> {
        let model = &unit[0];
        let ProblemConfig::Image(image) = &model.config.problem else {
            return Err(Error::Config(format!("model {} is not an image model", model.id())));
        };
        let cached = cache.as_ref().and_then(|c| c.downcast_ref::<(ImageConfig, ImageTask)>());
        if cached.is_none_or(|(c, _)| c != image) {
            drop(cache.take()); // free the old copy first
            *cache = Some(Box::new((image.clone(), ImageTask::new(self.data, image, run.device))));
        }
        let (_, task) =
            cache.as_ref().and_then(|c| c.downcast_ref::<(ImageConfig, ImageTask)>()).expect("set above");
        train_image_model(run, model, task)
    }
}
