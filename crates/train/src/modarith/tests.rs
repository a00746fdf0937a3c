//! The fused population against its members trained alone, the split, the names and the
//! grouping of the modular-arithmetic family.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;

use pz_spec::{Plan, ZooSpec};
use pz_store::ZooDir;
use tch::{Device, Kind, Tensor};

use super::family::group;
use super::measured::ModArithMeasured;
use super::net::{modarith, train_pairs, EMBEDDING};
use super::training::{train_population, ModArithTraining};
use crate::measured::MeasuredPopulation;
use crate::population::Population;

const EXAMPLE: &str = include_str!("../../../../examples/grokking-modadd.toml");

/// The example's grid, small and in float64: 2 weight decays × 2 decoder lrs × 2 seeds, with
/// `extra` overrides.
fn plan(extra: &[&str]) -> Plan {
    Plan::new(&spec(extra)).unwrap()
}

/// The spec of [`plan`].
fn spec(extra: &[&str]) -> ZooSpec {
    let mut o: Vec<String> = [
        "problem.p=7",
        "problem.embed_dim=3",
        "model.hidden=[5, 4]",
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
    ZooSpec::parse(EXAMPLE, "t.toml", &o).unwrap()
}

fn flat(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.detach().to_kind(Kind::Double).flatten(0, -1)).unwrap()
}

#[test]
fn a_fused_population_steps_as_its_members_alone() {
    // Different train fractions per load value, so members also differ in their masks.
    let plan = plan(&["grid.load.key=\"problem.train_fraction\"", "grid.load.values=[0.3, 0.6]"]);
    let configs: Vec<_> = plan.models.iter().map(|m| &m.config).collect();
    assert_eq!(group(&plan.models, 0).len(), 1, "one fused population");
    let mut fused = ModArithTraining::new(&configs, Device::Cpu);
    let mut alone: Vec<_> = configs.iter().map(|c| ModArithTraining::new(&[*c], Device::Cpu)).collect();
    for _ in 0..5 {
        let losses = flat(&fused.step());
        for (k, a) in alone.iter_mut().enumerate() {
            let l = flat(&a.step())[0];
            // float64; batched products differ from single ones in the last bits only.
            assert!((losses[k] - l).abs() <= 1e-12 * l.abs().max(1.0), "member {k}: {} vs {l}", losses[k]);
        }
    }
    for (k, a) in alone.iter().enumerate() {
        let (mine, _) = fused.export(k);
        let (theirs, _) = a.export(0);
        assert_eq!(mine.len(), theirs.len());
        for (x, y) in mine.iter().zip(&theirs) {
            assert_eq!((&x.name, &x.shape), (&y.name, &y.shape));
            let (x, y) = (pz_models::tensor_from_named(x).unwrap(), pz_models::tensor_from_named(y).unwrap());
            let diff = (x - y).abs().max().double_value(&[]);
            assert!(diff < 1e-12, "member {k}: parameters differ by {diff}");
        }
    }
}

#[test]
fn checkpoints_carry_pytorch_names_and_restore_exactly() {
    let plan = plan(&[]);
    let configs: Vec<_> = plan.models.iter().map(|m| &m.config).collect();
    let mut pop = ModArithTraining::new(&configs, Device::Cpu);
    for _ in 0..3 {
        let _ = pop.step();
    }
    let (model, optimizer) = pop.export(2);
    let names: Vec<&str> = model.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            EMBEDDING,
            "decoder.net.0.weight",
            "decoder.net.0.bias",
            "decoder.net.2.weight",
            "decoder.net.2.bias",
            "decoder.net.4.weight",
            "decoder.net.4.bias"
        ]
    );
    // nn.Embedding(7, 3) and nn.Linear(4, 7): PyTorch's [out, in] layout.
    assert_eq!(
        (model[0].shape.as_slice(), model[5].shape.as_slice()),
        ([7, 3].as_slice(), [7, 4].as_slice())
    );
    assert_eq!(optimizer.len(), 2 * model.len());
    let state = pop.state(1);
    let checkpoint = pz_store::LoadedCheckpoint { model: model.clone(), optimizer: optimizer.clone(), state };
    let mut fresh = ModArithTraining::new(&configs, Device::Cpu);
    fresh.restore(0, &checkpoint, "m").unwrap();
    assert_eq!(fresh.export(0), (model, optimizer));
    assert_eq!(fresh.steps(), 3);
    // A tensor of the wrong shape is refused with its name.
    let mut bad = checkpoint.clone();
    bad.model[0].shape = vec![3, 7];
    let err = fresh.restore(1, &bad, "m").unwrap_err().to_string();
    assert!(err.contains(EMBEDDING), "{err}");
}

