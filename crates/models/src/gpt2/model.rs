//! [`Gpt2`]: one built GPT-2 language model, its var store, and its state dict under Hugging
//! Face's names.

use std::collections::HashMap;

use pz_store::NamedTensor;
use tch::nn::VarStore;
use tch::{Device, Kind, Reduction, Tensor};

use super::block::{take, Block, LayerNorm};
use super::fused_loss;
use super::layout::{draw, layout, Slot};
use super::{Gpt2Config, Gpt2ConfigError};
use crate::state_dict::{load_checked, Expected};
use crate::{member_rng, tensor_from_named, tensor_to_named, AttentionKernel, Error, Stream};

/// The state-dict key of the output head. `GPT2LMHeadModel` ties it to
/// `transformer.wte.weight` (one tensor), yet `state_dict()` lists it and
/// `load_state_dict(strict=True)` requires it, so the state dict carries the embedding twice.
pub const LM_HEAD: &str = "lm_head.weight";

/// The token embedding, which is also the output head.
const WTE: &str = "transformer.wte.weight";
/// The position embedding.
const WPE: &str = "transformer.wpe.weight";

/// Bytes of float32 logits the CPU computes at once: below glibc's largest `mmap` threshold
/// (32 MiB), so that the buffers come back from the heap instead of being mapped afresh.
const CPU_LOGIT_CHUNK_BYTES: i64 = 16 << 20;

/// The head's matrix products run on a vocabulary padded to a multiple of this many rows on
/// CUDA (see [`Gpt2::head_logits`]).
const HEAD_ROWS_MULTIPLE: i64 = 64;

/// Rows of the tied head as CUDA runs it: the vocabulary `v` padded to the next multiple of 64
/// ([`Gpt2::head_logits`]; 50,257 → 50,304).
#[must_use]
pub fn padded_vocab(v: i64) -> i64 {
    (v + HEAD_ROWS_MULTIPLE - 1) / HEAD_ROWS_MULTIPLE * HEAD_ROWS_MULTIPLE
}

/// A GPT-2 decoder whose state dict loads into `transformers.GPT2LMHeadModel` with
/// `load_state_dict(strict=True)` (python/phasezoo_gpt2.py). Pre-LayerNorm blocks, GELU (tanh),
/// learned positions, the token embedding reused as the output head, no dropout.
///
/// # Shapes
/// tokens `[N, T]` int64 (T ≤ context) → wte + wpe `[N, T, d]` → blocks → ln_f (hidden)
/// `[N, T, d]` → × wteᵀ → logits `[N, T, vocab_size]`.
#[derive(Debug)]
pub struct Gpt2 {
    config: Gpt2Config,
    vs: VarStore,
    /// Every parameter in state-dict order, sharing storage with `vs`.
    slots: Vec<(Slot, Tensor)>,
    wte: Tensor,
    wpe: Tensor,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    kernel: AttentionKernel,
    /// Whether the head pads the vocabulary ([`Gpt2::head_logits`]); `None`: on CUDA only.
    pad_head: Option<bool>,
    /// Whether the head's loss may use the fused cross-entropy (fused_loss.rs); `None`: yes
    /// unless `PHASEZOO_FUSED_CE=0`.
    fused_loss: Option<bool>,
}

