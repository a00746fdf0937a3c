//! The language-model family end to end on a tiny generated corpus: training lowers the
//! validation loss and the result lines say what they document, an interrupted run resumes to
//! the same bytes, and the measured models give the metrics consistent inputs.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use pz_data::text::{build_corpus, Corpus, CorpusSource, Document, SplitRule};
use pz_spec::{Plan, ZooSpec};
use pz_store::ZooDir;
use tch::{Device, Kind, Tensor};

use super::measured::LmMeasured;
use super::population::train_lm_model;
use crate::{MeasuredPopulation, NoReporter, Outcome, Reporter, Run};

const SMALL: &str = include_str!("../../../../examples/shakespeare-gpt2-small.toml");

/// A corpus of 30 generated "plays": speeches made of a few fixed sentences in an order drawn
/// from xorshift, so that there is structure to learn beyond token frequencies.
pub(super) fn tiny_corpus(dir: &Path) -> Corpus {
    let lines = [
        "The king speaks to his lords.",
        "The queen answers the king.",
        "Enter a messenger with letters.",
        "My lord, the enemy is near.",
        "Exeunt all but the fool.",
    ];
    let mut x: u32 = 2024;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x as usize
    };
    let docs: Vec<Document> = (0..30)
        .map(|d| {
            let text: String = (0..40).map(|_| format!("{}\n", lines[next() % lines.len()])).collect();
            Document { name: format!("play{d}"), text }
        })
        .collect();
    let source = CorpusSource::new("shakespeare", "generated plays for tests", Vec::new(), "none");
    build_corpus(docs.into_iter().map(Ok), &SplitRule::Tail { val_fraction: 0.2 }, &source, dir, &|_| {})
        .unwrap();
    Corpus::open(dir).unwrap()
}

/// The small example shrunk to seconds: one block of width 16, context 16, 3 epochs of 40 steps at a peak rate of 3e-2 (a tiny
/// model needs a large rate to push 50,257 logits down in 120 steps).
fn spec(extra: &[&str]) -> ZooSpec {
    let mut overrides: Vec<String> = [
        "grid.load.values=[16]",
        "grid.temperature.values=[8]",
        "grid.seeds=[0]",
        "model.depth=1",
        "model.head_dim=8",
        "model.context=16",
        "train.epochs=3",
        "train.steps_per_epoch=40",
        "train.lr=3e-2",
        "train.min_lr=3e-3",
        "train.warmup_steps=5",
        "problem.eval_windows=8",
        "checkpoint.every=1",
    ]
    .map(String::from)
    .to_vec();
    overrides.extend(extra.iter().map(|s| (*s).to_string()));
    ZooSpec::parse(SMALL, "t", &overrides).unwrap()
}

/// The tiny corpus (in a folder kept alive by the returned guard) and the one model of
/// `spec(extra)`.
fn one_model(extra: &[&str]) -> (tempfile::TempDir, Corpus, pz_spec::ResolvedModel) {
    let dir = tempfile::tempdir().unwrap();
    let corpus = tiny_corpus(&dir.path().join("corpus"));
    let plan = Plan::new(&spec(extra)).unwrap();
    (dir, corpus, plan.models[0].config.clone())
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

fn train(
    zoo: &ZooDir,
    spec: &ZooSpec,
    corpus: &Corpus,
    reporter: &dyn Reporter,
    stop: &AtomicBool,
) -> Outcome {
    let plan = Plan::new(spec).unwrap();
    let run = Run {
        zoo,
        policy: &spec.checkpoint,
        device: Device::Cpu,
        cuda_graphs: false,
        fused_kernels: false,
        layout: pz_spec::Layout::Auto,
        reporter,
        stop,
    };
    let mut outcome = Outcome::Finished;
    for m in &plan.models {
        outcome = train_lm_model(&run, m, corpus).unwrap();
    }
    outcome
}

#[test]
fn a_tiny_model_learns_and_its_result_lines_say_so() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tiny_corpus(&tmp.path().join("shakespeare"));
    let spec = spec(&[]);
    let zoo = ZooDir::create_or_open(&tmp.path().join("zoo"), &spec).unwrap();
    assert_eq!(train(&zoo, &spec, &corpus, &NoReporter, &AtomicBool::new(false)), Outcome::Finished);
    let plan = Plan::new(&spec).unwrap();
    let records = zoo.model(plan.models[0].id()).read_results().unwrap();
    assert_eq!(records.len(), 4, "epochs 0..=3");
    // Untrained: about ln 50257 = 10.8 nats; trained: well below the corpus's unigram entropy.
    assert!((10.0..11.5).contains(&records[0].test_loss), "{:?}", records[0]);
    let last = &records[3];
    assert!(
        last.test_loss < corpus.meta.val_unigram_nats,
        "{} vs unigram {}",
        last.test_loss,
        corpus.meta.val_unigram_nats
    );
    for r in &records {
        assert_eq!(r.extra["val_loss"], serde_json::json!(r.test_loss));
        assert_eq!(r.extra["tokens"], serde_json::json!(r.step * 8 * 16), "batch 8 × context 16 per step");
        assert!((0.0..=1.0).contains(&r.test_error));
        assert_eq!(r.extra.contains_key("lr"), r.epoch > 0);
    }
    // The last step of the cosine schedule is at min_lr.
    assert!((last.extra["lr"].as_f64().unwrap() - spec.train.min_lr).abs() < 1e-12);
}