#[test]
fn a_split_is_its_seeds_and_counts_the_train_fraction() {
    let a = train_pairs(3, 49, 20);
    assert_eq!(a.iter().filter(|&&x| x).count(), 20);
    assert_eq!(a, train_pairs(3, 49, 20));
    assert_ne!(a, train_pairs(4, 49, 20));
}

#[test]
fn records_hold_accuracies_that_match_the_logits() {
    let plan = plan(&[]);
    let configs: Vec<_> = plan.models.iter().map(|m| &m.config).collect();
    let mut pop = ModArithTraining::new(&configs, Device::Cpu);
    let initial = pop.initial();
    let records = pop.records(0, initial);
    // By hand: argmax of member 0's logits against (a + b) mod 7 over its validation pairs.
    let logits = pop.net.logits_at(&pop.net.params()).get(0).detach();
    let predicted = Vec::<i64>::try_from(logits.argmax(-1, false)).unwrap();
    let train = train_pairs(configs[0].seed, 49, super::net::modarith(configs[0]).train_pairs());
    let (mut right, mut n) = (0.0, 0.0);
    for (i, &pred) in predicted.iter().enumerate() {
        if !train[i] {
            n += 1.0;
            right += f64::from(u8::from(pred == i64::try_from((i / 7 + i % 7) % 7).unwrap()));
        }
    }
    let val_acc = records[0].extra["val_acc"].as_f64().unwrap();
    assert!((val_acc - right / n).abs() < 1e-12, "{val_acc} vs {}", right / n);
    assert!((records[0].test_error - (1.0 - val_acc)).abs() < 1e-12);
    assert!(records[0].extra.contains_key("train_acc"));
}

/// Every model's training pairs and its LLC loss at `epoch`, into one safetensors file for
/// bench/llc_devinterp_modarith.py (the split is drawn from a ChaCha8 stream Python cannot
/// replay): `<id>.a`, `<id>.b`, `<id>.target` (int64, the pairs the metric loss averages over,
/// in pair order a·p + b) and `<id>.train_loss` (float64 `[1]`, that loss at the checkpoint as
/// `MeasuredPopulation::loss_graph`, which the LLC samples, computes it).
fn write_train_pairs(zoo: &ZooDir, epoch: u32, out: &Path) {
    let plan = Plan::new(&zoo.spec).unwrap();
    let measured = ModArithMeasured::load(zoo, &plan.models, epoch, Device::Cpu).unwrap();
    let graph = measured.loss_graph(0, 0).unwrap();
    let losses = flat(&graph.losses[0].1);
    let mut named: Vec<(String, Tensor)> = Vec::new();
    for (k, m) in plan.models.iter().enumerate() {
        let c = modarith(&m.config);
        let train = train_pairs(m.config.seed, c.pairs(), c.train_pairs());
        let pairs: Vec<(u32, u32)> = (0..c.p).flat_map(|a| (0..c.p).map(move |b| (a, b))).collect();
        let mine: Vec<(u32, u32)> =
            pairs.into_iter().zip(&train).filter(|(_, &t)| t).map(|(x, _)| x).collect();
        let col = |f: &dyn Fn(u32, u32) -> u32| {
            Tensor::from_slice(&mine.iter().map(|&(a, b)| i64::from(f(a, b))).collect::<Vec<_>>())
        };
        let id = m.id().as_str();
        named.push((format!("{id}.a"), col(&|a, _| a)));
        named.push((format!("{id}.b"), col(&|_, b| b)));
        named.push((format!("{id}.target"), col(&|a, b| c.operation.apply(a, b, c.p))));
        named.push((format!("{id}.train_loss"), Tensor::from_slice(&[losses[k]])));
    }
    Tensor::write_safetensors(&named, out).unwrap();
}

