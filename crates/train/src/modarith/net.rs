//! K modular-arithmetic models stacked: the representation (embeddings `[K, p, d]`; for the
//! transformer `[K, p + 1, d]` and positions `[K, 3, d]`) and a decoder ([`Decoder`]: an MLP,
//! weights `[K, in, out]`, or GPT-2 blocks, transformer.rs), and the table of all p² pairs, each
//! member's own train/validation split as a mask over it.
//!
//! Every member computes all p² pairs at every step (one batched product per layer) and weighs
//! them by its mask, so members with different train fractions share one population; a
//! member's loss is the mean cross-entropy over its own training pairs, and the population's
//! loss is the sum of the members' losses, whose gradient for a member's parameters is that
//! member's own gradient.
//!
//! # Names
//! Member k's state dict is that of this PyTorch module (docs/MODELS.md):
//! ```python
//! class ModArith(nn.Module):  # sizes = [embed_dim, *hidden, p]
//!     def __init__(self, p, embed_dim, hidden):
//!         super().__init__()
//!         self.embedding = nn.Embedding(p, embed_dim)
//!         self.decoder = nn.Module()
//!         self.decoder.net = nn.Sequential(Linear, Tanh, ..., Linear)   # net.0, net.2, ...
//!     def forward(self, a, b):
//!         return self.decoder.net(self.embedding(a) + self.embedding(b))
//! ```
//! The transformer's (`architecture = "gpt2"`) is python/phasezoo_modarith_transformer.py's
//! `ModArithTransformer`: `embedding.weight [p + 1, d]`, `position.weight [3, d]` and the
//! `decoder.` tensors of transformer.rs.

use pz_models::{member_rng, tensor_from_named, tensor_to_named, Stream};
use pz_spec::{ModArithConfig, ProblemConfig, ResolvedModel};
use pz_store::NamedTensor;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use tch::{Device, Kind, Tensor};

use super::decoder::Decoder;
use crate::Error;

/// The embeddings' name in the state dict.
pub(crate) const EMBEDDING: &str = "embedding.weight";
/// The decoder's prefix in the state dict.
const DECODER: &str = "decoder.";
/// The random stream of the representation's initialization (the decoder draws from
/// `Stream::Init`, the split from `Stream::Data`).
const EMBEDDING_STREAM: u64 = 2;

/// The pairs table and each member's split.
#[derive(Debug)]
pub(crate) struct PairTable {
    /// Operands and result of every pair, `[P]` int64 (P = p², pair i = (i / p, i % p)).
    pub a: Tensor,
    pub b: Tensor,
    pub target: Tensor,
    /// Per member, 1 on its training (validation) pairs, `[K, P]`.
    pub train_mask: Tensor,
    pub val_mask: Tensor,
}

/// The split of the model with `seed`: which of the P pairs it trains on, a uniform draw of
/// `n_train` of them from its data stream.
pub(crate) fn train_pairs(seed: u64, pairs: usize, n_train: usize) -> Vec<bool> {
    let mut order: Vec<usize> = (0..pairs).collect();
    order.shuffle(&mut member_rng(seed, Stream::Data));
    let mut train = vec![false; pairs];
    for &i in &order[..n_train] {
        train[i] = true;
    }
    train
}

impl PairTable {
    fn new(members: &[&ResolvedModel], kind: Kind, device: Device) -> Self {
        let m0 = modarith(members[0]);
        let p = m0.p;
        let pairs: Vec<(u32, u32)> = (0..p).flat_map(|a| (0..p).map(move |b| (a, b))).collect();
        let col = |f: &dyn Fn(&(u32, u32)) -> u32| {
            Tensor::from_slice(&pairs.iter().map(|x| i64::from(f(x))).collect::<Vec<_>>()).to_device(device)
        };
        let masks: Vec<Vec<bool>> =
            members.iter().map(|m| train_pairs(m.seed, pairs.len(), modarith(m).train_pairs())).collect();
        let mask = |want: bool| {
            let rows: Vec<Tensor> = masks
                .iter()
                .map(|t| {
                    Tensor::from_slice(&t.iter().map(|&x| f64::from(u8::from(x == want))).collect::<Vec<_>>())
                })
                .collect();
            Tensor::stack(&rows, 0).to_kind(kind).to_device(device)
        };
        Self {
            a: col(&|x| x.0),
            b: col(&|x| x.1),
            target: col(&|&(a, b)| m0.operation.apply(a, b, p)),
            train_mask: mask(true),
            val_mask: mask(false),
        }
    }
}

