//! Population behaviour against references that need no trust: the same models trained alone,
//! and the same run interrupted and resumed.

use std::sync::atomic::AtomicBool;

use pz_spec::{Plan, ZooSpec};
use pz_store::{NamedTensor, ZooDir};
use tch::Device;

use crate::{train_population, Error, NoReporter, Outcome, Run};

fn tiny_spec(extra: &[&str]) -> ZooSpec {
    let mut overrides: Vec<String> = [
        "train.epochs=3",
        "train.steps_per_epoch=4",
        "train.dtype=\"float64\"",
        "problem.collocation_points=64",
        "problem.initial_points=16",
        "problem.boundary_points=8",
        "problem.eval_x=16",
        "problem.eval_t=8",
        "model.hidden=[8, 8]",
        "grid.load.values=[1, 20]",
        "grid.temperature.values=[1e-2]",
        "grid.seeds=[0, 1]",
        "checkpoint.every=1",
        "run.device=cpu",
    ]
    .iter()
    .map(|s| (*s).to_string())
    .collect();
    overrides.extend(extra.iter().map(|s| (*s).to_string()));
    ZooSpec::parse(pz_spec::EMBEDDED_DEFAULT, "t", &overrides).unwrap()
}

/// A CPU run of `spec` into `zoo` without graphs or progress.
pub(crate) fn cpu_run<'a>(zoo: &'a ZooDir, spec: &'a ZooSpec, stop: &'a AtomicBool) -> Run<'a> {
    Run {
        zoo,
        policy: &spec.checkpoint,
        device: Device::Cpu,
        cuda_graphs: false,
        fused_kernels: true,
        layout: pz_spec::Layout::Auto,
        reporter: &NoReporter,
        stop,
    }
}

fn results(zoo: &ZooDir, plan: &Plan) -> Vec<Vec<pz_store::EpochRecord>> {
    plan.models.iter().map(|m| zoo.model(m.id()).read_results().unwrap()).collect()
}

#[test]
fn a_population_of_k_equals_k_single_runs() {
    let spec = tiny_spec(&[]);
    let plan = Plan::new(&spec).unwrap();
    let stop = AtomicBool::new(false);
    let dir = tempfile::tempdir().unwrap();
    let together = ZooDir::create_or_open(&dir.path().join("pop"), &spec).unwrap();
    let out = train_population(&cpu_run(&together, &spec, &stop), &plan.models).unwrap();
    assert_eq!(out, Outcome::Finished);
    let alone = ZooDir::create_or_open(&dir.path().join("single"), &spec).unwrap();
    for m in &plan.models {
        train_population(&cpu_run(&alone, &spec, &stop), std::slice::from_ref(m)).unwrap();
    }
    let (a, b) = (results(&together, &plan), results(&alone, &plan));
    assert_eq!(a.len(), 4);
    for (ra, rb) in a.iter().zip(&b) {
        assert_eq!(ra.len(), 4, "epochs 0..=3");
        for (x, y) in ra.iter().zip(rb) {
            // float64; batched and single matmuls may sum in a different order.
            for (u, v) in
                [(x.train_loss, y.train_loss), (x.test_error, y.test_error), (x.test_loss, y.test_loss)]
            {
                assert!((u - v).abs() <= 1e-10 * v.abs().max(1e-12), "{u} vs {v}");
            }
        }
    }
    // Members really differ (different β, seeds): the check above is not vacuous.
    assert_ne!(a[0].last().unwrap().train_loss, a[3].last().unwrap().train_loss);
}