impl Gpt2 {
    /// Build the model in float32 on `device` and initialize it from `seed`'s init stream
    /// ([`member_rng`]`(seed, Stream::Init)`), drawn on the CPU in state-dict order: the same
    /// seed gives the same weights on every device and in every thread.
    ///
    /// # Errors
    /// The config's [`Gpt2Config::validate`] problems.
    pub fn new(config: &Gpt2Config, device: Device, seed: u64) -> Result<Self, Gpt2ConfigError> {
        config.validate()?;
        let vs = VarStore::new(device);
        let slots: Vec<(Slot, Tensor)> = layout(config)
            .into_iter()
            .map(|slot| {
                let (path, name) = slot.name.rsplit_once('.').expect("dotted state-dict key");
                let p = path.split('.').fold(vs.root(), |p, part| p.sub(part));
                // A constant placeholder: building draws nothing from libtorch's generator.
                let t = p.var(name, &slot.shape, tch::nn::Init::Const(0.0));
                (slot, t)
            })
            .collect();
        let mut rng = member_rng(seed, Stream::Init);
        tch::no_grad(|| {
            for (slot, t) in &slots {
                t.shallow_clone().copy_(&draw(slot.init, &slot.shape, &mut rng));
            }
        });
        let params: HashMap<String, Tensor> =
            slots.iter().map(|(s, t)| (s.name.clone(), t.shallow_clone())).collect();
        Ok(Self {
            config: config.clone(),
            wte: take(&params, WTE),
            wpe: take(&params, WPE),
            blocks: (0..config.depth).map(|i| Block::new(&params, i, config.heads)).collect(),
            ln_f: LayerNorm::new(&params, "transformer.ln_f"),
            vs,
            slots,
            kernel: AttentionKernel::default(),
            pad_head: None,
            fused_loss: None,
        })
    }

    /// The config it was built from.
    #[must_use]
    pub fn config(&self) -> &Gpt2Config {
        &self.config
    }

    /// The device of its parameters.
    #[must_use]
    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// The var store (for tch's optimizers, `freeze`).
    #[must_use]
    pub fn var_store(&self) -> &VarStore {
        &self.vs
    }

    /// Cast every parameter to `kind` in place (e.g. `Kind::Double` for finite-difference
    /// checks); the tensors keep their identity, so earlier [`Gpt2::parameters`] lists follow.
    pub fn set_kind(&mut self, kind: Kind) {
        self.vs.set_kind(kind);
    }

    /// How attention is computed. Use [`AttentionKernel::Explicit`] when differentiating twice
    /// (Hessian-vector products); [`AttentionKernel::Fused`] (the default) otherwise.
    pub fn set_attention_kernel(&mut self, kernel: AttentionKernel) {
        self.kernel = kernel;
    }

    /// The final hidden states after `ln_f`, `[N, T, d]`, of tokens `[N, T]` (int64 ids below
    /// `vocab_size`; T at most `context`). What CKA compares between models.
    ///
    /// # Panics
    /// If tokens are not `[N, T]` with T in `1..=context`.
    pub fn hidden(&self, tokens: &Tensor) -> Tensor {
        self.hidden_of(&self.wte, &self.wpe, &self.blocks, &self.ln_f, tokens)
    }

    /// Next-token logits `[N, T, vocab_size]` of tokens `[N, T]`: the hidden states times the
    /// token embedding (the tied head, `lm_head` without bias).
    pub fn forward(&self, tokens: &Tensor) -> Tensor {
        self.head_logits(&self.hidden(tokens), &self.wte)
    }

    /// Pad the head's vocabulary ([`Gpt2::head_logits`]) whatever the device (`Some(true)`),
    /// never (`Some(false)`), or on CUDA only (`None`, the default).
    pub fn set_head_padding(&mut self, pad: Option<bool>) {
        self.pad_head = pad;
    }

    /// Let the head's loss use the fused cross-entropy kernels where they apply (bf16 logits on
    /// CUDA; `Some(true)`), never (`Some(false)`), or unless `PHASEZOO_FUSED_CE=0` says no
    /// (`None`, the default).
    pub fn set_fused_loss(&mut self, fused: Option<bool>) {
        self.fused_loss = fused;
    }

