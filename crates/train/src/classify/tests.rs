//! The image loop against runs that need no trust: the same model interrupted and resumed, and
//! a batch split into micro-batches.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use pz_data::vision::{DatasetName, ImageSet, VisionData};
use pz_spec::{Plan, ProblemConfig, ZooSpec};
use pz_store::ZooDir;
use tch::Device;

use super::{train_image_model, ImageTask};
use crate::{NoReporter, Outcome, Reporter};

const FASHION: &str = include_str!("../../../../examples/fashion-resnet18-small.toml");

/// 96 random 1×12×12 images of 10 classes (tiny but real ResNet-18 shapes at width 2).
fn data() -> VisionData {
    random_data(12345, 96, 32)
}

/// `train` and `test` random 1×12×12 images of 10 classes drawn from xorshift state `seed`.
pub(super) fn random_data(seed: u32, train: usize, test: usize) -> VisionData {
    let mut x: u32 = seed;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    let mut set = |n: usize| ImageSet {
        #[allow(clippy::cast_possible_truncation)]
        images: (0..n * 144).map(|_| next() as u8).collect(),
        labels: (0..n).map(|_| i64::from(next() % 10)).collect(),
        n,
        channels: 1,
        height: 12,
        width: 12,
    };
    VisionData { name: DatasetName::FashionMnist, classes: 10, train: set(train), test: set(test) }
}

fn spec(extra: &[&str]) -> ZooSpec {
    let mut overrides: Vec<String> = [
        "grid.load.values=[2]",
        "grid.temperature.values=[32]",
        "train.epochs=3",
        "problem.train_subset=0",
        "problem.test_subset=0",
        "problem.augment=true",
        "checkpoint.every=1",
    ]
    .iter()
    .map(|s| (*s).to_string())
    .collect();
    overrides.extend(extra.iter().map(|s| (*s).to_string()));
    ZooSpec::parse(FASHION, "t", &overrides).unwrap()
}

/// Raises `stop` after a number of optimizer steps, as Ctrl-C would.
struct StopAfter<'a> {
    steps: AtomicU64,
    limit: u64,
    stop: &'a AtomicBool,
}

impl Reporter for StopAfter<'_> {
    fn on_model_steps(&self, n: u64) {
        if self.steps.fetch_add(n, Ordering::SeqCst) + n >= self.limit {
            self.stop.store(true, Ordering::SeqCst);
        }
    }
}

fn train(zoo: &ZooDir, spec: &ZooSpec, reporter: &dyn Reporter, stop: &AtomicBool) -> Outcome {
    let plan = Plan::new(spec).unwrap();
    let m = &plan.models[0];
    let ProblemConfig::Image(image) = &m.config.problem else { panic!("image") };
    let task = ImageTask::new(&data(), image, Device::Cpu);
    let run = crate::Run {
        zoo,
        policy: &spec.checkpoint,
        device: Device::Cpu,
        cuda_graphs: true,
        fused_kernels: true,
        layout: pz_spec::Layout::Auto,
        reporter,
        stop,
    };
    train_image_model(&run, m, &task).unwrap()
}

fn files(zoo: &ZooDir, spec: &ZooSpec) -> (String, Vec<u8>) {
    let plan = Plan::new(spec).unwrap();
    let dir = zoo.model(plan.models[0].id());
    let results = std::fs::read_to_string(dir.results_path()).unwrap();
    let last = std::fs::read(dir.path.join("checkpoint_000003/model.safetensors")).unwrap();
    (results, last)
}

/// Trains `whole` and `split` (the same model, the second with micro-batches) into their own
/// zoos and returns each one's last result line.
fn last_lines(whole: &ZooSpec, split: &ZooSpec) -> (serde_json::Value, serde_json::Value) {
    lines_at(whole, split, whole.train.epochs as usize)
}

