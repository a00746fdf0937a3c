//! The transformer decoder of the modular-arithmetic family (`architecture = "gpt2"`): K stacked
//! GPT-2 stacks reading the sequence `[a, b, =]` (token `=` has id p), the logits of `a ∘ b` from
//! the last position.
//!
//! # Shapes
//! Every stacked tensor is `[K, …]` with the member's PyTorch shape after the K, so a member is
//! `t.get(k)`. Activations are `[K, N, d]` with N = 3P rows (pair-major: pair i's tokens are rows
//! 3i, 3i+1, 3i+2); a Conv1D is one `baddbmm` of `[K, N, in]` by `[K, in, out]`; attention views
//! the rows as `[K, P, heads, 3, head_dim]` and masks the future of each 3×3 score matrix. The
//! attention is written out in matmuls (no fused kernel), so the Hessian's double backward goes
//! through it. The logits read only the `=` position, so the last block computes only that one:
//! its queries, residual and MLP over P rows instead of 3P (1.7× faster a step on a CPU; the
//! other positions' keys and values are still needed).
//!
//! # Names and init
//! Under `decoder.` (docs/MODELS.md, python/phasezoo_modarith_transformer.py), per block i:
//! `h.{i}.ln_1`, `h.{i}.attn.c_attn` (Hugging Face Conv1D, weight `[d, 3d]`), `h.{i}.attn.c_proj`,
//! `h.{i}.ln_2`, `h.{i}.mlp.c_fc` (`[d, 4d]`), `h.{i}.mlp.c_proj`; then `ln_f` and `head`
//! (`nn.Linear(d, p)`, weight `[p, d]`). GPT-2's init, drawn per member from its seed's init
//! stream in that order (so a member starts alike alone or in any population): weights
//! N(0, 0.02²), the two `c_proj` weights N(0, (0.02/√(2·depth))²), biases 0, LayerNorms 1 and 0.

use pz_models::{member_rng, tensor_from_named, tensor_to_named, Stream};
use pz_spec::Gpt2Config;
use pz_store::NamedTensor;
use rand_distr::{Distribution, Normal};
use tch::{Device, Kind, Tensor};

/// GPT-2's `layer_norm_epsilon`.
const LN_EPS: f64 = 1e-5;
/// The sequence `[a, b, =]`.
pub(crate) const TOKENS: i64 = 3;
/// A block's tensors, in state-dict order.
const BLOCK: [&str; 12] = [
    "ln_1.weight",
    "ln_1.bias",
    "attn.c_attn.weight",
    "attn.c_attn.bias",
    "attn.c_proj.weight",
    "attn.c_proj.bias",
    "ln_2.weight",
    "ln_2.bias",
    "mlp.c_fc.weight",
    "mlp.c_fc.bias",
    "mlp.c_proj.weight",
    "mlp.c_proj.bias",
];
/// After the blocks.
const TAIL: [&str; 4] = ["ln_f.weight", "ln_f.bias", "head.weight", "head.bias"];

/// K stacked transformer decoders.
#[derive(Debug)]
pub(crate) struct TransformerDecoder {
    /// Residual width d, heads per block, blocks, classes p.
    pub width: i64,
    pub heads: i64,
    pub depth: usize,
    pub classes: i64,
    /// Stacked parameters in state-dict order ([`Self::names`]), leaves that require grad.
    pub params: Vec<Tensor>,
}

/// A tensor's PyTorch shape and initialization, from its name within a block or the tail;
/// `proj`: the std of the `c_proj` weights.
fn shape_and_init(local: &str, d: i64, p: i64, proj: f64) -> (Vec<i64>, Init) {
    match local {
        "ln_1.weight" | "ln_2.weight" | "ln_f.weight" => (vec![d], Init::Ones),
        "ln_1.bias" | "ln_2.bias" | "ln_f.bias" | "attn.c_proj.bias" | "mlp.c_proj.bias" => {
            (vec![d], Init::Zeros)
        }
        "attn.c_attn.weight" => (vec![d, 3 * d], Init::Normal(0.02)),
        "attn.c_attn.bias" => (vec![3 * d], Init::Zeros),
        "attn.c_proj.weight" => (vec![d, d], Init::Normal(proj)),
        "mlp.c_fc.weight" => (vec![d, 4 * d], Init::Normal(0.02)),
        "mlp.c_fc.bias" => (vec![4 * d], Init::Zeros),
        "mlp.c_proj.weight" => (vec![4 * d, d], Init::Normal(proj)),
        "head.weight" => (vec![p, d], Init::Normal(0.02)),
        "head.bias" => (vec![p], Init::Zeros),
        _ => unreachable!("{local} is not in BLOCK or TAIL"),
    }
}

