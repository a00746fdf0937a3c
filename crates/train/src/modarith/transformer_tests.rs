//! The transformer variant of the modular-arithmetic family: logits against the documented
//! PyTorch module, a member alike alone and in a population, per-member gradients, a second
//! derivative for the Hessian, the optimizer groups, names and checkpoints, and grouping.

use std::collections::HashMap;
use std::ffi::OsString;

use pz_models::tensor_from_named;
use pz_spec::{Plan, ZooSpec};
use tch::{Device, Kind, Tensor};

use super::decoder::POSITION;
use super::family::group;
use super::net::EMBEDDING;
use super::training::ModArithTraining;
use crate::population::Population;

const EXAMPLE: &str = include_str!("../../../../examples/grokking-modadd-transformer.toml");
const REFERENCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../python/phasezoo_modarith_transformer.py");

/// The example's grid, small and in float64 (p = 7, d = 8, 2 heads, 2 blocks): 2 weight decays
/// × 2 decoder lrs × 2 seeds, with `extra` overrides.
fn plan(extra: &[&str]) -> Plan {
    let mut o: Vec<String> = [
        "problem.p=7",
        "model.model_dim=8",
        "model.head_dim=4",
        "model.depth=2",
        "train.dtype=\"float64\"",
        "train.steps_per_epoch=4",
        "train.epochs=2",
        "grid.load.values=[0, 2]",
        "grid.temperature.values=[1e-3, 1e-2]",
        "grid.seeds=[0, 1]",
    ]
    .iter()
    .map(|s| (*s).to_string())
    .collect();
    o.extend(extra.iter().map(|s| (*s).to_string()));
    Plan::new(&ZooSpec::parse(EXAMPLE, "t.toml", &o).unwrap()).unwrap()
}

