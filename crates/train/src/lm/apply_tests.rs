//! Scoring GPT-2s at given weights against a brute-force computation on the same windows.

use std::sync::atomic::AtomicBool;

use pz_models::gpt2::Gpt2;
use pz_spec::{Plan, PlannedModel, ZooSpec};
use pz_store::{NamedTensor, ZooDir};
use tch::{Device, Kind, Tensor};

use super::super::data::even_windows;
use super::super::population::train_lm_model;
use super::super::tests::tiny_corpus;
use super::super::trainer::net_config;
use super::{evaluate_weights, EVAL_WINDOWS};
use crate::weights::{BnConditioning, WeightsRequest};
use crate::{checkpoint_at, NoReporter, Run};

const SMALL: &str = include_str!("../../../../examples/shakespeare-gpt2-small.toml");

fn spec(width: u32) -> ZooSpec {
    let overrides = [
        format!("grid.load.values=[{width}]"),
        "grid.temperature.values=[8]".into(),
        "grid.seeds=[0, 1]".into(),
        "model.depth=1".into(),
        "model.head_dim=8".into(),
        "model.context=16".into(),
        "train.epochs=1".into(),
        "train.steps_per_epoch=30".into(),
        "train.lr=3e-2".into(),
        "train.min_lr=3e-3".into(),
        "train.warmup_steps=5".into(),
        "problem.eval_windows=8".into(),
    ];
    ZooSpec::parse(SMALL, "t", &overrides).unwrap()
}

/// Two trained seeds' plans and state dicts at epoch 1.
pub(crate) fn trained(
    dir: &std::path::Path,
    corpus: &pz_data::text::Corpus,
    width: u32,
) -> (Vec<PlannedModel>, Vec<Vec<NamedTensor>>) {
    let spec = spec(width);
    let zoo = ZooDir::create_or_open(dir, &spec).unwrap();
    let plan = Plan::new(&spec).unwrap();
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
    let weights = plan
        .models
        .iter()
        .map(|m| {
            train_lm_model(&run, m, corpus).unwrap();
            checkpoint_at(&zoo, m, 1).unwrap().model
        })
        .collect();
    (plan.models, weights)
}

/// The model of `plan` loaded with `weights`.
fn loaded(plan: &PlannedModel, weights: &[NamedTensor]) -> Gpt2 {
    let mut model = Gpt2::new(&net_config(&plan.config).unwrap(), Device::Cpu, plan.config.seed).unwrap();
    model.load_named(weights).unwrap();
    model
}

/// Log-probabilities `[N·T, V]` (float64) of `model` on a split's evaluation windows, and the
/// targets `[N·T]`.
fn log_probs(model: &Gpt2, file: &pz_data::text::TokenFile) -> (Tensor, Tensor) {
    let w = even_windows(file, EVAL_WINDOWS, 16, Device::Cpu).unwrap();
    let logits = tch::no_grad(|| model.forward(&w.inputs));
    let v = logits.size()[2];
    (logits.reshape([-1, v]).log_softmax(-1, Kind::Double), w.targets.reshape([-1]))
}

/// Mean negative log-likelihood and accuracy of log-probabilities at the targets.
fn nll_and_accuracy(log_p: &Tensor, targets: &Tensor) -> (f64, f64) {
    let nll = -log_p.gather(1, &targets.unsqueeze(1), false).mean(Kind::Double).double_value(&[]);
    let acc = log_p.argmax(-1, false).eq_tensor(targets).to_kind(Kind::Double).mean(Kind::Double);
    (nll, acc.double_value(&[]))
}

#[test]
fn members_and_their_ensemble_score_as_computed_by_hand() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tiny_corpus(&tmp.path().join("shakespeare"));
    let (plans, weights) = trained(&tmp.path().join("zoo"), &corpus, 16);
    let request = WeightsRequest { weights: &weights, conditioning: BnConditioning::Keep, ensemble: true };
    let scores = evaluate_weights(&corpus, &plans[0], &request, Device::Cpu).unwrap();
    assert_eq!(scores.members.len(), 2);
    let models: Vec<Gpt2> = plans.iter().zip(&weights).map(|(p, w)| loaded(p, w)).collect();
    for (split, file) in [(0, &corpus.train), (1, &corpus.val)] {
        let per_model: Vec<(Tensor, Tensor)> = models.iter().map(|m| log_probs(m, file)).collect();
        for (k, (log_p, targets)) in per_model.iter().enumerate() {
            let (nll, acc) = nll_and_accuracy(log_p, targets);
            let s = &scores.members[k];
            let (loss, got_acc) =
                if split == 0 { (s.train_loss, s.train_acc) } else { (s.test_loss, s.test_acc) };
            assert!((loss - nll).abs() < 1e-5 * nll, "member {k} split {split}: {loss} vs {nll}");
            assert!((got_acc - acc).abs() < 1e-12, "member {k} split {split}: accuracy {got_acc} vs {acc}");
        }
        // The ensemble: the mean of the two models' probabilities.
        let mean = (per_model[0].0.exp() + per_model[1].0.exp()) / 2.0;
        let (nll, acc) = nll_and_accuracy(&mean.log(), &per_model[0].1);
        let e = scores.ensemble.unwrap();
        let (loss, got_acc) =
            if split == 0 { (e.train_loss, e.train_acc) } else { (e.test_loss, e.test_acc) };
        assert!((loss - nll).abs() < 1e-5 * nll, "ensemble split {split}: {loss} vs {nll}");
        assert!((got_acc - acc).abs() < 1e-12, "ensemble split {split}: accuracy {got_acc} vs {acc}");
        // Jensen: the log of a mean probability is at least the mean of the logs.
        let members = &scores.members;
        let mean_member = if split == 0 {
            (members[0].train_loss + members[1].train_loss) / 2.0
        } else {
            (members[0].test_loss + members[1].test_loss) / 2.0
        };
        assert!(loss <= mean_member + 1e-9, "ensemble {loss} above its members' mean {mean_member}");
    }
    // Both seeds trained: well below a uniform guess over GPT-2's vocabulary (ln 50257 = 10.8).
    assert!(scores.members.iter().all(|s| s.test_loss < 8.0), "{:?}", scores.members);

    // An ensemble of one model twice is that model.
    let twice = [weights[0].clone(), weights[0].clone()];
    let request = WeightsRequest { weights: &twice, conditioning: BnConditioning::Keep, ensemble: true };
    let same = evaluate_weights(&corpus, &plans[0], &request, Device::Cpu).unwrap();
    let (e, m) = (same.ensemble.unwrap(), same.members[0]);
    assert!(
        (e.test_loss - m.test_loss).abs() < 1e-6 * m.test_loss && e.test_acc == m.test_acc,
        "{e:?} vs {m:?}"
    );
    // The same weights score the same (float32 sums on the CPU may round differently).
    let (a, b) = (same.members[0], scores.members[0]);
    assert!(
        (a.test_loss - b.test_loss).abs() < 1e-6 * b.test_loss && a.test_acc == b.test_acc,
        "{a:?} vs {b:?}"
    );
}

#[test]
fn weights_of_another_width_are_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tiny_corpus(&tmp.path().join("shakespeare"));
    let (plans, _) = trained(&tmp.path().join("a"), &corpus, 16);
    let (_, wider) = trained(&tmp.path().join("b"), &corpus, 24);
    let request =
        WeightsRequest { weights: &wider[..1], conditioning: BnConditioning::Keep, ensemble: false };
    let err = evaluate_weights(&corpus, &plans[0], &request, Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("transformer.wte.weight"), "{err}");
}