    /// Logits `[.., V]` of `hidden` `[.., d]` against the tied embedding `wte` `[V, d]`. On
    /// CUDA, when V is not a multiple of 64 (GPT-2's 50,257), the product runs on `wte` padded
    /// with zero rows to the next multiple (50,304, nanoGPT's choice) and the logits are its
    /// first V columns: the same numbers, but every matrix the head's three products read or
    /// write then has rows that start 16-byte aligned, which cuBLAS's fast bf16 kernels need.
    /// Unpadded, the three ran in a generic kernel taking 15.4 ms of a 124M step's 41.7 ms of
    /// GPU time on an H100 (BENCHMARKS.md, issue 22 profile). The padding's gradient rows are
    /// dropped by the pad's own backward, so `wte`'s gradient is unchanged.
    fn head_logits(&self, hidden: &Tensor, wte: &Tensor) -> Tensor {
        let v = wte.size()[0];
        let padded = self.padded_head_logits(hidden, wte);
        if padded.size().last() == Some(&v) {
            padded
        } else {
            padded.narrow(-1, 0, v)
        }
    }

    /// [`Gpt2::head_logits`] before it drops the padding columns (they are exact zeros).
    fn padded_head_logits(&self, hidden: &Tensor, wte: &Tensor) -> Tensor {
        let v = wte.size()[0];
        let pad = padded_vocab(v) - v;
        if pad == 0 || !self.pad_head.unwrap_or_else(|| self.device().is_cuda()) {
            return hidden.linear(wte, None::<Tensor>);
        }
        hidden.linear(&wte.constant_pad_nd([0, 0, 0, pad]), None::<Tensor>)
    }

    /// Mean cross-entropy (nats per token) of predicting `targets` `[N, T]` from `tokens`
    /// `[N, T]`; targets equal to −100 are ignored, as in PyTorch's `cross_entropy`. For a
    /// window w of T + 1 tokens: tokens = w[..T], targets = w[1..].
    pub fn loss(&self, tokens: &Tensor, targets: &Tensor) -> Tensor {
        self.head_loss(&self.hidden(tokens), &self.wte, targets)
    }

    /// Rows of logits [`Gpt2::loss`] computes at once on this model's device: all (`None`) on
    /// CUDA; on the CPU as many as fit 16 MiB of float32 (83 rows of GPT-2's vocabulary), which
    /// callers evaluating logits themselves should use too (see `head_loss`).
    #[must_use]
    pub fn logit_rows_at_once(&self) -> Option<i64> {
        (!self.device().is_cuda()).then(|| (CPU_LOGIT_CHUNK_BYTES / (4 * self.config.vocab_size)).max(1))
    }

    /// [`Gpt2::hidden`] at other weights: `params` maps every name of
    /// [`Gpt2::parameter_names`] to a tensor of that parameter's shape (a point between two
    /// trained models, say, with its autograd graph). The model's own weights are not read;
    /// its config and attention kernel are.
    ///
    /// # Panics
    /// If a name is missing from `params`, or as [`Gpt2::hidden`].
    pub fn hidden_with(&self, params: &HashMap<String, Tensor>, tokens: &Tensor) -> Tensor {
        let blocks: Vec<Block> =
            (0..self.config.depth).map(|i| Block::new(params, i, self.config.heads)).collect();
        let ln_f = LayerNorm::new(params, "transformer.ln_f");
        self.hidden_of(&take(params, WTE), &take(params, WPE), &blocks, &ln_f, tokens)
    }

    /// [`Gpt2::forward`] at the weights `params` (see [`Gpt2::hidden_with`]).
    ///
    /// # Panics
    /// As [`Gpt2::hidden_with`].
    pub fn forward_with(&self, params: &HashMap<String, Tensor>, tokens: &Tensor) -> Tensor {
        self.head_logits(&self.hidden_with(params, tokens), &take(params, WTE))
    }

    /// [`Gpt2::loss`] at the weights `params` (see [`Gpt2::hidden_with`]).
    ///
    /// # Panics
    /// As [`Gpt2::hidden_with`].
    pub fn loss_with(&self, params: &HashMap<String, Tensor>, tokens: &Tensor, targets: &Tensor) -> Tensor {
        self.head_loss(&self.hidden_with(params, tokens), &take(params, WTE), targets)
    }