/// `PZ_MODARITH_ZOO=DIR PZ_MODARITH_EPOCH=E PZ_MODARITH_OUT=FILE cargo test --release -p pz-train
/// export_train_pairs_for_devinterp -- --ignored`: [`write_train_pairs`] of a trained zoo.
#[test]
#[ignore = "needs a trained zoo: see bench/llc_devinterp_modarith.py"]
fn export_train_pairs_for_devinterp() {
    let var = |k: &str| {
        std::env::var(k).unwrap_or_else(|_| panic!("{k} is unset (bench/llc_devinterp_modarith.py)"))
    };
    let zoo = ZooDir::open(Path::new(&var("PZ_MODARITH_ZOO"))).unwrap();
    let epoch = var("PZ_MODARITH_EPOCH").parse().expect("PZ_MODARITH_EPOCH: an epoch number");
    write_train_pairs(&zoo, epoch, Path::new(&var("PZ_MODARITH_OUT")));
}

#[test]
fn the_exported_train_pairs_give_the_checkpoint_its_metric_loss() {
    // Different train fractions, so that each model's own pairs matter.
    let spec = spec(&[
        "grid.load.key=\"problem.train_fraction\"",
        "grid.load.values=[0.3, 0.6]",
        "checkpoint.every=1",
    ]);
    let tmp = tempfile::tempdir().unwrap();
    let zoo = ZooDir::create_or_open(&tmp.path().join("zoo"), &spec).unwrap();
    let plan = Plan::new(&spec).unwrap();
    let stop = AtomicBool::new(false);
    let run = crate::Run {
        zoo: &zoo,
        policy: &spec.checkpoint,
        device: Device::Cpu,
        cuda_graphs: false,
        fused_kernels: false,
        layout: pz_spec::Layout::Auto,
        reporter: &crate::NoReporter,
        stop: &stop,
    };
    train_population(&run, &plan.models).unwrap();
    let out = tmp.path().join("pairs.safetensors");
    write_train_pairs(&zoo, 2, &out);
    let t: HashMap<String, Tensor> = Tensor::read_safetensors(&out).unwrap().into_iter().collect();
    for m in &plan.models {
        let c = modarith(&m.config);
        let col = |k: &str| t[&format!("{}.{k}", m.id().as_str())].shallow_clone();
        let (a, b, target) = (col("a"), col("b"), col("target"));
        assert_eq!(a.size(), [c.train_pairs() as i64], "{}", m.id().as_str());
        assert_eq!(
            Vec::<i64>::try_from(&target).unwrap(),
            Vec::<i64>::try_from((&a + &b).remainder(7)).unwrap()
        );
        // By hand from the checkpoint's PyTorch tensors, as the Python bench rebuilds the model:
        // mean cross-entropy of decoder(E[a] + E[b]) over these pairs.
        let w: HashMap<String, Tensor> = crate::checkpoint_at(&zoo, m, 2)
            .unwrap()
            .model
            .iter()
            .map(|n| (n.name.clone(), pz_models::tensor_from_named(n).unwrap()))
            .collect();
        let e = &w[EMBEDDING];
        let mut h = e.index_select(0, &a) + e.index_select(0, &b);
        for l in [0, 2, 4] {
            h = h.matmul(&w[&format!("decoder.net.{l}.weight")].tr()) + &w[&format!("decoder.net.{l}.bias")];
            if l < 4 {
                h = h.tanh();
            }
        }
        // (tch's `cross_entropy_for_logits` takes its log-softmax in float32: not used here.)
        let by_hand =
            -h.log_softmax(-1, Kind::Double).gather(1, &target.unsqueeze(1), false).mean(Kind::Double);
        let by_hand = by_hand.double_value(&[]);

        let exported = f64::try_from(&col("train_loss").squeeze()).unwrap();
        assert!((by_hand - exported).abs() < 1e-12, "{}: {by_hand} vs {exported}", m.id().as_str());
    }
}