/// A member's problem (spec validation guarantees the kind).
pub(crate) fn modarith(m: &ResolvedModel) -> &ModArithConfig {
    let ProblemConfig::ModArith(c) = &m.problem else {
        panic!("a modarith population needs problem.kind = modarith")
    };
    c
}

/// Per-member numbers on one set of pairs, `[K]` each.
#[derive(Debug)]
pub(crate) struct SetNumbers {
    pub loss: Tensor,
    pub accuracy: Tensor,
}

/// K stacked models and their pairs.
#[derive(Debug)]
pub(crate) struct ModArithNet {
    /// The representation, leaves that require grad: the embeddings `[K, rows, d]`, then the
    /// positions `[K, 3, d]` for the transformer ([`Decoder::representation`]).
    pub representation: Vec<Tensor>,
    /// Their state-dict names.
    representation_names: Vec<&'static str>,
    /// The decoder: MLP `embed_dim → hidden… → p`, or transformer.
    pub decoder: Decoder,
    pub table: PairTable,
}

impl ModArithNet {
    /// Fresh members from their seeds: the representation N(0, init_scale²) (as
    /// `nn.Embedding`'s N(0, 1) scaled; embeddings first, positions next, from one stream), the
    /// decoder as [`Decoder::init`] (the MLP Xavier-normal with zero biases, the transformer
    /// GPT-2's init).
    pub(crate) fn new(members: &[&ResolvedModel], device: Device) -> Self {
        let first = members[0];
        let kind = pz_models::kind_of(first.train.dtype);
        let m0 = modarith(first);
        let decoder = Decoder::init(members, kind, device);
        let shapes = decoder.representation(i64::from(m0.p), i64::from(m0.embed_dim));
        let mut rows: Vec<Vec<Tensor>> = shapes.iter().map(|_| Vec::with_capacity(members.len())).collect();
        for m in members {
            let mut rng = ChaCha8Rng::seed_from_u64(m.seed);
            rng.set_stream(EMBEDDING_STREAM);
            let normal = Normal::new(0.0, modarith(m).init_scale).expect("init_scale > 0");
            for ((_, shape), stacked) in shapes.iter().zip(&mut rows) {
                let e: Vec<f64> = (0..shape[0] * shape[1]).map(|_| normal.sample(&mut rng)).collect();
                stacked.push(Tensor::from_slice(&e).reshape(shape));
            }
        }
        let representation = rows
            .iter()
            .map(|r| Tensor::stack(r, 0).to_kind(kind).to_device(device).set_requires_grad(true))
            .collect();
        Self {
            representation,
            representation_names: shapes.iter().map(|(name, _)| *name).collect(),
            decoder,
            table: PairTable::new(members, kind, device),
        }
    }

    /// The parameters in state-dict order: the representation (the first AdamW group), then
    /// the decoder's.
    pub(crate) fn params(&self) -> Vec<Tensor> {
        self.representation.iter().map(Tensor::shallow_clone).chain(self.decoder.params()).collect()
    }

    /// Logits of every pair at stacked parameters `params` (the layout of [`Self::params`]),
    /// `[K, P, p]`.
    pub(crate) fn logits_at(&self, params: &[Tensor]) -> Tensor {
        self.hidden_and_logits_at(params).1
    }

    /// [`Decoder::hidden_and_logits`] of every pair at `params` (the layout of [`Self::params`]).
    pub(crate) fn hidden_and_logits_at(&self, params: &[Tensor]) -> (Tensor, Tensor) {
        let (representation, decoder) = params.split_at(self.representation.len());
        self.decoder.hidden_and_logits(representation, decoder, &self.table.a, &self.table.b)
    }