    /// The decoder stack on given tensors: embeddings, blocks, final LayerNorm.
    fn hidden_of(
        &self,
        wte: &Tensor,
        wpe: &Tensor,
        blocks: &[Block],
        ln_f: &LayerNorm,
        tokens: &Tensor,
    ) -> Tensor {
        let (_, t) = tokens.size2().expect("tokens [N, T]");
        assert!(
            (1..=self.config.context).contains(&t),
            "{} tokens per row for a context of {}",
            t,
            self.config.context
        );
        // Positions 0..T, the same for every row: broadcast [T, d] over N.
        let x = Tensor::embedding(wte, tokens, -1, false, false) + wpe.narrow(0, 0, t);
        let x = blocks.iter().fold(x, |x, block| block.forward(&x, self.kernel));
        ln_f.forward(&x)
    }

    /// Mean cross-entropy of the head's logits (hidden `[N, T, d]` × `wte`ᵀ) against `targets`
    /// `[N, T]`, targets of −100 ignored. On the CPU the rows go through the head in chunks of
    /// [`Gpt2::logit_rows_at_once`]: glibc serves each buffer above 32 MiB by a fresh `mmap`,
    /// so whole-batch logits (`[N·T, 50257]`, hundreds of MiB) cost page faults on every
    /// step, as much system time as the arithmetic takes (measured on 2 cores, head and loss of
    /// 1024 rows at width 64 with backward: 0.38 s whole, 0.22 s in chunks of 64 rows; a
    /// phasezoo epoch of 40 such steps with its evaluations: 18 s before, 11 s after). The
    /// same sum, in another order.
    fn head_loss(&self, hidden: &Tensor, wte: &Tensor, targets: &Tensor) -> Tensor {
        let d = self.config.model_dim;
        let (hidden, targets) = (hidden.reshape([-1, d]), targets.reshape([-1]));
        let ce = |h: &Tensor, t: &Tensor, reduction| {
            let padded = self.padded_head_logits(h, wte);
            let v = wte.size()[0];
            // bf16 logits on CUDA (training under autocast), when switched on: one kernel each
            // way (fused_loss.rs).
            let fused = if self.fused_loss.unwrap_or_else(fused_loss::switched_on) {
                fused_loss::cross_entropy(&padded, t, v, reduction)
            } else {
                None
            };
            fused.unwrap_or_else(|| {
                let logits = if padded.size()[1] == v { padded } else { padded.narrow(1, 0, v) };
                logits.cross_entropy_loss::<Tensor>(t, None, reduction, -100, 0.0)
            })
        };
        let rows = hidden.size()[0];
        match self.logit_rows_at_once() {
            Some(chunk) if chunk < rows => {
                let counted = targets.ne(-100).sum(hidden.kind());
                let sum = (0..rows)
                    .step_by(usize::try_from(chunk).expect("positive"))
                    .map(|s| {
                        let n = chunk.min(rows - s);
                        ce(&hidden.narrow(0, s, n), &targets.narrow(0, s, n), Reduction::Sum)
                    })
                    .reduce(|a, b| a + b)
                    .expect("at least one row");
                sum / counted
            }
            _ => ce(&hidden, &targets, Reduction::Mean),
        }
    }

    /// The trainable parameters in state-dict order, the tied embedding once.
    #[must_use]
    pub fn parameters(&self) -> Vec<Tensor> {
        self.slots.iter().map(|(_, t)| t.shallow_clone()).collect()
    }

    /// Names of [`Gpt2::parameters`], same order.
    #[must_use]
    pub fn parameter_names(&self) -> Vec<String> {
        self.slots.iter().map(|(s, _)| s.name.clone()).collect()
    }

    /// The parameters AdamW decays: those of 2 or more dims (every Conv1D weight, wte and
    /// wpe), as nanoGPT's `configure_optimizers`. State-dict order.
    #[must_use]
    pub fn decayed_parameters(&self) -> Vec<Tensor> {
        self.slots.iter().filter(|(s, _)| s.decays()).map(|(_, t)| t.shallow_clone()).collect()
    }

