//! The layers of a GPT-2 block as Hugging Face's `GPT2Block` computes them: pre-LayerNorm,
//! causal self-attention, a GELU (tanh) MLP, both added to the residual stream. No dropout: the
//! zoo trains without it, and the models stay deterministic functions of their weights.
//!
//! # Shapes
//! `[N, T, d]` → ln_1 → c_attn `[N, T, 3d]` → q, k, v `[N, heads, T, head_dim]` → causal
//! attention `[N, heads, T, head_dim]` → `[N, T, d]` → attn.c_proj → + residual → ln_2 → c_fc
//! `[N, T, 4d]` → GELU → mlp.c_proj `[N, T, d]` → + residual.

use std::collections::HashMap;

use tch::{Kind, Tensor};

use crate::AttentionKernel;

/// GPT-2's `layer_norm_epsilon`.
const LN_EPS: f64 = 1e-5;

/// The tensor of `name` among the model's bound parameters.
///
/// # Panics
/// If the layout has no such entry: a bug in layout.rs or here.
pub(crate) fn take(params: &HashMap<String, Tensor>, name: &str) -> Tensor {
    params.get(name).unwrap_or_else(|| panic!("the GPT-2 layout has no {name}")).shallow_clone()
}

/// `nn.LayerNorm(d, eps=1e-5)` over the last dim.
#[derive(Debug)]
pub(crate) struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
}

impl LayerNorm {
    pub fn new(params: &HashMap<String, Tensor>, name: &str) -> Self {
        Self { weight: take(params, &format!("{name}.weight")), bias: take(params, &format!("{name}.bias")) }
    }

    pub fn forward(&self, xs: &Tensor) -> Tensor {
        let d = self.weight.size()[0];
        xs.layer_norm([d], Some(&self.weight), Some(&self.bias), LN_EPS, true)
    }
}

/// Hugging Face's `Conv1D`: y = x W + b with W `[in, out]`, as one `addmm` on the rows (the
/// bias fused into the matrix product, as `Conv1D.forward` does).
#[derive(Debug)]
struct Conv1d {
    weight: Tensor,
    bias: Tensor,
}

impl Conv1d {
    fn new(params: &HashMap<String, Tensor>, name: &str) -> Self {
        Self { weight: take(params, &format!("{name}.weight")), bias: take(params, &format!("{name}.bias")) }
    }

    /// `[N, T, in]` → `[N, T, out]`.
    fn forward(&self, xs: &Tensor) -> Tensor {
        let (n, t, d_in) = xs.size3().expect("[N, T, d]");
        self.bias.addmm(&xs.reshape([n * t, d_in]), &self.weight).view([n, t, -1])
    }
}

/// One `GPT2Block`.
#[derive(Debug)]
pub(crate) struct Block {
    ln_1: LayerNorm,
    c_attn: Conv1d,
    attn_proj: Conv1d,
    ln_2: LayerNorm,
    c_fc: Conv1d,
    mlp_proj: Conv1d,
    heads: i64,
}

impl Block {
    /// Block `i` over the bound parameters of a model with `heads` heads per block.
    pub fn new(params: &HashMap<String, Tensor>, i: i64, heads: i64) -> Self {
        let h = format!("transformer.h.{i}");
        Self {
            ln_1: LayerNorm::new(params, &format!("{h}.ln_1")),
            c_attn: Conv1d::new(params, &format!("{h}.attn.c_attn")),
            attn_proj: Conv1d::new(params, &format!("{h}.attn.c_proj")),
            ln_2: LayerNorm::new(params, &format!("{h}.ln_2")),
            c_fc: Conv1d::new(params, &format!("{h}.mlp.c_fc")),
            mlp_proj: Conv1d::new(params, &format!("{h}.mlp.c_proj")),
            heads,
        }
    }

    /// `[N, T, d]` → `[N, T, d]`.
    pub fn forward(&self, xs: &Tensor, kernel: AttentionKernel) -> Tensor {
        let x = xs + self.attention(&self.ln_1.forward(xs), kernel);
        // `gelu_new` of GPT-2: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) = GELU's tanh form.
        let y = self.mlp_proj.forward(&self.c_fc.forward(&self.ln_2.forward(&x)).gelu("tanh"));
        x + y
    }

    /// Causal multi-head self-attention of `GPT2Attention`, scaled by 1/√head_dim.
    fn attention(&self, xs: &Tensor, kernel: AttentionKernel) -> Tensor {
        let (n, t, d) = xs.size3().expect("[N, T, d]");
        let head_dim = d / self.heads;
        // c_attn's columns are [q | k | v], each d wide and split into heads in order:
        // [N, T, 3d] → three [N, T, d] views → [N, heads, T, head_dim] each.
        let (q, k, v) = crate::vision::split_heads(&self.c_attn.forward(xs), n, t, self.heads, head_dim);
        let out = match kernel {
            AttentionKernel::Fused => {
                Tensor::scaled_dot_product_attention(&q, &k, &v, None::<Tensor>, 0.0, true, None, false)
            }
            AttentionKernel::Explicit => explicit_causal_attention(&q, &k, &v),
        };
        // [N, heads, T, head_dim] → [N, T, d]
        self.attn_proj.forward(&out.transpose(1, 2).reshape([n, t, d]))
    }
}

/// softmax(q kᵀ/√head_dim + causal mask) v from matmuls: every op has a derivative of its
/// backward, so Hessian-vector products can differentiate through it twice. Future keys get
/// −∞ before the softmax, hence weight exactly 0; the diagonal is never masked, so no row is
/// all −∞.
fn explicit_causal_attention(q: &Tensor, k: &Tensor, v: &Tensor) -> Tensor {
    let (t, head_dim) = (q.size()[2], q.size()[3]);
    #[allow(clippy::cast_precision_loss)]
    let scale = 1.0 / (head_dim as f64).sqrt();
    let future = Tensor::ones([t, t], (Kind::Bool, q.device())).triu(1);
    (q.matmul(&k.transpose(-2, -1)) * scale)
        .masked_fill(&future, f64::NEG_INFINITY)
        .softmax(-1, None)
        .matmul(v)
}
