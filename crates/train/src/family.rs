//! The zoo families and their registry. A family says how its planned models group into
//! training units (populations), what a unit costs a GPU, and how a worker trains a unit through
//! the one loop ([`crate::run_population`]); the zoo trainer ([`crate::train_zoo`]) and the pool
//! work on this trait and never ask which family they run.

use std::path::Path;
use std::str::FromStr;

use pz_data::text::{corpus_dir, Corpus, TextCorpus};
use pz_data::vision::{default_data_dir, load, DatasetName, VisionData};
use pz_exec::pack::{memory_share, Cost, GPU_FILLING_MULTIPLY_ADDS, WORKERS_PER_GPU};
use pz_spec::{Plan, PlannedModel, ProblemConfig, ResolvedModel};
use pz_store::ZooDir;
use tch::Device;

use crate::classify::ImageFamily;
use crate::lm::LmFamily;
use crate::measured::MeasuredPopulation;
use crate::modarith::ModArithFamily;
use crate::pinn::PinnFamily;
use crate::weights::{FinetuneRequest, Scores, WeightScores, WeightsRequest};
use crate::{Error, Outcome, Run};

/// What a worker keeps between the units it trains (an image worker: its dataset on its
/// device), made and read by the family alone.
pub type WorkerCache = Option<Box<dyn std::any::Any>>;

/// A zoo family as the zoo trainer sees it.
pub trait ZooFamily: Sync {
    /// Every planned model can be built on the family's data, checked before anything is
    /// written.
    ///
    /// # Errors
    /// The first model that cannot, with the keys to change.
    fn check_models(&self, _plan: &Plan) -> Result<(), Error> {
        Ok(())
    }

    /// How the family's models group into training units and share a device.
    fn packing(&self) -> Packing;

    /// For [`Packing::Populations`]: the resolved config with what a member may carry alone
    /// (seed, learning rate, …) blanked; models with equal keys stack into one population.
    ///
    /// The default blanks the seed only (the model, problem and recipe as JSON): a family that
    /// does not say what its members may differ in still stacks just the seeds of one cell,
    /// never models of different shapes.
    fn population_key(&self, config: &ResolvedModel) -> String {
        default_population_key(config)
    }

    /// For [`Packing::OneModelPerUnit`] on GPUs: bytes a model's training holds at its peak
    /// beyond its weights (a GPT-2's logits), when they can fill much of a GPU; 0 where they
    /// cannot. The pack scheduler gives a model at least this share of a GPU
    /// ([`pz_exec::pack::memory_share`]).
    fn step_memory_bytes(&self, _config: &ResolvedModel) -> f64 {
        0.0
    }

    /// For [`Packing::OneModelPerUnit`]: multiply-adds of one training step of a model, the
    /// cost the pack scheduler shares GPUs by.
    fn step_multiply_adds(&self, _config: &ResolvedModel) -> f64 {
        0.0
    }

    /// Optimizer steps per epoch of a model (default: `train.steps_per_epoch`).
    fn steps_per_epoch(&self, config: &ResolvedModel) -> u64 {
        u64::from(config.train.steps_per_epoch)
    }

    /// Training units of `todo` (each trained by one worker) with their cost on `devices`;
    /// `max_population` is `run.max_population`.
    fn units(
        &self,
        todo: Vec<PlannedModel>,
        devices: &[Device],
        max_population: usize,
    ) -> Vec<(Vec<PlannedModel>, Cost)> {
        match self.packing() {
            Packing::Populations => {
                crate::grouping::group_by_key(&todo, max_population, |m| self.population_key(&m.config))
                    .into_iter()
                    .map(|p| (p, Cost::FIRST_COME))
                    .collect()
            }
            Packing::OneModelPerUnit => one_model_units(self, todo, devices),
        }
    }

    /// The family's name in messages ("PINN", "image").
    fn name(&self) -> &'static str;

    /// Whether `phasezoo metrics` measures mode connectivity on this family's zoos.
    fn measures_mode_connectivity(&self) -> bool {
        true
    }

    /// Models loaded at once for measuring (a unit of the metrics' work), at most: the
    /// stacking families' `run.max_population` (0: no limit). A cell's seeds load together for
    /// CKA and curves whatever this says.
    fn models_per_measuring_unit(&self, max_population: usize) -> usize {
        match self.packing() {
            Packing::Populations => max_population,
            Packing::OneModelPerUnit => 1,
        }
    }

    /// `models` from their checkpoints at `epoch`, for the landscape metrics.
    ///
    /// # Errors
    /// A missing or unusable checkpoint (naming the model and the file).
    fn load_measured(
        &self,
        zoo: &ZooDir,
        models: &[PlannedModel],
        epoch: u32,
        device: Device,
    ) -> Result<Box<dyn MeasuredPopulation>, Error>;