#[test]
fn resuming_after_an_interrupt_and_a_damaged_checkpoint_gives_identical_results() {
    let spec = tiny_spec(&[]);
    let plan = Plan::new(&spec).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let go = AtomicBool::new(false);
    let reference = ZooDir::create_or_open(&dir.path().join("ref"), &spec).unwrap();
    train_population(&cpu_run(&reference, &spec, &go), &plan.models).unwrap();

    let zoo = ZooDir::create_or_open(&dir.path().join("resumed"), &spec).unwrap();
    train_population(&cpu_run(&zoo, &spec, &go), &plan.models).unwrap();
    // Damage the last checkpoint of one member and delete the final ones of another: the
    // population must fall back to epoch 2 for all and recompute epoch 3 identically.
    let m0 = zoo.model(plan.models[0].id());
    let f = m0.path.join("checkpoint_000003/model.safetensors");
    let len = std::fs::metadata(&f).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&f).unwrap().set_len(len / 2).unwrap();
    std::fs::remove_dir_all(zoo.model(plan.models[1].id()).path.join("checkpoint_000003")).unwrap();
    train_population(&cpu_run(&zoo, &spec, &go), &plan.models).unwrap();
    assert_eq!(results(&zoo, &plan), results(&reference, &plan));
    // The damaged checkpoint was rewritten and verifies again.
    assert!(pz_store::Checkpoint { dir: f.parent().unwrap().into(), epoch: 3 }.load().is_ok());

    // A stop request returns at once and leaves a resumable zoo.
    let stop = AtomicBool::new(true);
    let fresh = ZooDir::create_or_open(&dir.path().join("stopped"), &spec).unwrap();
    let out = train_population(&cpu_run(&fresh, &spec, &stop), &plan.models).unwrap();
    assert_eq!(out, Outcome::Interrupted);
    train_population(&cpu_run(&fresh, &spec, &go), &plan.models).unwrap();
    assert_eq!(results(&fresh, &plan), results(&reference, &plan));
}

/// Rewrite `model`'s checkpoint of `epoch` with `change` applied to its model tensors, through
/// the store's own writer: the manifest matches, so only the layout check can notice.
fn rewrite_checkpoint(
    zoo: &ZooDir,
    model: &pz_spec::PlannedModel,
    epoch: u32,
    change: fn(&mut Vec<NamedTensor>),
) {
    let dir = zoo.model(model.id()).path;
    let checkpoint = pz_store::Checkpoint { dir: dir.join(pz_store::Checkpoint::dir_name(epoch)), epoch };
    let mut loaded = checkpoint.load().unwrap();
    change(&mut loaded.model);
    pz_store::Checkpoint::write(&dir, &loaded.model, &loaded.optimizer, &loaded.state).unwrap();
    checkpoint.load().expect("SHA-256 and safetensors still verify");
}

/// A change to a checkpoint's model tensors.
type Damage = fn(&mut Vec<NamedTensor>);

/// Checkpoints whose manifest matches but whose tensors do not fit the model.
const DAMAGES: [(&str, Damage); 3] = [
    ("dtype", |t| {
        // float64 -> float32, bytes converted: a valid file of the wrong dtype.
        let w = &mut t[0];
        w.data = w
            .data
            .chunks(8)
            .flat_map(|c| (f64::from_le_bytes(c.try_into().unwrap()) as f32).to_le_bytes())
            .collect();
        w.dtype = pz_store::Dtype::F32;
    }),
    // The same elements with a trailing axis of 1.
    ("shape", |t| t[0].shape.push(1)),
    ("missing tensor", |t| t[0].name.push_str("_renamed")),
];

#[test]
fn issue_17_a_checkpoint_of_the_wrong_dtype_shape_or_names_falls_back_like_a_sha_mismatch() {
    let spec = tiny_spec(&[]);
    let plan = Plan::new(&spec).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let go = AtomicBool::new(false);
    let reference = ZooDir::create_or_open(&dir.path().join("ref"), &spec).unwrap();
    train_population(&cpu_run(&reference, &spec, &go), &plan.models).unwrap();
    let reference_checkpoint =
        std::fs::read(reference.model(plan.models[1].id()).path.join("checkpoint_000003/model.safetensors"))
            .unwrap();

    for (what, damage) in DAMAGES {
        let zoo = ZooDir::create_or_open(&dir.path().join(what), &spec).unwrap();
        train_population(&cpu_run(&zoo, &spec, &go), &plan.models).unwrap();
        rewrite_checkpoint(&zoo, &plan.models[1], 3, damage);
        // Loading it for metrics names the model, the file and the reason.
        let err = crate::load_population(&zoo, &plan.models, 3, Device::Cpu).map(drop).unwrap_err();
        let Error::UnusableCheckpoint { model, epoch, .. } = &err else { panic!("{what}: {err}") };
        assert_eq!((model.as_str(), *epoch), (plan.models[1].id().as_str(), 3), "{what}");
        let chain = std::iter::successors(Some(&err as &dyn std::error::Error), |e| e.source())
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(": ");
        assert!(chain.contains("checkpoint_000003/model.safetensors: "), "{what}: {chain}");
        assert!(
            chain.contains("the model expects") || chain.contains("which the model needs"),
            "{what}: {chain}"
        );
        // Other epochs and models still load.
        crate::load_population(&zoo, &plan.models, 2, Device::Cpu).unwrap();
        crate::load_population(&zoo, &plan.models[..1], 3, Device::Cpu).unwrap();
        // Resuming falls back to epoch 2 for the whole population and recomputes epoch 3.
        train_population(&cpu_run(&zoo, &spec, &go), &plan.models).unwrap();
        assert_eq!(results(&zoo, &plan), results(&reference, &plan), "{what}");
        let rewritten =
            std::fs::read(zoo.model(plan.models[1].id()).path.join("checkpoint_000003/model.safetensors"))
                .unwrap();
        assert!(rewritten == reference_checkpoint, "{what}: the checkpoint was rewritten as trained");
        crate::load_population(&zoo, &plan.models, 3, Device::Cpu).unwrap();
    }
}