    /// Per parameter ([`Gpt2::parameters`] order): whether it is an operand of a block's
    /// `addmm` (a Conv1D weight or bias), which bf16 autocast casts afresh in every step. Not
    /// the embeddings (the lookup reads float32; the head casts its padded copy) nor the
    /// LayerNorms (float32 under autocast).
    #[must_use]
    pub fn matmul_operands(&self) -> Vec<bool> {
        self.slots.iter().map(|(s, _)| s.matmul_operand).collect()
    }

    /// The rest: biases and LayerNorm weights and biases. State-dict order.
    #[must_use]
    pub fn undecayed_parameters(&self) -> Vec<Tensor> {
        self.slots.iter().filter(|(s, _)| !s.decays()).map(|(_, t)| t.shallow_clone()).collect()
    }

    /// Number of trainable scalars (equals [`Gpt2Config::parameter_count`]).
    #[must_use]
    pub fn parameter_count(&self) -> i64 {
        let numel: usize = self.slots.iter().map(|(_, t)| t.numel()).sum();
        i64::try_from(numel).expect("fewer than 2^63 parameters")
    }

    /// `GPT2LMHeadModel.state_dict()`, in its order: the parameters, then [`LM_HEAD`] (the
    /// token embedding again). Detached views sharing storage with the model; copy before
    /// mutating.
    #[must_use]
    pub fn state_dict(&self) -> Vec<(String, Tensor)> {
        let mut out: Vec<(String, Tensor)> =
            self.slots.iter().map(|(s, t)| (s.name.clone(), t.detach())).collect();
        out.push((LM_HEAD.to_string(), self.wte.detach()));
        out
    }

    /// [`Gpt2::state_dict`] as the store's checkpoint tensors (copied to the CPU).
    #[must_use]
    pub fn named_tensors(&self) -> Vec<NamedTensor> {
        self.state_dict().iter().map(|(k, t)| tensor_to_named(k, t)).collect()
    }

    /// Copy `named` into the model (any device, float kinds converted). Checks everything
    /// before copying anything: every parameter present, nothing unknown, shapes equal,
    /// floats only. [`LM_HEAD`] may be absent (Hugging Face's `save_pretrained` drops tied
    /// keys); when present it must equal the given `transformer.wte.weight`, since the model
    /// has one tensor for both.
    ///
    /// # Errors
    /// [`Error::Mismatch`] naming each missing, extra, misshapen or untied key.
    pub fn load_state_dict(&mut self, named: &[(String, Tensor)]) -> Result<(), Error> {
        let expected: Vec<Expected<'_>> = self
            .slots
            .iter()
            .map(|(s, t)| Expected { name: &s.name, shape: &s.shape, kind: Kind::Float, tensor: t })
            .collect();
        load_checked(&self.config.to_string(), &expected, named, &[LM_HEAD], |by_name| {
            let (Some(head), Some(wte)) = (by_name.get(LM_HEAD), by_name.get(WTE)) else { return vec![] };
            let tied =
                head.size() == wte.size() && head.to_device(wte.device()).to_kind(wte.kind()).equal(wte);
            if tied {
                vec![]
            } else {
                vec![format!("{LM_HEAD} differs from {WTE}: the model ties them (one tensor)")]
            }
        })
    }

    /// [`Gpt2::load_state_dict`] from the store's checkpoint tensors.
    ///
    /// # Errors
    /// [`Error::Mismatch`] as there, or naming a tensor of a dtype phasezoo does not use.
    pub fn load_named(&mut self, named: &[NamedTensor]) -> Result<(), Error> {
        let tensors = named
            .iter()
            .map(|n| {
                tensor_from_named(n).map(|t| (n.name.clone(), t)).ok_or_else(|| Error::Mismatch {
                    model: self.config.to_string(),
                    message: format!("{}: unsupported dtype {:?}", n.name, n.dtype),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.load_state_dict(&tensors)
    }
}