    /// Scores of `model`'s network at each of `request`'s state dicts (averages,
    /// interpolations, aligned copies: SPEC §5), BatchNorm conditioned as it asks, and of
    /// them as one ensemble if asked. For `pz-apply`; families that cannot score refuse.
    ///
    /// # Errors
    /// Weights that do not fit the model, or a family without it ([`Error::Config`]).
    fn evaluate_weights(
        &self,
        _model: &PlannedModel,
        _request: &WeightsRequest<'_>,
        _device: Device,
    ) -> Result<WeightScores, Error> {
        Err(Error::Config(format!("evaluating weights is not supported for {} zoos", self.name())))
    }

    /// The model at `request.weights` transferred to the target data (`[finetune]`: its head
    /// re-initialised, then the head or everything trained), scored on the target's training
    /// and test sets. For `pz-apply`; families that cannot transfer refuse.
    ///
    /// # Errors
    /// Weights that do not fit the model, target data it cannot take, or a family without it.
    fn finetune(
        &self,
        _model: &PlannedModel,
        _request: &FinetuneRequest<'_>,
        _device: Device,
    ) -> Result<Scores, Error> {
        Err(Error::Config(format!("fine-tuning is not supported for {} zoos", self.name())))
    }

    /// Worker threads per device when the user names none: [`WORKERS_PER_GPU`] for one-model
    /// units on GPUs (each on its own stream), else one.
    fn workers_per_device(&self, devices: &[Device]) -> usize {
        if self.packing() == Packing::OneModelPerUnit && devices.iter().all(|d| d.is_cuda()) {
            WORKERS_PER_GPU
        } else {
            1
        }
    }

    /// Train one unit on a worker (its models, in plan order), through the one loop.
    ///
    /// # Errors
    /// As [`crate::run_population`].
    fn train_unit(&self, cache: &mut WorkerCache, unit: &[PlannedModel], run: &Run)
        -> Result<Outcome, Error>;
}

/// The data a zoo's family trains and is measured on.
#[derive(Debug)]
pub enum ZooData {
    /// None: a PINN's points come from its seeds.
    None,
    /// An image dataset, from its cache.
    Images(VisionData),
    /// A text corpus's token files, memory-mapped (boxed: its meta is large).
    Text(Box<Corpus>),
}

/// How a family's models group into training units and share a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packing {
    /// Models whose [`ZooFamily::population_key`]s agree stack into populations of at most
    /// `run.max_population`, trained first come by one worker per device and measured as many
    /// at once (PINN, modular arithmetic).
    Populations,
    /// One model per unit (shapes differ, so models do not stack), packed onto GPUs by
    /// [`ZooFamily::step_multiply_adds`], several workers per GPU, measured one model at a time
    /// (image classifiers, language models).
    OneModelPerUnit,
}

/// One model per training unit, each costed on CUDA devices by the family's
/// `step_multiply_adds` × its total steps (the pack scheduler shares GPUs by it), first-come on
/// the CPU, where workers share cores, not a GPU.
fn one_model_units<F: ZooFamily + ?Sized>(
    family: &F,
    todo: Vec<PlannedModel>,
    devices: &[Device],
) -> Vec<(Vec<PlannedModel>, Cost)> {
    let on_gpu = devices.iter().all(|d| d.is_cuda());
    todo.into_iter()
        .map(|m| {
            let cost = if on_gpu {
                #[allow(clippy::cast_precision_loss)]
                let steps = (family.steps_per_epoch(&m.config) * u64::from(m.config.train.epochs)) as f64;
                let cost =
                    Cost::on_gpu(family.step_multiply_adds(&m.config), steps, GPU_FILLING_MULTIPLY_ADDS);
                Cost { share: cost.share.max(memory_share(family.step_memory_bytes(&m.config))), ..cost }
            } else {
                Cost::FIRST_COME
            };
            (vec![m], cost)
        })
        .collect()
}

/// [`ZooFamily::population_key`]'s default: the model, problem and recipe as JSON, so that only
/// models differing in their seed alone stack. Families that stack more pass a copy with
/// what their members may carry alone blanked.
#[must_use]
pub(crate) fn default_population_key(config: &ResolvedModel) -> String {
    serde_json::json!({ "model": config.model, "problem": config.problem, "train": config.train }).to_string()
}