#[test]
fn issue_17_results_cut_short_are_retrained_and_empty_ones_are_an_error_with_a_hint() {
    let spec = tiny_spec(&[]);
    let plan = Plan::new(&spec).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let go = AtomicBool::new(false);
    let reference = ZooDir::create_or_open(&dir.path().join("ref"), &spec).unwrap();
    train_population(&cpu_run(&reference, &spec, &go), &plan.models).unwrap();

    let zoo = ZooDir::create_or_open(&dir.path().join("cut"), &spec).unwrap();
    train_population(&cpu_run(&zoo, &spec, &go), &plan.models).unwrap();
    // result.json cut at a line boundary: the last two epochs lost, the status still says done.
    let m = zoo.model(plan.models[2].id());
    let text = std::fs::read_to_string(m.results_path()).unwrap();
    let kept: String = text.lines().take(2).map(|l| format!("{l}\n")).collect();
    std::fs::write(m.results_path(), kept).unwrap();
    let status = m.read_status().unwrap();
    assert_eq!((status.state, status.epoch), (pz_store::ModelState::Running, Some(1)));
    // The population resumes from the checkpoint the results reach (epoch 1) and recomputes.
    train_population(&cpu_run(&zoo, &spec, &go), &plan.models).unwrap();
    assert_eq!(results(&zoo, &plan), results(&reference, &plan));
    assert_eq!(m.read_status().unwrap().state, pz_store::ModelState::Done);

    // An empty result.json is never taken for done, nor resumed past.
    std::fs::write(m.results_path(), "").unwrap();
    let err = m.read_status().unwrap_err().to_string();
    assert!(err.contains("result.json: is empty") && err.contains("hint: "), "{err}");
    let err = train_population(&cpu_run(&zoo, &spec, &go), &plan.models).unwrap_err().to_string();
    assert!(err.contains("result.json: is empty") && err.contains("phasezoo train"), "{err}");
}

#[test]
fn beta_one_is_solved_and_beta_thirty_fails() {
    // The known transition (Krishnapriyan et al. 2021) at a reduced budget: 600 Adam steps.
    let spec = ZooSpec::parse(
        pz_spec::EMBEDDED_DEFAULT,
        "t",
        &[
            "train.epochs=6".into(),
            "grid.load.values=[1, 30]".into(),
            "grid.temperature.values=[1e-2]".into(),
            "grid.seeds=[0]".into(),
            "checkpoint.every=0".into(),
        ],
    )
    .unwrap();
    let plan = Plan::new(&spec).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let zoo = ZooDir::create_or_open(dir.path(), &spec).unwrap();
    train_population(&cpu_run(&zoo, &spec, &AtomicBool::new(false)), &plan.models).unwrap();
    let last = |i: usize| zoo.model(plan.models[i].id()).read_results().unwrap().last().unwrap().test_error;
    assert!(last(0) < 0.1, "beta=1: relative L2 {}", last(0));
    assert!(last(1) > 0.5, "beta=30: relative L2 {}", last(1));
}

