//! Fine-tuning a trained GPT-2 on a second corpus of other sentences.

use pz_data::text::{build_corpus, Corpus, CorpusSource, Document, SplitRule};
use pz_spec::FinetuneConfig;
use tch::Device;

use super::super::apply::evaluate_weights;
use super::super::apply::tests::trained;
use super::super::tests::tiny_corpus;
use super::finetune;
use crate::weights::{BnConditioning, FinetuneRequest, WeightsRequest};
use crate::ZooData;

/// A corpus of sentences the training corpus never has, in an order drawn from xorshift.
fn second_corpus(dir: &std::path::Path) -> Corpus {
    let lines = ["Ships sail north at dawn.", "Rain falls on the harbour.", "Sailors sing of home."];
    let mut x: u32 = 77;
    let docs: Vec<Document> = (0..20)
        .map(|d| {
            let text: String = (0..40)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    format!("{}\n", lines[x as usize % lines.len()])
                })
                .collect();
            Document { name: format!("log{d}"), text }
        })
        .collect();
    let source = CorpusSource::new("openwebtext", "generated logs for tests", Vec::new(), "none");
    build_corpus(docs.into_iter().map(Ok), &SplitRule::Tail { val_fraction: 0.2 }, &source, dir, &|_| {})
        .unwrap();
    Corpus::open(dir).unwrap()
}

#[test]
fn full_fine_tuning_learns_the_second_corpus_and_probing_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tiny_corpus(&tmp.path().join("shakespeare"));
    let (plans, weights) = trained(&tmp.path().join("zoo"), &corpus, 16);
    let target = second_corpus(&tmp.path().join("openwebtext"));
    let before = {
        let request =
            WeightsRequest { weights: &weights[..1], conditioning: BnConditioning::Keep, ensemble: false };
        evaluate_weights(&target, &plans[0], &request, Device::Cpu).unwrap().members[0]
    };
    let config = FinetuneConfig {
        dataset: "openwebtext".into(),
        modes: vec!["full".into()],
        epochs: 2,
        batch_size: 8,
        lr: 1e-2,
        weight_decay: 0.0,
        train_subset: 80,
        ..FinetuneConfig::default()
    };
    let data = ZooData::Text(Box::new(target));
    let request = FinetuneRequest { weights: &weights[0], target: &data, config: &config, probe: false };
    let after = finetune(&plans[0], &request, Device::Cpu).unwrap();
    // 20 steps on the new sentences: its validation loss falls far below the untuned model's.
    assert!(after.test_loss < before.test_loss - 1.0, "{after:?} after, {before:?} before");
    assert!(after.test_acc > before.test_acc, "{after:?} after, {before:?} before");
    // The same keys give the same numbers (the windows' stream is fixed by the seeds).
    assert_eq!(finetune(&plans[0], &request, Device::Cpu).unwrap(), after);

    let probe = FinetuneRequest { probe: true, ..request };
    let err = finetune(&plans[0], &probe, Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("tied") && err.contains("modes = [\"full\"]"), "{err}");
}