/// The data of a zoo whose spec has `problem`, read before anything is written: the image
/// dataset from its cache in `data_dir` (default: `$PHASEZOO_DATA`, else ~/.cache/phasezoo/data),
/// or the text corpus built there; nothing for PINNs.
///
/// # Errors
/// [`Error::Dataset`] or [`Error::Corpus`]: an unknown name, or data not fetched yet (with the
/// command that fetches it).
pub fn zoo_data(problem: &ProblemConfig, data_dir: Option<&Path>) -> Result<ZooData, Error> {
    let dir = data_dir.map_or_else(default_data_dir, Path::to_path_buf);
    // The hint inside an error names the default folder's command; another folder needs its own.
    let elsewhere = |name: &str| {
        data_dir.map(|d| {
            format!(
                " from --data-dir {} (fetch it there with `phasezoo data fetch {name} --data-dir {}`)",
                d.display(),
                d.display()
            )
        })
    };
    match problem {
        ProblemConfig::Convection(_) | ProblemConfig::ModArith(_) => Ok(ZooData::None),
        ProblemConfig::Text(text) => {
            let what = |e| Error::Corpus {
                what: format!(
                    "cannot load corpus {}{}",
                    text.corpus,
                    elsewhere(&text.corpus).unwrap_or_default()
                ),
                source: Box::new(e),
            };
            let name = TextCorpus::from_str(&text.corpus).map_err(what)?;
            let corpus = Corpus::open(&corpus_dir(&dir, name)).map_err(what)?;
            tracing::info!(corpus = %name, train = corpus.train.len(), val = corpus.val.len(), "corpus");
            Ok(ZooData::Text(Box::new(corpus)))
        }
        ProblemConfig::Image(image) => {
            let unknown = |source| Error::Dataset {
                what: format!("dataset {}", image.dataset),
                source: Box::new(source),
            };
            let name = DatasetName::from_str(&image.dataset).map_err(unknown)?;
            let data = load(name, &dir).map_err(|source| Error::Dataset {
                what: format!("cannot load dataset {name}{}", elsewhere(name.as_str()).unwrap_or_default()),
                source: Box::new(source),
            })?;
            tracing::info!(dataset = %name, train = data.train.n, test = data.test.n, "dataset");
            Ok(ZooData::Images(data))
        }
    }
}

/// The `[finetune]` target of a zoo whose spec has `problem`: the data set `name` read as that
/// zoo's kind of data (an image dataset whole, without the zoo's subsets and augmentation, for
/// image zoos; a corpus for language-model zoos), as [`zoo_data`] loads it.
///
/// # Errors
/// A family that does not transfer, or as [`zoo_data`].
pub fn finetune_data(problem: &ProblemConfig, name: &str, data_dir: Option<&Path>) -> Result<ZooData, Error> {
    let target = match problem {
        ProblemConfig::Image(_) => ProblemConfig::Image(pz_spec::ImageConfig {
            dataset: name.to_string(),
            train_subset: 0,
            test_subset: 0,
            augment: false,
        }),
        ProblemConfig::Text(text) => {
            ProblemConfig::Text(pz_spec::TextConfig { corpus: name.to_string(), ..text.clone() })
        }
        ProblemConfig::Convection(_) | ProblemConfig::ModArith(_) => {
            return Err(Error::Config(
                "fine-tuning needs an image or a language-model zoo (a [finetune] table names its second data set)"
                    .into(),
            ))
        }
    };
    zoo_data(&target, data_dir)
}

/// The registry: the family of a zoo whose spec has `problem`, one line per family, on its
/// data ([`zoo_data`]).
///
/// # Errors
/// A zoo without the data its family needs.
pub fn zoo_family<'a>(problem: &ProblemConfig, data: &'a ZooData) -> Result<Box<dyn ZooFamily + 'a>, Error> {
    let needs = |what: &str| Error::Config(format!("{what} (phasezoo data fetch)"));
    Ok(match (problem, data) {
        (ProblemConfig::Convection(_), _) => Box::new(PinnFamily),
        (ProblemConfig::ModArith(_), _) => Box::new(ModArithFamily),
        (ProblemConfig::Image(_), ZooData::Images(images)) => Box::new(ImageFamily::new(images)),
        (ProblemConfig::Text(_), ZooData::Text(corpus)) => Box::new(LmFamily::new(corpus)),
        (ProblemConfig::Image(_), _) => return Err(needs("an image zoo needs its dataset")),
        (ProblemConfig::Text(_), _) => return Err(needs("a language-model zoo needs its corpus")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stacking family that says nothing about what its members may differ in.
    struct Unspecified;

    impl ZooFamily for Unspecified {
        fn packing(&self) -> Packing {
            Packing::Populations
        }
        fn name(&self) -> &'static str {
            "unspecified"
        }
        fn load_measured(
            &self,
            _: &ZooDir,
            _: &[PlannedModel],
            _: u32,
            _: Device,
        ) -> Result<Box<dyn MeasuredPopulation>, Error> {
            unreachable!("not measured here")
        }
        fn train_unit(&self, _: &mut WorkerCache, _: &[PlannedModel], _: &Run) -> Result<Outcome, Error> {
            unreachable!("not trained here")
        }
    }

    #[test]
    fn a_family_without_its_own_key_stacks_only_the_seeds_of_a_cell() {
        // The embedded zoo: 6 beta x 3 learning rates x 2 seeds; its own (PINN) key stacks all 36.
        let spec = pz_spec::ZooSpec::embedded_default().unwrap();
        let plan = Plan::new(&spec).unwrap();
        let units = Unspecified.units(plan.models.clone(), &[Device::Cpu], 0);
        assert_eq!(units.len(), 18, "one population per cell");
        for (unit, _) in &units {
            assert_eq!(unit.len(), 2);
            assert_eq!(unit[0].cell, unit[1].cell);
            assert_ne!(unit[0].config.seed, unit[1].config.seed);
        }
        assert_eq!(PinnFamily.units(plan.models, &[Device::Cpu], 0).len(), 1);
    }
}