#[test]
fn an_interrupted_model_resumes_to_the_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tiny_corpus(&tmp.path().join("shakespeare"));
    // Micro-batches of 3 (8 = 3 + 3 + 2) exercise the accumulation too.
    let spec = spec(&["train.micro_batch=3"]);
    let files = |zoo: &ZooDir| {
        let dir = zoo.model(Plan::new(&spec).unwrap().models[0].id());
        let results = std::fs::read_to_string(dir.results_path()).unwrap();
        let last = std::fs::read(dir.path.join("checkpoint_000003/model.safetensors")).unwrap();
        let optimizer = std::fs::read(dir.path.join("checkpoint_000003/optimizer.safetensors")).unwrap();
        (results, last, optimizer)
    };
    let straight = ZooDir::create_or_open(&tmp.path().join("a"), &spec).unwrap();
    train(&straight, &spec, &corpus, &NoReporter, &AtomicBool::new(false));
    let resumed = ZooDir::create_or_open(&tmp.path().join("b"), &spec).unwrap();
    let stop = AtomicBool::new(false);
    // 10 steps an epoch: stop in the middle of epoch 2, after epoch 1's checkpoint.
    let interrupt = StopAfter { steps: AtomicU64::new(0), limit: 15, stop: &stop };
    assert_eq!(train(&resumed, &spec, &corpus, &interrupt, &stop), Outcome::Interrupted);
    assert_eq!(train(&resumed, &spec, &corpus, &NoReporter, &AtomicBool::new(false)), Outcome::Finished);
    let (a, b) = (files(&straight), files(&resumed));
    assert_eq!(a.0, b.0, "result.json");
    assert!(a.1 == b.1, "the final model checkpoints differ");
    assert!(a.2 == b.2, "the final optimizer states differ");
}

#[test]
fn measured_models_give_the_metrics_consistent_inputs() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tiny_corpus(&tmp.path().join("shakespeare"));
    let spec = spec(&["grid.seeds=[0, 1]", "train.epochs=1"]);
    let zoo = ZooDir::create_or_open(&tmp.path().join("zoo"), &spec).unwrap();
    train(&zoo, &spec, &corpus, &NoReporter, &AtomicBool::new(false));
    let plan = Plan::new(&spec).unwrap();
    let measured = LmMeasured::load(&zoo, &corpus, &plan.models, 1, Device::Cpu).unwrap();
    assert_eq!((measured.members(), measured.loss_sets()), (2, &["", "_val"][..]));
    assert_eq!(measured.hessian_groups(), [vec![0], vec![1]]);
    let graph = measured.loss_graph(1, 1).unwrap();
    assert!(!graph.stacked);
    assert_eq!(graph.losses.len(), 4);
    assert!(graph.losses.iter().all(|(w, l)| *w == 0.25 && l.size() == [1] && l.requires_grad()));

    let reps = measured.representations(&spec.metrics.cka).unwrap();
    assert_eq!((reps.len(), reps[0].len()), (2, 10), "10 batches per model");
    assert_eq!((reps[0][0].size(), reps[0][0].kind()), (vec![8 * 16, 16], Kind::Double));

    // At its endpoints a curve is its two models: its train loss there is the mean of the
    // models' Hessian losses (the same windows), and moving along it changes it.
    let curves = measured.curves(&[(0, 1)]).unwrap();
    let (theta0, theta2) = curves.endpoints();
    for (k, phi) in [theta0, theta2].into_iter().enumerate() {
        let at_end = tch::no_grad(|| curves.evaluate(phi)[0].double_value(&[0]));
        let graph = measured.loss_graph(k, 0).unwrap();
        let hessian_loss: f64 = graph.losses.iter().map(|(w, l)| w * l.double_value(&[0])).sum();
        assert!((at_end - hessian_loss).abs() < 1e-4, "end {k}: {at_end} vs {hessian_loss}");
    }
    let mid: Vec<Tensor> = theta0.iter().zip(theta2).map(|(a, b)| (a + b) * 0.5).collect();
    let loss = curves.loss(&mid);
    assert_eq!(loss.size(), [1]);
    assert!(loss.double_value(&[0]).is_finite());
}