fn population(plan: &Plan) -> ModArithTraining {
    let configs: Vec<_> = plan.models.iter().map(|m| &m.config).collect();
    ModArithTraining::new(&configs, Device::Cpu)
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

/// Every parameter moved off its init by N(0, 0.1) noise: at init the biases are 0 and the
/// LayerNorms 1 and 0, so one read from the wrong place would go unseen.
fn perturb(pop: &ModArithTraining) {
    tch::manual_seed(5);
    for p in pop.net.params() {
        let noise = p.randn_like() * 0.1;
        let _ = tch::no_grad(|| p.shallow_clone().g_add_(&noise));
    }
}

/// The python with torch; `None` (test skipped) only outside CI (crates/models/tests/gpt2.rs).
#[allow(clippy::print_stderr)] // the skip must be visible in the test output
fn python_with_torch() -> Option<OsString> {
    let in_ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    let problem = match std::env::var_os("PZ_PYTHON") {
        None => "PZ_PYTHON is not set (run the tests through ./pz test)".to_string(),
        Some(python) => {
            let ok = std::process::Command::new(&python).args(["-c", "import torch"]).output();
            if ok.is_ok_and(|o| o.status.success()) {
                return Some(python);
            }
            format!("{} cannot import torch", python.to_string_lossy())
        }
    };
    assert!(!in_ci, "CI is set, so the PyTorch check must run: {problem}");
    eprintln!("skipped: {problem}");
    None
}

#[test]
fn a_member_gives_the_logits_of_the_documented_pytorch_module() {
    let Some(python) = python_with_torch() else { return };
    let pop = population(&plan(&[]));
    perturb(&pop);
    let (model, _) = pop.export(1);
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("model.safetensors");
    std::fs::write(&file, pz_store::encode_tensors(&file, &model, &HashMap::new()).unwrap()).unwrap();
    let out = std::process::Command::new(python)
        .arg(REFERENCE)
        .args(["--heads", "2", "--weights"])
        .arg(&file)
        .output()
        .expect("run python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // load_state_dict(strict=True) passed; the module's key order is the checkpoint's.
    let keys: Vec<&str> = got["keys"].as_array().unwrap().iter().map(|k| k.as_str().unwrap()).collect();
    let ours: Vec<&str> = model.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(keys, ours);
    let theirs: Vec<f64> = got["logits"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()))
        .collect();
    let theirs = Tensor::from_slice(&theirs).reshape([49, 7]);
    let mine = pop.net.logits_at(&pop.net.params()).get(1).detach();
    let diff = max_diff(&mine, &theirs);
    assert!(diff < 1e-10, "logits differ from PyTorch's by {diff}");
    assert!(f64::try_from(theirs.std(true)).unwrap() > 0.1, "logits that say something");
}

#[test]
fn a_member_trains_alike_alone_and_in_a_population_of_three() {
    // Different train fractions, decoder lrs and weight decays, so the members' masks and
    // groups differ.
    let plan = plan(&[
        "grid.load.key=\"problem.train_fraction\"",
        "grid.load.values=[0.3, 0.6]",
        "problem.decoder_weight_decay=1.0",
    ]);
    let configs: Vec<_> = plan.models.iter().map(|m| &m.config).collect();
    let three = [configs[0], configs[3], configs[6]];
    let mut fused = ModArithTraining::new(&three, Device::Cpu);
    let mut alone = ModArithTraining::new(&[three[1]], Device::Cpu);
    for _ in 0..5 {
        let (l3, l1) = (fused.step(), alone.step());
        let (a, b) = (l3.double_value(&[1]), l1.double_value(&[0]));
        assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{a} vs {b}");
    }
    let ((mine, my_moments), (theirs, their_moments)) = (fused.export(1), alone.export(0));
    for (x, y) in mine.iter().zip(&theirs).chain(my_moments.iter().zip(&their_moments)) {
        assert_eq!((&x.name, &x.shape), (&y.name, &y.shape));
        let diff = max_diff(&tensor_from_named(x).unwrap(), &tensor_from_named(y).unwrap());
        assert!(diff < 1e-12, "{}: differs by {diff}", x.name);
    }
}

#[test]
fn the_population_gradient_of_a_member_is_its_own_losss() {
    let plan = plan(&[]);
    let pop = population(&plan);
    perturb(&pop);
    let params = pop.net.params();
    let losses = pop.net.losses_at(&params, false);
    let total = Tensor::run_backward(&[losses.sum(Kind::Double)], &params, true, false);
    let k = 2;
    let own = Tensor::run_backward(&[losses.get(k)], &params, false, false);
    // The same member alone (its own init, then the same perturbation copied in).
    let mut alone = ModArithTraining::new(&[&plan.models[2].config], Device::Cpu);
    let (model, optimizer) = pop.export(2);
    let state = pop.state(0);
    alone.restore(0, &pz_store::LoadedCheckpoint { model, optimizer, state }, "m").unwrap();
    let alone_params = alone.net.params();
    let alone_loss = alone.net.losses_at(&alone_params, false).get(0);
    let by_itself = Tensor::run_backward(&[alone_loss], &alone_params, false, false);
    for ((t, o), a) in total.iter().zip(&own).zip(&by_itself) {
        assert!(max_diff(&t.get(k), &o.get(k)) < 1e-14);
        assert!(max_diff(&t.get(k), &a.get(0)) < 1e-12);
        // Member k's loss does not reach the other members' parameters: exactly 0 there.
        let others = o.abs().sum(Kind::Double) - o.get(k).abs().sum(Kind::Double);
        assert!(
            others.double_value(&[]).abs() < 1e-14 * o.abs().sum(Kind::Double).double_value(&[]).max(1.0)
        );
        let elsewhere = Tensor::cat(&[o.narrow(0, 0, k), o.narrow(0, k + 1, o.size()[0] - k - 1)], 0);
        assert_eq!(elsewhere.abs().max().double_value(&[]), 0.0);
    }
}

#[test]
fn the_loss_has_a_symmetric_second_derivative() {
    // The Hessian metrics differentiate the loss twice (explicit attention, LayerNorm, GELU):
    // vᵀ H w = wᵀ H v for two random directions.
    let pop =
        population(&plan(&["grid.seeds=[0]", "grid.load.values=[0]", "grid.temperature.values=[1e-3]"]));
    perturb(&pop);
    let params = pop.net.params();
    let loss = pop.net.losses_at(&params, false).sum(Kind::Double);
    let grads = Tensor::run_backward(&[loss], &params, true, true);
    let (v, w): (Vec<Tensor>, Vec<Tensor>) = params.iter().map(|p| (p.randn_like(), p.randn_like())).unzip();
    let dot = |a: &[Tensor], b: &[Tensor]| {
        a.iter().zip(b).map(|(x, y)| (x * y).sum(Kind::Double)).fold(Tensor::from(0.0f64), |s, t| s + t)
    };
    let hv = Tensor::run_backward(&[dot(&grads, &v)], &params, true, false);
    let hw = Tensor::run_backward(&[dot(&grads, &w)], &params, false, false);
    let (whv, vhw) = (dot(&w, &hv).double_value(&[]), dot(&v, &hw).double_value(&[]));
    assert!(whv.abs() > 1e-6, "a curvature that is not zero: {whv}");
    assert!((whv - vhw).abs() < 1e-9 * whv.abs(), "{whv} vs {vhw}");
}

#[test]
fn positions_train_with_the_embeddings_and_blocks_with_the_decoder() {
    // AdamW's first step moves every entry by lr·|g|/(|g| + ε) ≈ lr (no decay): train.lr for
    // the representation, problem.decoder_lr for the rest.
    let pop =
        plan(&["grid.seeds=[0]", "grid.load.values=[0]", "grid.temperature.values=[1e-2]", "train.lr=1e-4"]);
    let mut pop = population(&pop);
    let before: Vec<Tensor> = pop.net.params().iter().map(Tensor::copy).collect();
    let _ = pop.step();
    let after = pop.net.params();
    let (names, _) = pop.export(0);
    for ((name, b), a) in names.iter().map(|t| &t.name).zip(&before).zip(&after) {
        let moved = (a.detach() - b).abs().max().double_value(&[]);
        let lr = if name == EMBEDDING || name == POSITION { 1e-4 } else { 1e-2 };
        assert!((moved - lr).abs() < 0.01 * lr, "{name} moved {moved}, not {lr}");
    }
}

#[test]
fn checkpoints_carry_the_documented_names_and_init_and_restore_exactly() {
    let plan = plan(&["model.depth=1"]);
    let mut pop = population(&plan);
    let (fresh, _) = pop.export(0);
    let shapes: Vec<(&str, &[usize])> = fresh.iter().map(|t| (t.name.as_str(), t.shape.as_slice())).collect();
    let want: [(&str, &[usize]); 18] = [
        (EMBEDDING, &[8, 8]),
        (POSITION, &[3, 8]),
        ("decoder.h.0.ln_1.weight", &[8]),
        ("decoder.h.0.ln_1.bias", &[8]),
        ("decoder.h.0.attn.c_attn.weight", &[8, 24]),
        ("decoder.h.0.attn.c_attn.bias", &[24]),
        ("decoder.h.0.attn.c_proj.weight", &[8, 8]),
        ("decoder.h.0.attn.c_proj.bias", &[8]),
        ("decoder.h.0.ln_2.weight", &[8]),
        ("decoder.h.0.ln_2.bias", &[8]),
        ("decoder.h.0.mlp.c_fc.weight", &[8, 32]),
        ("decoder.h.0.mlp.c_fc.bias", &[32]),
        ("decoder.h.0.mlp.c_proj.weight", &[32, 8]),
        ("decoder.h.0.mlp.c_proj.bias", &[8]),
        ("decoder.ln_f.weight", &[8]),
        ("decoder.ln_f.bias", &[8]),
        ("decoder.head.weight", &[7, 8]),
        ("decoder.head.bias", &[7]),
    ];
    assert_eq!(shapes, want);
    let value = |name: &str| tensor_from_named(fresh.iter().find(|t| t.name == name).unwrap()).unwrap();
    assert_eq!(f64::try_from(value("decoder.h.0.ln_1.weight").min()).unwrap(), 1.0);
    assert_eq!(f64::try_from(value("decoder.h.0.mlp.c_fc.bias").abs().max()).unwrap(), 0.0);
    // Init laws over the whole population's draws (8 members): GPT-2's 0.02 and 0.02/√2 for
    // c_proj at depth 1; N(0, 1) embeddings (init_scale = 1).
    let params = pop.net.params();
    let std = |i: usize| f64::try_from(params[i].std(true)).unwrap();
    assert!((std(0) - 1.0).abs() < 0.1 && (std(1) - 1.0).abs() < 0.2, "{} {}", std(0), std(1));
    assert!((std(10) - 0.02).abs() < 0.001, "c_fc {}", std(10));
    assert!((std(12) - 0.02 / 2f64.sqrt()).abs() < 0.001, "mlp.c_proj {}", std(12));

    for _ in 0..3 {
        let _ = pop.step();
    }
    let (model, optimizer) = pop.export(3);
    assert_eq!(optimizer.len(), 2 * model.len());
    let checkpoint = pz_store::LoadedCheckpoint {
        model: model.clone(),
        optimizer: optimizer.clone(),
        state: pop.state(1),
    };
    let mut other = population(&plan);
    other.restore(5, &checkpoint, "m").unwrap();
    assert_eq!(other.export(5), (model, optimizer));
    assert_eq!(other.steps(), 3);
    let mut bad = checkpoint.clone();
    bad.model[4].shape = vec![24, 8];
    let err = other.restore(0, &bad, "m").unwrap_err().to_string();
    assert!(err.contains("decoder.h.0.attn.c_attn.weight"), "{err}");
}

#[test]
fn transformers_group_by_shape_apart_from_mlps() {
    let plan = plan(&["grid.load.key=\"problem.train_fraction\"", "grid.load.values=[0.3, 0.6]"]);
    assert_eq!(group(&plan.models, 0).len(), 1, "seeds, fractions and lrs fuse");
    assert_eq!(group(&plan.models, 3).iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 2]);
    let mut models = plan.models.clone();
    let wider = self::plan(&["model.model_dim=12"]);
    models.extend(wider.models.iter().cloned());
    let mlp =
        ZooSpec::parse(include_str!("../../../../examples/grokking-modadd.toml"), "m.toml", &[]).unwrap();
    models.extend(Plan::new(&mlp).unwrap().models.into_iter().take(2));
    let groups = group(&models, 0);
    assert_eq!(groups.iter().map(Vec::len).collect::<Vec<_>>(), [8, 8, 2], "by width, and by architecture");
}