#[test]
fn forward_mode_derivatives_train_like_double_backward() {
    // Same derivative, computed two ways: in float64 the trajectories agree to rounding.
    let dir = tempfile::tempdir().unwrap();
    let stop = AtomicBool::new(false);
    let mut per_mode = Vec::new();
    for mode in ["autograd", "forward"] {
        let spec = tiny_spec(&[&format!("problem.derivatives=\"{mode}\"")]);
        let plan = Plan::new(&spec).unwrap();
        let zoo = ZooDir::create_or_open(&dir.path().join(mode), &spec).unwrap();
        train_population(&cpu_run(&zoo, &spec, &stop), &plan.models).unwrap();
        per_mode.push(results(&zoo, &plan));
    }
    for (a, b) in per_mode[0].iter().zip(&per_mode[1]) {
        for (x, y) in a.iter().zip(b) {
            assert!(
                (x.train_loss - y.train_loss).abs() <= 1e-9 * y.train_loss,
                "{} vs {}",
                x.train_loss,
                y.train_loss
            );
            assert!((x.test_error - y.test_error).abs() <= 1e-9 * y.test_error);
        }
    }
}

/// The PINN population's captured step equals the eager one (Adam with its bias corrections
/// read from the device, both derivative modes): one eager warm-up step, then graph replays,
/// against eager steps, float32 under deterministic algorithms. Needs a GPU; run as
/// BENCHMARKS.md says.
#[test]
fn cpu_populations_compile_no_kernels() {
    let spec = tiny_spec(&["problem.derivatives=\"forward\""]);
    let plan = Plan::new(&spec).unwrap();
    let configs: Vec<_> = plan.models.iter().map(|m| &m.config).collect();
    let pop = crate::PinnPopulation::new(&configs, Device::Cpu);
    assert!(pop.compile_kernels_in_background().is_none());
}

#[test]
fn cuda_graph_pinn_steps_equal_eager_steps() {
    on_own_deterministic_cuda_stream(|| {
        for derivatives in ["autograd", "forward"] {
            let spec =
                tiny_spec(&["train.dtype=\"float32\"", &format!("problem.derivatives=\"{derivatives}\"")]);
            let plan = Plan::new(&spec).unwrap();
            let configs: Vec<_> = plan.models.iter().map(|m| &m.config).collect();
            let run = |graphs: bool| {
                let mut pop = crate::PinnPopulation::new(&configs, Device::Cuda(0)).with_cuda_graphs(graphs);
                if graphs {
                    // The kernels compiled ahead on their own thread are those the steps use.
                    let compiling = pop.compile_kernels_in_background().expect("fused kernels apply on CUDA");
                    compiling.join().expect("the compile thread ends");
                }
                let losses: Vec<Vec<f64>> = (0..3).map(|_| crate::pinn::to_vec(&pop.step())).collect();
                assert_eq!(pop.replays_cuda_graph(), graphs);
                (pop, losses)
            };
            let (eager, eager_losses) = run(false);
            let (graph, graph_losses) = run(true);
            for (step, (g, e)) in graph_losses.iter().zip(&eager_losses).enumerate() {
                for (g, e) in g.iter().zip(e) {
                    assert!((g - e).abs() <= 1e-5 * e.abs(), "{derivatives} step {step}: loss {g} vs {e}");
                }
            }
            let mut worst = 0.0f64;
            for (g, e) in graph.params().iter().zip(eager.params()) {
                let scale = f64::try_from(e.abs().max()).unwrap().max(1e-12);
                let diff = f64::try_from((g - e).abs().max()).unwrap() / scale;
                assert!(diff < 1e-5, "{derivatives}: parameters differ by {diff:e} (relative)");
                worst = worst.max(diff);
            }
            #[allow(clippy::print_stdout)] // the figure BENCHMARKS.md records
            {
                println!(
                    "PINN ({derivatives}) graph vs eager after 3 steps: worst relative difference {worst:e}"
                );
            }
        }
    });
}

/// Runs `f` on a thread with its own CUDA stream of GPU 0 (graphs cannot capture the default
/// stream) under deterministic algorithms. Without a GPU it returns at once, unless PZ_TEST_CUDA
/// is set (the GPU machine), where a missing GPU is a failure. Deterministic cuBLAS also needs
/// CUBLAS_WORKSPACE_CONFIG=:4096:8 in the environment (BENCHMARKS.md's command sets it).
pub(crate) fn on_own_deterministic_cuda_stream(f: impl FnOnce() + Send + 'static) {
    assert!(std::env::var_os("PZ_TEST_CUDA").is_none() || tch::Cuda::is_available(), "no GPU");
    if !tch::Cuda::is_available() {
        return;
    }
    std::thread::spawn(|| {
        assert!(pz_device::use_own_cuda_stream(0));
        pz_device::set_deterministic(true);
        f();
    })
    .join()
    .unwrap();
}