#[test]
fn a_context_longer_than_the_corpus_is_refused_before_training() {
    use crate::ZooFamily;
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tiny_corpus(&tmp.path().join("shakespeare"));
    let family = super::LmFamily::new(&corpus);
    assert!(family.check_models(&Plan::new(&spec(&[])).unwrap()).is_ok());
    let long = corpus.val.len().to_string();
    let err =
        family.check_models(&Plan::new(&spec(&[&format!("model.context={long}")])).unwrap()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&format!("model.context = {long} needs")) && text.contains("hint:"), "{text}");
}

/// The CUDA step (gradients dropped instead of zeroed, multi-tensor clipping, fused AdamW) run
/// on the CPU against the CPU's step, with micro-batches: the weights after 3 steps agree to
/// float32 rounding (a missing weight decay would move them by ~1e-4), and 30 steps give the
/// same losses (later weights drift apart as rounding differences grow in training).
#[test]
fn the_cuda_fast_step_trains_as_the_plain_step() {
    let (_dir, corpus, config) = one_model(&["train.micro_batch=3"]);
    let config = &config;
    let run = |fused: bool| {
        let mut trainer = super::trainer::LmTrainer::new(config, 30, Device::Cpu).unwrap();
        if fused {
            trainer.use_fused_step();
        }
        let weights = |t: &super::trainer::LmTrainer| {
            let flat: Vec<Tensor> = t.model.parameters().iter().map(|p| p.detach().flatten(0, -1)).collect();
            Tensor::cat(&flat, 0)
        };
        let mut early = None;
        let mut losses = Vec::new();
        for step in 0..30 {
            losses.push(trainer.train_step(&corpus.train).unwrap().double_value(&[]));
            if step == 2 {
                early = Some(weights(&trainer));
            }
        }
        (losses, early.unwrap())
    };
    let ((plain_loss, plain_w), (fused_loss, fused_w)) = (run(false), run(true));
    let diff = f64::try_from((&fused_w - &plain_w).abs().max()).unwrap();
    assert!(diff < 1e-5, "weights {diff} apart after 3 steps");
    for (step, (p, f)) in plain_loss.iter().zip(&fused_loss).enumerate() {
        assert!((p - f).abs() <= 1e-4 * p.abs(), "step {step}: loss {f} against {p}");
    }
    assert!(plain_loss[29] < plain_loss[0] - 0.5, "the model learned: {plain_loss:?}");
}

/// What the CUDA graph captures (one forward pass, `run_backward`'s gradients, clipping and the
/// fused AdamW at the rate written before the launch) run eagerly on the CPU against the fused
/// eager step: the same losses for 30 steps and the same weights after 3 (a rate written after
/// the launch, or clipping left out, moves them by ~1e-4). Asking for graphs on the CPU leaves
/// the trainer eager; on CUDA, where there is one, steps replay the graph after the warm-up and
/// follow the eager run's losses.
#[test]
fn the_captured_step_trains_as_the_eager_step() {
    let (_dir, corpus, config) = one_model(&[]);
    let config = &config;
    let weights = |t: &super::trainer::LmTrainer| {
        let flat: Vec<Tensor> = t.model.parameters().iter().map(|p| p.detach().flatten(0, -1)).collect();
        Tensor::cat(&flat, 0)
    };
    let run = |body: bool| {
        let mut trainer =
            super::trainer::LmTrainer::new(config, 30, Device::Cpu).unwrap().with_cuda_graphs(true);
        trainer.use_fused_step();
        let (mut losses, mut early) = (Vec::new(), None);
        for step in 0..30 {
            let loss = if body {
                trainer.graph_body_step(&corpus.train)
            } else {
                trainer.train_step(&corpus.train).unwrap()
            };
            losses.push(loss.double_value(&[]));
            if step == 2 {
                early = Some(weights(&trainer));
            }
        }
        assert!(!trainer.replays_cuda_graph(), "no CUDA graphs on the CPU");
        (losses, early.unwrap())
    };
    let ((eager_loss, eager_w), (body_loss, body_w)) = (run(false), run(true));
    let diff = f64::try_from((&body_w - &eager_w).abs().max()).unwrap();
    assert!(diff < 1e-6, "weights {diff} apart after 3 steps");
    for (step, (e, b)) in eager_loss.iter().zip(&body_loss).enumerate() {
        assert!((e - b).abs() <= 1e-5 * e.abs(), "step {step}: loss {b} against {e}");
    }
    if tch::Cuda::is_available() && pz_device::cuda_graphs_available() {
        pz_device::use_own_cuda_stream(0);
        let train = |graphs: bool| {
            let mut trainer =
                super::trainer::LmTrainer::new(config, 30, Device::Cuda(0)).unwrap().with_cuda_graphs(graphs);
            let losses: Vec<f64> =
                (0..30).map(|_| trainer.train_step(&corpus.train).unwrap().double_value(&[])).collect();
            assert_eq!(trainer.replays_cuda_graph(), graphs);
            losses
        };
        let (eager, graphed) = (train(false), train(true));
        for (step, (e, g)) in eager.iter().zip(&graphed).enumerate() {
            assert!((e - g).abs() <= 1e-3 * e.abs(), "CUDA step {step}: graph loss {g} against {e}");
        }
    }
}

