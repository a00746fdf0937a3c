//! Training one image model: a population of one through the one loop
//! ([`crate::run_population`]).

use pz_spec::PlannedModel;

use super::population::ImageTraining;
use super::{ImageTask, ImageTrainer};
use crate::{run_population, Error, Outcome, Run};

/// Train one image model to its last epoch, resuming from its newest intact checkpoint that its
/// results reach (one that fails a check is skipped with a warning, as for PINNs). A model
/// whose loss turns non-finite is marked failed with the reason and training stops there.
///
/// # Errors
/// I/O errors, a model that cannot be built, libtorch errors.
pub fn train_image_model(run: &Run, plan: &PlannedModel, task: &ImageTask) -> Result<Outcome, Error> {
    let trainer = ImageTrainer::new(&plan.config, task, run.device)?
        .with_cuda_graphs(run.cuda_graphs)
        .with_layout(run.layout);
    let mut training = ImageTraining { trainer, task, batch_size: plan.config.train.batch_size };
    run_population(run, std::slice::from_ref(plan), &mut training)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use pz_data::vision::VisionData;
    use pz_spec::{Plan, ProblemConfig, ZooSpec};
    use pz_store::{Checkpoint, ZooDir};
    use tch::Device;

    use super::*;
    use crate::classify::population::checkpoint_layout;
    use crate::NoReporter;

    /// 48 random 1×12×12 images of 10 classes: a real ResNet-18 at width 2, tiny.
    fn data() -> VisionData {
        crate::classify::tests::random_data(2024, 48, 16)
    }

    #[test]
    fn issue_17_image_checkpoints_fit_their_layout_and_a_misfit_one_is_skipped() {
        let overrides: Vec<String> = [
            "grid.load.values=[2]",
            "grid.temperature.values=[32]",
            "train.epochs=2",
            "problem.train_subset=0",
            "problem.test_subset=0",
            "checkpoint.every=1",
        ]
        .map(String::from)
        .to_vec();
        let spec =
            ZooSpec::parse(include_str!("../../../../examples/fashion-resnet18-small.toml"), "t", &overrides)
                .unwrap();
        let plan = Plan::new(&spec).unwrap();
        let m = &plan.models[0];
        let ProblemConfig::Image(image) = &m.config.problem else { panic!("an image zoo") };
        let task = ImageTask::new(&data(), image, Device::Cpu);
        let tmp = tempfile::tempdir().unwrap();
        let zoo = ZooDir::create_or_open(tmp.path(), &spec).unwrap();
        let stop = AtomicBool::new(false);
        let run = Run {
            zoo: &zoo,
            policy: &spec.checkpoint,
            device: Device::Cpu,
            cuda_graphs: false,
            fused_kernels: false,
            layout: pz_spec::Layout::Auto,
            reporter: &NoReporter,
            stop: &stop,
        };
        train_image_model(&run, m, &task).unwrap();
        let dir = zoo.model(m.id());
        // Every checkpoint, with momentum buffers (epochs 1, 2) or without (epoch 0), fits the
        // layout of a freshly built model.
        let fresh = ImageTrainer::new(&m.config, &task, Device::Cpu).unwrap();
        let expected = checkpoint_layout(&fresh);
        let list = Checkpoint::list(&dir.path).unwrap();
        assert_eq!(list.len(), 3);
        for c in &list {
            c.load_as(&expected).unwrap();
        }
        assert!(list[2].load().unwrap().optimizer.len() > 1, "momentum buffers were saved");
        let last = std::fs::read(list[2].model_file()).unwrap();

        // The last checkpoint rewritten with a manifest that matches but a tensor of another
        // shape: training again falls back to epoch 1 and rewrites it as it was.
        let mut loaded = list[2].load().unwrap();
        loaded.model[0].shape.push(1);
        Checkpoint::write(&dir.path, &loaded.model, &loaded.optimizer, &loaded.state).unwrap();
        assert!(list[2].load_as(&expected).unwrap_err().to_string().contains("has shape"));
        train_image_model(&run, m, &task).unwrap();
        assert!(std::fs::read(list[2].model_file()).unwrap() == last, "epoch 2 retrained identically");
    }
}