/// Trains the first model of each spec into its own temporary zoo and returns each one's result
/// line of `epoch`.
fn lines_at(whole: &ZooSpec, split: &ZooSpec, epoch: usize) -> (serde_json::Value, serde_json::Value) {
    let tmp = tempfile::tempdir().unwrap();
    let stop = AtomicBool::new(false);
    let last = |name: &str, spec: &ZooSpec| -> serde_json::Value {
        let zoo = ZooDir::create_or_open(&tmp.path().join(name), spec).unwrap();
        train(&zoo, spec, &NoReporter, &stop);
        let plan = Plan::new(spec).unwrap();
        let text = std::fs::read_to_string(zoo.model(plan.models[0].id()).results_path()).unwrap();
        serde_json::from_str(text.lines().nth(epoch).unwrap()).unwrap()
    };
    (last("whole", whole), last("split", split))
}

#[test]
fn an_interrupted_run_resumes_to_the_same_bytes_as_an_uninterrupted_one() {
    let spec = spec(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let straight = ZooDir::create_or_open(&tmp.path().join("a"), &spec).unwrap();
    assert_eq!(train(&straight, &spec, &NoReporter, &AtomicBool::new(false)), Outcome::Finished);

    let resumed = ZooDir::create_or_open(&tmp.path().join("b"), &spec).unwrap();
    let stop = AtomicBool::new(false);
    // 3 steps an epoch: stop in the middle of epoch 2, after epoch 1's checkpoint.
    let interrupt = StopAfter { steps: AtomicU64::new(0), limit: 5, stop: &stop };
    assert_eq!(train(&resumed, &spec, &interrupt, &stop), Outcome::Interrupted);
    assert_eq!(train(&resumed, &spec, &NoReporter, &AtomicBool::new(false)), Outcome::Finished);

    let (a, b) = (files(&straight, &spec), files(&resumed, &spec));
    assert_eq!(a.0.lines().count(), 4, "epochs 0..=3");
    assert_eq!(a.0, b.0, "result.json");
    assert!(a.1 == b.1, "the final checkpoints differ");
}

#[test]
fn micro_batches_take_one_optimizer_step_per_batch() {
    // BatchNorm normalizes each micro-batch over its own images, so the numbers differ a little;
    // the optimizer steps, the schedule and the loss scale must not.
    let whole = spec(&["train.epochs=1"]);
    let split = spec(&["train.epochs=1", "train.micro_batch=8"]);
    let (a, b) = last_lines(&whole, &split);
    assert_eq!(a["step"], 3, "96 images / 32 per step");
    assert_eq!(a["step"], b["step"], "micro-batches do not add optimizer steps");
    assert_eq!(a["lr"], b["lr"]);
    let (la, lb) = (a["train_loss"].as_f64().unwrap(), b["train_loss"].as_f64().unwrap());
    assert!(la.is_finite() && lb.is_finite() && (la - lb).abs() < 0.5 * la, "{la} vs {lb}");
}

#[test]
fn without_batch_norm_micro_batches_give_the_whole_batch_numbers() {
    // A ViT has no BatchNorm: splitting a batch must change nothing but rounding.
    let vit = ["model={architecture=\"vit\", width=16}", "grid.load.values=[16]", "train.epochs=1"];
    let whole = spec(&vit);
    let split = spec(&[&vit[..], &["train.micro_batch=8"]].concat());
    let (a, b) = last_lines(&whole, &split);
    for key in ["train_loss", "test_loss"] {
        let (x, y) = (a[key].as_f64().unwrap(), b[key].as_f64().unwrap());
        assert!((x - y).abs() <= 1e-4 * x.abs(), "{key}: whole {x} vs micro-batches {y}");
    }
}

#[test]
fn ptmz_compat_divides_the_reported_train_loss_by_the_micro_batches() {
    // One step per epoch (32 images, batch 32, micro-batches of 8: k = 4), 4 epochs. The first
    // step's learning rate is OneCycle's initial one in both schedules (4 and 16 steps), so
    // epoch 1 trains the same numbers in both runs: only its reported train loss differs, by k,
    // as PTMZ's accumulation path reported it.
    let one_step = ["train.epochs=4", "train.micro_batch=8", "problem.train_subset=32"];
    let correct = spec(&one_step);
    let compat = spec(&[&one_step[..], &["train.ptmz_compat=true"]].concat());
    let (a, b) = lines_at(&correct, &compat, 1);
    assert_eq!(a["epoch"], 1);
    let f = |v: &serde_json::Value, key: &str| v[key].as_f64().unwrap();
    assert!(
        (f(&a, "train_loss") - 4.0 * f(&b, "train_loss")).abs() <= 1e-12 * f(&a, "train_loss"),
        "{a} vs {b}"
    );
    assert_eq!(f(&a, "train_acc"), f(&b, "train_acc"));
    assert_eq!(f(&a, "test_loss"), f(&b, "test_loss"), "the same step");
}

#[test]
fn ptmz_compat_builds_one_cycle_for_micro_batches() {
    // 96 images, batch 32 in micro-batches of 8 (k = 4), 2 epochs: 6 optimizer steps. PTMZ built
    // OneCycle for its 24 micro-batches and stepped it 6 times, so it ends before the peak;
    // phasezoo's default builds it for the 6 steps and anneals.
    let split = ["train.epochs=2", "train.micro_batch=8"];
    let correct = spec(&split);
    let compat = spec(&[&split[..], &["train.ptmz_compat=true"]].concat());
    let (a, b) = last_lines(&correct, &compat);
    assert_eq!((a["step"].as_u64(), b["step"].as_u64()), (Some(6), Some(6)));
    let last_lr = |total| crate::vision::OneCycle::new(correct.train.lr, total).lr_momentum(5).0;
    assert_eq!(a["lr"].as_f64().unwrap(), last_lr(6));
    assert_eq!(b["lr"].as_f64().unwrap(), last_lr(24));
    assert!(last_lr(24) > 10.0 * last_lr(6), "the compat schedule has not annealed");
}

/// Trains one ResNet-18 (batch 16, learning rate 0.001, OneCycle changing learning rate and
/// momentum every step) on `images` images for `epochs` epochs, eagerly and with graphs, under
/// deterministic algorithms, and returns the worst relative difference of the model (weights and
/// BatchNorm statistics) and of the SGD momentum buffers between the two runs. The run plans 8
/// epochs so that the trainer finds a capture worth its cost (`GRAPH_MIN_STEPS`).
fn graph_against_eager(images: usize, epochs: u32) -> (f64, f64) {
    let device = Device::Cuda(0);
    let subset = format!("problem.train_subset={images}");
    let spec = spec(&["grid.temperature.values=[16]", "train.lr=0.001", "train.epochs=8", &subset]);
    let plan = Plan::new(&spec).unwrap();
    let m = &plan.models[0];
    let ProblemConfig::Image(image) = &m.config.problem else { panic!("image") };
    let task = ImageTask::new(&data(), image, device);
    let stop = AtomicBool::new(false);
    let run = |graphs: bool| {
        let mut trainer =
            super::ImageTrainer::new(&m.config, &task, device).unwrap().with_cuda_graphs(graphs);
        let mut stats = None;
        for epoch in 1..=epochs {
            stats = trainer.train_epoch(&task, epoch, &stop, &mut || {}).unwrap();
        }
        assert_eq!(trainer.replays_cuda_graph(), graphs, "graphs {graphs}");
        (trainer, stats.unwrap())
    };
    let (eager, eager_stats) = run(false);
    let (graph, graph_stats) = run(true);
    assert_eq!(graph.steps(), eager.steps());
    let relative = |a: f64, b: f64| (a - b).abs() / b.abs().max(1e-12);
    assert!(relative(graph_stats.loss, eager_stats.loss) < 1e-5, "{graph_stats:?} vs {eager_stats:?}");
    assert!((graph_stats.accuracy - eager_stats.accuracy).abs() < 1e-9);
    let named = |t: &super::ImageTrainer| {
        let (model, optimizer) = t.checkpoint_tensors();
        model
            .into_iter()
            .chain(optimizer)
            .map(|n| (n.name.clone(), pz_models::tensor_from_named(&n).unwrap()))
            .collect::<Vec<_>>()
    };
    let (eager_state, graph_state) = (named(&eager), named(&graph));
    assert_eq!(eager_state.len(), graph_state.len());
    let (mut worst_model, mut worst_buffers) = (0.0f64, 0.0f64);
    for ((name, e), (_, g)) in eager_state.iter().zip(&graph_state) {
        let e = e.to_kind(tch::Kind::Double);
        let g = g.to_kind(tch::Kind::Double);
        let scale = f64::try_from(e.abs().max()).unwrap().max(1e-12);
        let diff = f64::try_from((&g - &e).abs().max()).unwrap() / scale;
        let worst = if name.starts_with("momentum_buffer.") { &mut worst_buffers } else { &mut worst_model };
        *worst = worst.max(diff);
    }
    let initial = super::ImageTrainer::new(&m.config, &task, device).unwrap().model.state_dict();
    let moved = initial.iter().zip(graph.model.state_dict().iter()).any(|((_, a), (_, b))| {
        f64::try_from((a.to_kind(tch::Kind::Double) - b.to_kind(tch::Kind::Double)).abs().max()).unwrap()
            > 0.0
    });
    assert!(moved, "the steps changed the model");
    (worst_model, worst_buffers)
}

/// Issue 7's check: two graph steps (after the eager warm-up step; 48 images, 3 full batches)
/// equal eager steps to 1e-5 relative — weights, BatchNorm statistics and momentum buffers.
/// Needs a GPU; run as BENCHMARKS.md says (CUBLAS_WORKSPACE_CONFIG=:4096:8).
#[test]
fn cuda_graph_steps_equal_eager_steps() {
    crate::tests::on_own_deterministic_cuda_stream(|| {
        let (model, buffers) = graph_against_eager(48, 1);
        #[allow(clippy::print_stdout)] // the figures BENCHMARKS.md records
        {
            println!("graph vs eager after 1 eager + 2 graph steps: worst relative difference {model:e} (model), {buffers:e} (momentum buffers)");
        }
        assert!(model < 1e-5 && buffers < 1e-5, "{model:e}, {buffers:e}");
    });
}

/// Longer: two epochs of three full batches and a partial one (52 images): one eager warm-up
/// step, five graph steps, two eager partial batches, which must update the very momentum
/// buffers the graph updates. Needs a GPU (see above).
#[test]
fn cuda_graph_epochs_with_partial_batches_equal_eager_epochs() {
    crate::tests::on_own_deterministic_cuda_stream(|| {
        let (model, buffers) = graph_against_eager(52, 2);
        #[allow(clippy::print_stdout)]
        {
            println!("graph vs eager after 8 steps: worst relative difference {model:e} (model), {buffers:e} (momentum buffers)");
        }
        // The two SGD implementations round differently in the last bit (multi-tensor kernels
        // against addcmul), so the runs part by rounding that grows with the steps; momentum
        // buffers, sums of gradients with cancellation (BatchNorm weights), show it most
        // (1.9e-5 measured on the H100), hence their looser bound.
        assert!(model < 1e-5, "model {model:e}");
        assert!(buffers < 1e-4, "momentum buffers {buffers:e}");
    });
}

/// A run too short to repay a capture (7 steps after the warm-up < `GRAPH_MIN_STEPS`) trains
/// eagerly throughout, with graphs on. Needs a GPU (see above).
#[test]
fn cuda_short_run_does_not_capture() {
    crate::tests::on_own_deterministic_cuda_stream(|| {
        let device = Device::Cuda(0);
        let spec = spec(&["grid.temperature.values=[16]", "train.epochs=2", "problem.train_subset=52"]);
        let plan = Plan::new(&spec).unwrap();
        let m = &plan.models[0];
        let ProblemConfig::Image(image) = &m.config.problem else { panic!("image") };
        let task = ImageTask::new(&data(), image, device);
        let stop = AtomicBool::new(false);
        let mut trainer = super::ImageTrainer::new(&m.config, &task, device).unwrap().with_cuda_graphs(true);
        for epoch in 1..=2 {
            trainer.train_epoch(&task, epoch, &stop, &mut || {}).unwrap().unwrap();
        }
        assert_eq!(trainer.steps(), 8);
        assert!(!trainer.replays_cuda_graph(), "8 planned steps: no capture");
    });
}

/// `run.layout` applies on CUDA only: a CPU trainer stays contiguous whatever the layout asks.
#[test]
fn a_cpu_trainer_stays_contiguous() {
    let spec = spec(&[]);
    let plan = Plan::new(&spec).unwrap();
    let m = &plan.models[0];
    let ProblemConfig::Image(image) = &m.config.problem else { panic!("image") };
    let task = ImageTask::new(&data(), image, Device::Cpu);
    let trainer = super::ImageTrainer::new(&m.config, &task, Device::Cpu)
        .unwrap()
        .with_layout(pz_spec::Layout::ChannelsLast);
    assert!(!trainer.trains_channels_last());
    let first_conv = trainer.model.trainable().into_iter().find(|p| p.dim() == 4).unwrap();
    assert!(first_conv.is_contiguous());
}

/// With `ptmz_compat` and no `micro_batch`, a ResNet-50 on 3-channel images splits its batch by
/// PTMZ's table; without `ptmz_compat` it runs whole.
#[test]
fn ptmz_compat_applies_the_resnet50_table_on_colour_images() {
    let mut colour = data();
    for set in [&mut colour.train, &mut colour.test] {
        set.images = set.images.iter().flat_map(|&p| [p, p, p]).collect();
        set.channels = 3;
    }
    let split = |extra: &[&str]| {
        let r50 = [
            "model={architecture=\"resnet50\", width=64}",
            "grid.load.values=[64]",
            "grid.temperature.values=[1024]",
        ];
        let spec = spec(&[&r50[..], extra].concat());
        let plan = Plan::new(&spec).unwrap();
        let ProblemConfig::Image(image) = &plan.models[0].config.problem else { panic!("image") };
        let task = ImageTask::new(&colour, image, Device::Cpu);
        super::accumulation::Accumulation::of(&plan.models[0].config, &task)
    };
    let compat = split(&["train.ptmz_compat=true"]);
    assert_eq!((compat.micro_batch, compat.loss_divisor), (512, 2));
    assert_eq!(compat.schedule_steps, 3, "3 epochs × one micro-batch of the 96 images");
    let correct = split(&[]);
    assert_eq!((correct.micro_batch, correct.loss_divisor, correct.schedule_steps), (1024, 1, 3));
}

/// The Hessian's samples: training batches drawn from the seed alone (the same for every model
/// measured with it, different for another seed), augmented; test batches are the first test
/// images, normalized; both stop where the set ends.
#[test]
fn metric_batches_are_fixed_by_their_seed_and_stop_at_the_end_of_the_set() {
    use super::{metric_batches, MetricSet};
    let data = data();
    let ProblemConfig::Image(image) = &spec(&[]).problem else { panic!("an image spec") };
    let task = ImageTask::new(&data, image, Device::Cpu);
    let train = metric_batches(&task, MetricSet::Train, 10, 20, 7);
    let sizes: Vec<i64> = train.iter().map(|(_, y)| y.size()[0]).collect();
    assert_eq!(sizes, [20, 20, 20, 20, 16], "96 training images in batches of 20");
    let again = metric_batches(&task, MetricSet::Train, 10, 20, 7);
    for ((x, y), (x2, y2)) in train.iter().zip(&again) {
        assert!(x.equal(x2) && y.equal(y2), "the same seed draws the same samples");
    }
    let other = metric_batches(&task, MetricSet::Train, 10, 20, 8);
    assert!(!train[0].1.equal(&other[0].1), "another seed, another order");
    let test = metric_batches(&task, MetricSet::Test, 2, 20, 7);
    assert_eq!(test.len(), 2);
    assert!(test[0].1.equal(&task.test_labels.narrow(0, 0, 20)), "the first test images, in order");
    assert!(test[0].0.equal(&task.eval_transform.eval_batch(&task.test_images.narrow(0, 0, 20))));
}