/// How a tensor starts.
#[derive(Debug, Clone, Copy)]
enum Init {
    Ones,
    Zeros,
    Normal(f64),
}

impl TransformerDecoder {
    /// One member per seed with GPT-2's init (module doc), for `p` classes.
    pub(crate) fn init(seeds: &[u64], g: &Gpt2Config, p: u32, kind: Kind, device: Device) -> Self {
        let (d, p) = (i64::from(g.model_dim), i64::from(p));
        let mut this = Self {
            width: d,
            heads: i64::from(g.heads()),
            depth: g.depth as usize,
            classes: p,
            params: Vec::new(),
        };
        let locals = this.locals();
        #[allow(clippy::cast_precision_loss)]
        let proj = 0.02 / (2.0 * this.depth as f64).sqrt();
        let mut stacked: Vec<Vec<Tensor>> = locals.iter().map(|_| Vec::with_capacity(seeds.len())).collect();
        for &seed in seeds {
            let mut rng = member_rng(seed, Stream::Init);
            for (local, members) in locals.iter().zip(&mut stacked) {
                let (shape, init) = shape_and_init(local, d, p, proj);
                let n: i64 = shape.iter().product();
                let values = match init {
                    Init::Ones => vec![1.0; usize::try_from(n).expect("small")],
                    Init::Zeros => vec![0.0; usize::try_from(n).expect("small")],
                    Init::Normal(std) => {
                        let law = Normal::new(0.0, std).expect("std > 0");
                        (0..n).map(|_| law.sample(&mut rng)).collect()
                    }
                };
                members.push(Tensor::from_slice(&values).reshape(&shape).to_kind(kind));
            }
        }
        this.params = stacked
            .iter()
            .map(|members| Tensor::stack(members, 0).to_device(device).set_requires_grad(true))
            .collect();
        this
    }

    /// State-dict names under `decoder.`, in `params` order.
    pub(crate) fn names(&self) -> Vec<String> {
        (0..self.depth)
            .flat_map(|i| BLOCK.iter().map(move |n| format!("h.{i}.{n}")))
            .chain(TAIL.iter().map(|n| (*n).to_string()))
            .collect()
    }

