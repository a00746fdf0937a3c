//! Training throughput of an image-zoo grid, trained as `train` trains it: the same units, cost
//! model and worker pool (packed onto the GPU by expected cost, each worker on its own CUDA
//! stream), the same population and epoch loop ([`crate::run_epochs`]), only without
//! evaluation and files (the bench times steps; `train` adds a test pass and checkpoint writes
//! per epoch). `phasezoo bench resnet` draws on it.

use std::sync::atomic::AtomicBool;
use std::sync::Mutex;
use std::time::Instant;

use pz_data::vision::{DatasetName, ImageSet, VisionData};
use pz_exec::pack::Cost;
use pz_exec::{Flow, Pool};
use pz_spec::{Layout, PlannedModel, ProblemConfig};
use tch::Device;

use super::population::ImageTraining;
use super::{step_multiply_adds, ImageTask, ImageTrainer};
use crate::epochs::{run_epochs, AfterEpoch, EpochsEnd};
use crate::Error;

/// How a grid is trained.
#[derive(Debug, Clone, Copy)]
pub struct BenchSettings {
    /// The device.
    pub device: Device,
    /// Cells trained at once (worker threads).
    pub jobs: usize,
    /// Multiply-adds of a step that fills the GPU alone (the packing's cost model).
    pub fill: f64,
    /// Steps after the first replay a captured CUDA graph (`run.graph`).
    pub cuda_graphs: bool,
    /// `run.layout`.
    pub layout: Layout,
}

/// One cell's timing.
#[derive(Debug, Clone, PartialEq)]
pub struct CellTiming {
    /// The model.
    pub model: PlannedModel,
    /// Seconds from building the model to the end of its last epoch.
    pub seconds: f64,
    /// Seconds of the last epoch's steps: the steady state, after every first-step cost.
    pub last_epoch_seconds: f64,
}

/// Train every model of `models` on `data` for its `train.epochs`, as `settings` says; the
/// timings in the order the cells finished.
///
/// # Errors
/// A model that cannot be built, libtorch errors, a panicking worker.
pub fn bench_image_grid(
    models: &[PlannedModel],
    data: &VisionData,
    settings: &BenchSettings,
) -> Result<Vec<CellTiming>, Error> {
    let Some(ProblemConfig::Image(image)) = models.first().map(|m| &m.config.problem) else {
        return Err(Error::Config("the bench trains image models".into()));
    };
    let (c, k, side) = (data.train.channels as i64, data.classes as i64, data.train.height as i64);
    let cells = models
        .iter()
        .map(|m| {
            let cost = if settings.device.is_cuda() {
                let steps = data.train.n.div_ceil(m.config.train.batch_size as usize) as u64
                    * u64::from(m.config.train.epochs);
                #[allow(clippy::cast_precision_loss)]
                Cost::on_gpu(step_multiply_adds(&m.config, c, k, side), steps as f64, settings.fill)
            } else {
                Cost::FIRST_COME
            };
            (m, cost)
        })
        .collect();
    let stop = AtomicBool::new(false);
    let timings = Mutex::new(Vec::new());
    let on_start = |_, device| {
        if let Device::Cuda(index) = device {
            pz_device::use_own_cuda_stream(index); // as `train` workers do
        }
    };
    Pool::new(&[settings.device], settings.jobs.max(1))
        .run(
            cells,
            on_start,
            |device| ImageTask::new(data, image, device),
            |task, model, device| {
                let started = Instant::now();
                let trainer = ImageTrainer::new(&model.config, task, device)?
                    .with_cuda_graphs(settings.cuda_graphs)
                    .with_layout(settings.layout);
                let mut training = ImageTraining { trainer, task, batch_size: model.config.train.batch_size };
                let epochs = 1..=model.config.train.epochs;
                let end = run_epochs(&mut training, epochs, &stop, &mut |_| {}, &mut |_, _, _| {
                    Ok(AfterEpoch::Continue)
                })?;
                let EpochsEnd::Completed(times) = end else { unreachable!("nothing stops the bench") };
                timings.lock().expect("not poisoned").push(CellTiming {
                    model: (*model).clone(),
                    seconds: started.elapsed().as_secs_f64(),
                    last_epoch_seconds: times.last_epoch_step_secs,
                });
                Ok::<_, Error>(Flow::Continue)
            },
        )
        .map_err(|e| {
            e.into_work_error(|message| Error::Config(format!("a bench thread panicked: {message}")))
        })?;
    Ok(timings.into_inner().expect("not poisoned"))
}

/// `n` random 1×28×28 images with labels 0..9 (and a 1,000-image test set, unused):
/// throughput does not depend on pixel values.
#[must_use]
pub fn random_fashion(n: usize) -> VisionData {
    let set = |n: usize| {
        let mut x: u32 = 0x9E37_79B9;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        #[allow(clippy::cast_possible_truncation)]
        let images = (0..n * 784).map(|_| next() as u8).collect();
        let labels = (0..n).map(|_| i64::from(next() % 10)).collect();
        ImageSet { images, labels, n, channels: 1, height: 28, width: 28 }
    };
    VisionData { name: DatasetName::FashionMnist, classes: 10, train: set(n), test: set(1000) }
}
