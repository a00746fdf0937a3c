//! The family's two decoders behind one type: Liu et al.'s MLP on E_a + E_b (`architecture =
//! "mlp"`) and the GPT-2 transformer on `[a, b, =]` (`architecture = "gpt2"`). The one place of
//! the family that asks which architecture it trains; everything else (the pairs, the loss, the
//! optimizer groups, checkpoints, metrics) goes through these methods.
//!
//! What each decoder needs of the representation (the tensors trained at `train.lr`):
//! the MLP reads `embedding.weight [p, d]`; the transformer `embedding.weight [p + 1, d]` (the
//! `=` token is row p) and `position.weight [3, d]`.

use pz_models::MlpPopulation;
use pz_spec::{ModelConfig, ResolvedModel};
use pz_store::NamedTensor;
use tch::{Device, Kind, Tensor};

use super::net::{modarith, EMBEDDING};
use super::transformer::{TransformerDecoder, TOKENS};

/// The position table's name in the state dict (transformer only).
pub(crate) const POSITION: &str = "position.weight";

/// K stacked decoders of one architecture.
#[derive(Debug)]
pub(crate) enum Decoder {
    /// Liu et al.'s MLP: `embed_dim → hidden… → p`, tanh.
    Mlp(MlpPopulation),
    /// GPT-2 blocks, ln_f and a linear head on the last position.
    Transformer(TransformerDecoder),
}

impl Decoder {
    /// Fresh decoders of `members` from their seeds' init streams.
    ///
    /// # Panics
    /// An architecture spec validation refuses for this problem.
    pub(crate) fn init(members: &[&ResolvedModel], kind: Kind, device: Device) -> Self {
        let first = members[0];
        let m0 = modarith(first);
        let seeds: Vec<u64> = members.iter().map(|m| m.seed).collect();
        match &first.model {
            ModelConfig::Mlp(mlp) => {
                let mut sizes = vec![m0.embed_dim as usize];
                sizes.extend(&mlp.hidden);
                sizes.push(m0.p as usize);
                Self::Mlp(MlpPopulation::init(&seeds, &sizes, kind, device))
            }
            ModelConfig::Gpt2(g) => {
                Self::Transformer(TransformerDecoder::init(&seeds, g, m0.p, kind, device))
            }
            other => {
                panic!("a modarith population needs architecture = mlp or gpt2, not {}", other.architecture())
            }
        }
    }

    /// The representation's tensors the decoder reads: names and per-member shapes
    /// `[rows, width]`, in state-dict order (each drawn N(0, init_scale²) from the embedding
    /// stream in this order, net.rs).
    pub(crate) fn representation(&self, p: i64, embed_dim: i64) -> Vec<(&'static str, [i64; 2])> {
        match self {
            Self::Mlp(_) => vec![(EMBEDDING, [p, embed_dim])],
            Self::Transformer(t) => vec![(EMBEDDING, [p + 1, t.width]), (POSITION, [TOKENS, t.width])],
        }
    }

    /// Number of members K.
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Mlp(m) => m.len(),
            Self::Transformer(t) => usize::try_from(t.params[0].size()[0]).expect("non-negative"),
        }
    }

    /// The stacked parameters (shallow copies), in state-dict order.
    pub(crate) fn params(&self) -> Vec<Tensor> {
        let params = match self {
            Self::Mlp(m) => &m.params,
            Self::Transformer(t) => &t.params,
        };
        params.iter().map(Tensor::shallow_clone).collect()
    }

    /// What CKA's `hidden` layer compares `[K, P, w]` (the MLP's last hidden layer; the
    /// transformer's final hidden state at `=` after ln_f) and the logits `[K, P, p]` of every
    /// pair `a`, `b` (`[P]` each), at representation tensors `representation` and decoder
    /// parameters `params` (the layouts of [`Self::representation`] and [`Self::params`]).
    pub(crate) fn hidden_and_logits(
        &self,
        representation: &[Tensor],
        params: &[Tensor],
        a: &Tensor,
        b: &Tensor,
    ) -> (Tensor, Tensor) {
        let e = &representation[0];
        match self {
            Self::Mlp(_) => {
                let h = e.index_select(1, a) + e.index_select(1, b);
                MlpPopulation::hidden_and_output(params, &h)
            }
            Self::Transformer(t) => t.hidden_and_logits(e, &representation[1], params, a, b),
        }
    }

    /// Member `k` of tensors laid out like [`Self::params`], PyTorch layout, names `prefix` +
    /// name (`prefix` ends in `decoder.`).
    pub(crate) fn export_member(&self, stacked: &[Tensor], k: usize, prefix: &str) -> Vec<NamedTensor> {
        match self {
            Self::Mlp(m) => m.export_member(stacked, k, prefix),
            Self::Transformer(t) => t.export_member(stacked, k, prefix),
        }
    }

    /// Copy member `k`'s decoder tensors (names `prefix` + name) into slot `k` of `stacked`,
    /// checking names, dtypes and shapes first.
    ///
    /// # Errors
    /// [`pz_models::Error::Mismatch`] naming `model` and the tensor.
    pub(crate) fn import_member(
        &self,
        stacked: &mut [Tensor],
        k: usize,
        prefix: &str,
        tensors: &[NamedTensor],
        model: &str,
    ) -> Result<(), pz_models::Error> {
        match self {
            Self::Mlp(m) => m.import_member(stacked, k, prefix, tensors, model),
            Self::Transformer(t) => t
                .import_member(stacked, k, prefix, tensors)
                .map_err(|message| pz_models::Error::Mismatch { model: model.to_string(), message }),
        }
    }

    /// The shapes, for the log (the MLP's line as it always was), given the stacked embeddings.
    pub(crate) fn describe(&self, embedding: &Tensor) -> String {
        match self {
            Self::Mlp(m) => {
                let e = embedding.size();
                format!("p={} embed_dim={} decoder={:?}", e[1], e[2], m.sizes)
            }
            Self::Transformer(t) => format!(
                "p={} model_dim={} depth={} heads={} (transformer)",
                t.classes, t.width, t.depth, t.heads
            ),
        }
    }
}