    /// The names within their block (or the tail), in `params` order.
    fn locals(&self) -> Vec<&'static str> {
        (0..self.depth).flat_map(|_| BLOCK).chain(TAIL).collect()
    }

    /// The final hidden state at `=` after ln_f `[K, P, d]` and the logits `[K, P, p]` of every
    /// pair (`a`, `b`: `[P]` operands), at token embeddings `embedding` `[K, p + 1, d]`, positions
    /// `position` `[K, 3, d]` and decoder parameters `params` (the layout of [`Self::params`]).
    pub(crate) fn hidden_and_logits(
        &self,
        embedding: &Tensor,
        position: &Tensor,
        params: &[Tensor],
        a: &Tensor,
        b: &Tensor,
    ) -> (Tensor, Tensor) {
        let (k, d, pairs) = (embedding.size()[0], self.width, a.size()[0]);
        let equals = a.full_like(self.classes);
        let tokens = Tensor::stack(&[a, b, &equals], 1).flatten(0, 1);
        let x = embedding.index_select(1, &tokens).view([k, pairs, TOKENS, d]) + position.unsqueeze(1);
        let mut x = x.view([k, pairs * TOKENS, d]);
        for (i, block) in params[..BLOCK.len() * self.depth].chunks(BLOCK.len()).enumerate() {
            let queries = if i + 1 == self.depth { 1 } else { TOKENS };
            x = self.block(block, &x, pairs, queries);
        }
        // [K, P, d]: the `=` position's residual stream.
        let tail = &params[BLOCK.len() * self.depth..];
        let hidden = layer_norm(&x, &tail[0], &tail[1]);
        let logits = tail[3].unsqueeze(1).baddbmm(&hidden, &tail[2].transpose(1, 2), 1.0, 1.0);
        (hidden, logits)
    }

    /// One pre-LayerNorm GPT-2 block on `[K, 3P, d]`, computed for the last `queries` positions
    /// of each pair: `[K, queries·P, d]`.
    fn block(&self, p: &[Tensor], x: &Tensor, pairs: i64, queries: i64) -> Tensor {
        let (k, d) = (x.size()[0], self.width);
        let attention = self.attention(&conv1d(&layer_norm(x, &p[0], &p[1]), &p[2], &p[3]), pairs, queries);
        let residual = x.view([k, pairs, TOKENS, d]).narrow(2, TOKENS - queries, queries);
        let residual = residual.reshape([k, pairs * queries, d]);
        let x = residual + conv1d(&attention, &p[4], &p[5]);
        // `gelu_new` of GPT-2 = GELU's tanh form.
        let y = conv1d(&conv1d(&layer_norm(&x, &p[6], &p[7]), &p[8], &p[9]).gelu("tanh"), &p[10], &p[11]);
        x + y
    }

    /// Causal multi-head attention of each pair's last `queries` tokens over its 3, from c_attn's
    /// `[K, 3P, 3d]` (columns `[q | k | v]`, each split into heads in order) to
    /// `[K, queries·P, d]`, scaled by 1/√head_dim.
    fn attention(&self, qkv: &Tensor, pairs: i64, queries: i64) -> Tensor {
        let (k, d, heads) = (qkv.size()[0], self.width, self.heads);
        let head_dim = d / heads;
        // [K, P, T, 3, H, hd] → [3, K, P, H, T, hd]
        let qkv = qkv.view([k, pairs, TOKENS, 3, heads, head_dim]).permute([3, 0, 1, 4, 2, 5]);
        let (q, key, v) = (qkv.get(0).narrow(3, TOKENS - queries, queries), qkv.get(1), qkv.get(2));
        #[allow(clippy::cast_precision_loss)]
        let scale = 1.0 / (head_dim as f64).sqrt();
        // Future keys get −∞ (weight exactly 0); the diagonal never does, so no row is all −∞.
        let future = Tensor::ones([TOKENS, TOKENS], (Kind::Bool, qkv.device())).triu(1);
        let future = future.narrow(0, TOKENS - queries, queries);
        let out = (q.matmul(&key.transpose(-2, -1)) * scale)
            .masked_fill(&future, f64::NEG_INFINITY)
            .softmax(-1, None)
            .matmul(&v);
        // [K, P, H, queries, hd] → [K, P, queries, H, hd] → [K, queries·P, d]
        out.permute([0, 1, 3, 2, 4]).reshape([k, pairs * queries, d])
    }

    /// Member `k` of tensors laid out like `params` (PyTorch layout already), named `prefix` +
    /// name.
    pub(crate) fn export_member(&self, stacked: &[Tensor], k: usize, prefix: &str) -> Vec<NamedTensor> {
        let k = i64::try_from(k).expect("small");
        self.names()
            .iter()
            .zip(stacked)
            .map(|(n, t)| tensor_to_named(&format!("{prefix}{n}"), &t.get(k)))
            .collect()
    }

    /// Copy member `k`'s tensors (names `prefix` + name, PyTorch layout) into slot `k` of
    /// `stacked`, checking every name, dtype and shape before anything is copied.
    ///
    /// # Errors
    /// A message naming the tensor, what was expected and what was found.
    pub(crate) fn import_member(
        &self,
        stacked: &mut [Tensor],
        k: usize,
        prefix: &str,
        tensors: &[NamedTensor],
    ) -> Result<(), String> {
        let names = self.names();
        if tensors.len() != names.len() {
            return Err(format!("expected {} tensors named {prefix}*, got {}", names.len(), tensors.len()));
        }
        let k = i64::try_from(k).expect("small");
        let mut values = Vec::with_capacity(names.len());
        for (name, slot) in names.iter().zip(stacked.iter()) {
            let full = format!("{prefix}{name}");
            let t = tensors.iter().find(|t| t.name == full).ok_or_else(|| format!("no tensor `{full}`"))?;
            let value = tensor_from_named(t).ok_or_else(|| format!("`{full}` has dtype {:?}", t.dtype))?;
            let target = slot.get(k);
            if value.size() != target.size() || value.kind() != target.kind() {
                return Err(format!(
                    "`{full}`: expected {:?} {:?}, got {:?} {:?}",
                    target.kind(),
                    target.size(),
                    value.kind(),
                    value.size()
                ));
            }
            values.push(value);
        }
        for (slot, value) in stacked.iter_mut().zip(values) {
            tch::no_grad(|| slot.get(k).copy_(&value));
        }
        Ok(())
    }
}

/// `nn.LayerNorm(d, eps=1e-5)` of each member, `[K, N, d]` with weight and bias `[K, d]`.
fn layer_norm(x: &Tensor, weight: &Tensor, bias: &Tensor) -> Tensor {
    let d = x.size()[2];
    x.layer_norm([d], None::<Tensor>, None::<Tensor>, LN_EPS, false) * weight.unsqueeze(1) + bias.unsqueeze(1)
}

/// Hugging Face's `Conv1D` (y = x W + b, W `[in, out]`) of each member: `[K, N, in]` → `[K, N, out]`.
fn conv1d(x: &Tensor, weight: &Tensor, bias: &Tensor) -> Tensor {
    bias.unsqueeze(1).baddbmm(x, weight, 1.0, 1.0)
}