    /// The cross-entropy of every pair, `[K, P]`.
    fn cross_entropy(&self, logits: &Tensor) -> Tensor {
        let size = logits.size();
        let target = self.table.target.view([1, size[1], 1]).expand([size[0], size[1], 1], false);
        -logits.log_softmax(-1, logits.kind()).gather(2, &target, false).squeeze_dim(2)
    }

    /// Per-member mean cross-entropy over its training (`val = false`) or validation pairs,
    /// `[K]`, with its graph to `params`.
    pub(crate) fn losses_at(&self, params: &[Tensor], val: bool) -> Tensor {
        let mask = if val { &self.table.val_mask } else { &self.table.train_mask };
        let ce = self.cross_entropy(&self.logits_at(params));
        (ce * mask).sum_dim_intlist(1, false, None) / mask.sum_dim_intlist(1, false, None)
    }

    /// Loss and accuracy of every member on its training and its validation pairs.
    pub(crate) fn evaluate(&self) -> [SetNumbers; 2] {
        tch::no_grad(|| {
            let logits = self.logits_at(&self.params());
            let ce = self.cross_entropy(&logits);
            let correct =
                logits.argmax(-1, false).eq_tensor(&self.table.target.unsqueeze(0)).to_kind(ce.kind());
            [&self.table.train_mask, &self.table.val_mask].map(|mask| {
                let n = mask.sum_dim_intlist(1, false, None);
                SetNumbers {
                    loss: (&ce * mask).sum_dim_intlist(1, false, None) / &n,
                    accuracy: (&correct * mask).sum_dim_intlist(1, false, None) / &n,
                }
            })
        })
    }

    /// Member `k` of tensors laid out like [`Self::params`], PyTorch layout, names `prefix` +
    /// state-dict name.
    pub(crate) fn export_member(&self, stacked: &[Tensor], k: usize, prefix: &str) -> Vec<NamedTensor> {
        let n = self.representation.len();
        let mut out: Vec<NamedTensor> = self
            .representation_names
            .iter()
            .zip(stacked)
            .map(|(name, t)| tensor_to_named(&format!("{prefix}{name}"), &t.get(k as i64)))
            .collect();
        out.extend(self.decoder.export_member(&stacked[n..], k, &format!("{prefix}{DECODER}")));
        out
    }

    /// Copy member `k`'s tensors named `prefix` + state-dict name from `tensors` into slot `k` of
    /// `stacked` (laid out like [`Self::params`]), checking names, dtypes and shapes first.
    pub(crate) fn import_member(
        &self,
        stacked: &mut [Tensor],
        k: usize,
        prefix: &str,
        tensors: &[NamedTensor],
        model: &str,
    ) -> Result<(), Error> {
        let mismatch = |message: String| pz_models::Error::Mismatch { model: model.to_string(), message };
        let n = self.representation.len();
        for (short, target) in self.representation_names.iter().zip(stacked.iter()) {
            let name = format!("{prefix}{short}");
            let t = tensors
                .iter()
                .find(|t| t.name == name)
                .ok_or_else(|| mismatch(format!("no tensor `{name}`")))?;
            let value =
                tensor_from_named(t).ok_or_else(|| mismatch(format!("`{name}` has dtype {:?}", t.dtype)))?;
            let mut slot = target.get(k as i64);
            if value.size() != slot.size() || value.kind() != slot.kind() {
                return Err(mismatch(format!(
                    "`{name}`: expected {:?} {:?}, got {:?} {:?}",
                    slot.kind(),
                    slot.size(),
                    value.kind(),
                    value.size()
                ))
                .into());
            }
            tch::no_grad(|| slot.copy_(&value));
        }
        let decoder_prefix = format!("{prefix}{DECODER}");
        let decoder: Vec<NamedTensor> =
            tensors.iter().filter(|t| t.name.starts_with(&decoder_prefix)).cloned().collect();
        self.decoder.import_member(&mut stacked[n..], k, &decoder_prefix, &decoder, model)?;
        Ok(())
    }
}