/// bf16 copies of the matmul operands (lm/shadows.rs) against autocast's own casts, both under
/// the CPU's bf16 autocast on the fused step: the same losses and weights bit for bit after 5
/// steps, and the copies are the updated parameters cast to bf16. (A copy left stale after a
/// step, or a gradient accumulated in bf16, would differ in the first step's weights.)
#[test]
fn bf16_shadow_weights_train_exactly_as_autocast_casts() {
    let (_dir, corpus, config) = one_model(&[]);
    let config = &config;
    let run = |shadows: bool| {
        let mut trainer = super::trainer::LmTrainer::new(config, 30, Device::Cpu).unwrap();
        trainer.use_fused_step();
        trainer.use_bf16_autocast();
        if shadows {
            trainer.use_shadows();
        }
        let losses: Vec<Tensor> = (0..5).map(|_| trainer.train_step(&corpus.train).unwrap()).collect();
        if let Some((copies, originals)) = trainer.shadow_copies() {
            assert_eq!(copies.len(), 8, "one block: the four Conv1D weights and their biases");
            for (c, o) in copies.iter().zip(originals) {
                assert_eq!(c.kind(), Kind::BFloat16);
                assert!(c.detach().equal(&o.detach().to_kind(Kind::BFloat16)), "a stale copy");
            }
        }
        let params: Vec<Tensor> = trainer.model.parameters().iter().map(|p| p.detach().copy()).collect();
        (losses, params)
    };
    let ((cast_losses, cast_params), (shadow_losses, shadow_params)) = (run(false), run(true));
    for (step, (a, b)) in cast_losses.iter().zip(&shadow_losses).enumerate() {
        assert!(a.equal(b), "step {step}: loss {b} against {a}");
    }
    for (a, b) in cast_params.iter().zip(&shadow_params) {
        assert!(a.equal(b), "weights differ: {}", f64::try_from((a - b).abs().max()).unwrap());
    }
    let (first, last) = (cast_losses[0].double_value(&[]), cast_losses[4].double_value(&[]));
    assert!(last < first, "bf16 training moved: {first} -> {last}");
    // On a GPU (PZ_TEST_CUDA=1 makes a missing one a failure): CUDA bf16 autocast, each way
    // eager and as a captured graph. Exactly the same where two runs of the casts agree bit for
    // bit; where the GPU's kernels are not deterministic (atomics in attention's backward), no
    // farther from the casts than a second run of the casts is, with room for the spread.
    assert!(std::env::var_os("PZ_TEST_CUDA").is_none() || tch::Cuda::is_available(), "no GPU");
    if !tch::Cuda::is_available() {
        return;
    }
    pz_device::use_own_cuda_stream(0);
    let train = |shadows: bool, graphs: bool| {
        let mut trainer =
            super::trainer::LmTrainer::new(config, 30, Device::Cuda(0)).unwrap().with_cuda_graphs(graphs);
        trainer.use_bf16_autocast();
        if shadows {
            trainer.use_shadows();
        }
        let losses: Vec<f64> =
            (0..12).map(|_| trainer.train_step(&corpus.train).unwrap().double_value(&[])).collect();
        let params: Vec<Tensor> =
            trainer.model.parameters().iter().map(|p| p.to_device(Device::Cpu)).collect();
        (losses, params)
    };
    let apart = |a: &[Tensor], b: &[Tensor]| {
        a.iter().zip(b).map(|(x, y)| f64::try_from((x - y).abs().max()).unwrap()).fold(0.0, f64::max)
    };
    for graphs in [false, true] {
        let (cast_losses, cast_params) = train(false, graphs);
        let (again_losses, again_params) = train(false, graphs);
        let (shadow_losses, shadow_params) = train(true, graphs);
        let spread = apart(&cast_params, &again_params);
        let off = apart(&cast_params, &shadow_params);
        if spread == 0.0 && cast_losses == again_losses {
            assert_eq!(cast_losses, shadow_losses, "CUDA, graphs {graphs}");
            assert!(off == 0.0, "CUDA, graphs {graphs}: weights {off} apart");
        } else {
            assert!(
                off <= 10.0 * spread,
                "CUDA, graphs {graphs}: weights {off} apart, two cast runs {spread}"
            );
        }
    }
}
