//! A small Vision Transformer for 32×32 (CIFAR) and 28×28 (Fashion-MNIST) images, with
//! torchvision's `VisionTransformer` parameter names and init (Dosovitskiy et al. 2021, "An
//! Image is Worth 16x16 Words"). The original's ViT code is not public; docs/MODELS.md gives
//! the choices (patch 4, depth 6, head dim 16, MLP ratio 4, no dropout) and why.
//!
//! # Shapes
//! `[N, C, S, S]` → conv_proj `[N, d, S/p, S/p]` → tokens `[N, L, d]` (L = (S/p)²) →
//! class token first `[N, L+1, d]` + pos_embedding → `depth` pre-norm blocks → encoder.ln →
//! token 0 `[N, d]` → heads.head → logits `[N, classes]`.
//!
//! # Names
//! `class_token [1, 1, d]`, `conv_proj`, `encoder.pos_embedding [1, L+1, d]`,
//! `encoder.layers.encoder_layer_{i}.{ln_1, self_attention.{in_proj_weight [3d, d],
//! in_proj_bias, out_proj}, ln_2, mlp.0, mlp.3}`, `encoder.ln`, `heads.head`: the attention
//! is `torch.nn.MultiheadAttention(d, d / head_dim, batch_first=True)`, rows of
//! `in_proj_weight` ordered q, k, v.

use tch::Tensor;

use super::init::Init;
use super::layout::{Layout, Positions};
use super::VisionModelConfig;

/// How attention is computed; both give the same numbers (to float rounding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AttentionKernel {
    /// `scaled_dot_product_attention` (flash / memory-efficient kernels): fastest, but libtorch
    /// has no double backward for it ("derivative for
    /// aten::_scaled_dot_product_flash_attention_for_cpu_backward is not implemented").
    #[default]
    Fused,
    /// softmax(q kᵀ / √head_dim) v from matmuls: twice differentiable, for Hessian-vector
    /// products.
    Explicit,
}

/// q, k, v `[N, heads, T, head_dim]` of an in-projection's output `[N, T, 3·heads·head_dim]`
/// (columns [q | k | v], each split into heads in order), as views of it.
///
/// `split`, not three `select`s of a `[3, …]` view: both give the same views (same strides,
/// so the same attention), but a `select`'s backward writes its gradient into a zero-filled
/// tensor of the whole projection, three fills, three copies and two whole-size additions a
/// layer, where `split`'s backward is one concatenation. On an H100, GPT-2 small's step spent
/// about 3 ms of its 42 there (BENCHMARKS.md, issue 22 profile: 36 fills, 48 copies, 24 of the
/// 51 additions).
pub(crate) fn split_heads(
    qkv: &Tensor,
    n: i64,
    t: i64,
    heads: i64,
    head_dim: i64,
) -> (Tensor, Tensor, Tensor) {
    let parts = qkv.split(heads * head_dim, -1);
    let per_head = |x: &Tensor| x.view([n, t, heads, head_dim]).transpose(1, 2);
    (per_head(&parts[0]), per_head(&parts[1]), per_head(&parts[2]))
}

/// torchvision's `LayerNorm(eps=1e-6)` (`partial(nn.LayerNorm, eps=1e-6)`).
const LN_EPS: f64 = 1e-6;

/// The state dict, in torchvision's order (the module's own `class_token` first, then
/// `conv_proj`, `encoder`, `heads`). Init: torchvision's `VisionTransformer.__init__`,
/// `MLPBlock` and `nn.MultiheadAttention._reset_parameters`.
pub(crate) fn layout(cfg: &VisionModelConfig) -> Layout {
    let (d, p) = (cfg.width, cfg.patch_size);
    let mut l = Layout::default();
    l.param("class_token", &[1, 1, d], Init::Const(0.0));
    let fan_in = f64::from(i32::try_from(cfg.in_channels * p * p).expect("small fan-in"));
    l.param("conv_proj.weight", &[d, cfg.in_channels, p, p], Init::TruncNormal((1.0 / fan_in).sqrt()));
    l.param("conv_proj.bias", &[d], Init::Const(0.0));
    l.param("encoder.pos_embedding", &[1, tokens(cfg) + 1, d], Init::Normal(0.02));
    for i in 0..cfg.depth {
        let b = format!("encoder.layers.encoder_layer_{i}");
        l.layer_norm(&format!("{b}.ln_1"), d);
        l.param(format!("{b}.self_attention.in_proj_weight"), &[3 * d, d], Init::XavierUniform);
        l.param(format!("{b}.self_attention.in_proj_bias"), &[3 * d], Init::Const(0.0));
        // out_proj keeps nn.Linear's own init; MHA zeroes only its bias.
        l.linear(&format!("{b}.self_attention.out_proj"), d, d, Init::LinearDefault, Init::Const(0.0));
        l.layer_norm(&format!("{b}.ln_2"), d);
        let m = cfg.mlp_ratio * d;
        l.linear(&format!("{b}.mlp.0"), d, m, Init::XavierUniform, Init::Normal(1e-6));
        l.linear(&format!("{b}.mlp.3"), m, d, Init::XavierUniform, Init::Normal(1e-6));
    }
    l.layer_norm("encoder.ln", d);
    // torchvision zeroes the head (no representation layer): logits start at 0.
    l.linear("heads.head", d, cfg.classes, Init::Const(0.0), Init::Const(0.0));
    l
}

/// Patches per image.
fn tokens(cfg: &VisionModelConfig) -> i64 {
    let side = cfg.image_size / cfg.patch_size;
    side * side
}

/// A weight and a bias, by their places in the trainable list.
#[derive(Debug, Clone, Copy)]
struct Affine {
    weight: usize,
    bias: usize,
}

impl Affine {
    fn at(at: &Positions, prefix: &str) -> Self {
        Self { weight: at.param(&format!("{prefix}.weight")), bias: at.param(&format!("{prefix}.bias")) }
    }

    /// `nn.Linear`.
    fn linear(self, xs: &Tensor, params: &[Tensor]) -> Tensor {
        xs.linear(&params[self.weight], Some(&params[self.bias]))
    }

    /// `nn.LayerNorm(d, eps=1e-6)` over the last axis.
    fn layer_norm(self, xs: &Tensor, params: &[Tensor]) -> Tensor {
        let d = params[self.weight].size()[0];
        Tensor::layer_norm(xs, [d], Some(&params[self.weight]), Some(&params[self.bias]), LN_EPS, true)
    }
}

/// torchvision's `EncoderBlock`: x + attn(ln_1(x)), then + mlp(ln_2(·)).
#[derive(Debug)]
struct EncoderBlock {
    ln_1: Affine,
    /// `in_proj_weight` `[3d, d]` and `in_proj_bias` (MultiheadAttention's own names).
    in_proj: Affine,
    out_proj: Affine,
    ln_2: Affine,
    mlp_0: Affine,
    mlp_3: Affine,
    heads: i64,
}

impl EncoderBlock {
    fn new(at: &Positions, p: &str, cfg: &VisionModelConfig) -> Self {
        let attn = format!("{p}.self_attention");
        Self {
            ln_1: Affine::at(at, &format!("{p}.ln_1")),
            in_proj: Affine {
                weight: at.param(&format!("{attn}.in_proj_weight")),
                bias: at.param(&format!("{attn}.in_proj_bias")),
            },
            out_proj: Affine::at(at, &format!("{attn}.out_proj")),
            ln_2: Affine::at(at, &format!("{p}.ln_2")),
            mlp_0: Affine::at(at, &format!("{p}.mlp.0")),
            mlp_3: Affine::at(at, &format!("{p}.mlp.3")),
            heads: cfg.heads(),
        }
    }

    /// `[N, T, d]` → `[N, T, d]`.
    fn forward(&self, xs: &Tensor, params: &[Tensor], kernel: AttentionKernel) -> Tensor {
        let x = xs + self.attention(&self.ln_1.layer_norm(xs, params), params, kernel);
        let hidden = self.mlp_0.linear(&self.ln_2.layer_norm(&x, params), params).gelu("none");
        let y = self.mlp_3.linear(&hidden, params);
        x + y
    }

    /// nn.MultiheadAttention(x, x, x) without weights, dropout or masks.
    fn attention(&self, xs: &Tensor, params: &[Tensor], kernel: AttentionKernel) -> Tensor {
        let (n, t, d) = xs.size3().expect("[N, T, d]");
        let head_dim = d / self.heads;
        // [N, T, 3d] → q, k, v each [N, heads, T, head_dim]
        let (q, k, v) = split_heads(&self.in_proj.linear(xs, params), n, t, self.heads, head_dim);
        let out = match kernel {
            AttentionKernel::Fused => {
                Tensor::scaled_dot_product_attention(&q, &k, &v, None::<Tensor>, 0.0, false, None, false)
            }
            AttentionKernel::Explicit => {
                #[allow(clippy::cast_precision_loss)]
                let scale = 1.0 / (head_dim as f64).sqrt();
                (q.matmul(&k.transpose(-2, -1)) * scale).softmax(-1, None).matmul(&v)
            }
        };
        // [N, heads, T, head_dim] → [N, T, d]
        self.out_proj.linear(&out.transpose(1, 2).reshape([n, t, d]), params)
    }
}

/// A built ViT: its plan, and where each layer's tensors are among the parameters a forward
/// pass is given (the model's own, or a curve point's).
#[derive(Debug)]
pub(crate) struct Vit {
    conv_proj: Affine,
    patch_size: i64,
    class_token: usize,
    pos_embedding: usize,
    layers: Vec<EncoderBlock>,
    ln: Affine,
    head: Affine,
    pub kernel: AttentionKernel,
}

impl Vit {
    pub fn new(at: &Positions, cfg: &VisionModelConfig) -> Self {
        Self {
            conv_proj: Affine::at(at, "conv_proj"),
            patch_size: cfg.patch_size,
            class_token: at.param("class_token"),
            pos_embedding: at.param("encoder.pos_embedding"),
            layers: (0..cfg.depth)
                .map(|i| EncoderBlock::new(at, &format!("encoder.layers.encoder_layer_{i}"), cfg))
                .collect(),
            ln: Affine::at(at, "encoder.ln"),
            head: Affine::at(at, "heads.head"),
            kernel: AttentionKernel::default(),
        }
    }

    /// `[N, C, S, S]` (S = the config's image_size, either memory format) → logits
    /// `[N, classes]`, computed with `params` (the trainable tensors in state-dict order).
    pub fn forward(&self, xs: &Tensor, params: &[Tensor]) -> Tensor {
        let p = self.patch_size;
        let proj = &self.conv_proj;
        let x = xs.conv2d(&params[proj.weight], Some(&params[proj.bias]), [p, p], [0, 0], [1, 1], 1);
        let (n, d) = (x.size()[0], x.size()[1]);
        // [N, d, S/p, S/p] → [N, L, d]
        let x = x.flatten(2, -1).transpose(1, 2);
        let class_token = params[self.class_token].expand([n, 1, d], false);
        let x = Tensor::cat(&[class_token, x], 1) + &params[self.pos_embedding];
        let x = self.layers.iter().fold(x, |x, layer| layer.forward(&x, params, self.kernel));
        self.head.linear(&self.ln.layer_norm(&x, params).select(1, 0), params)
    }
}

#[cfg(test)]
mod tests {
    use tch::{Device, Kind, Tensor};

    use super::split_heads;

    #[test]
    fn split_heads_gives_the_views_and_gradients_of_the_select_formulation_exactly() {
        let (n, t, heads, head_dim) = (2, 5, 3, 4);
        let d = heads * head_dim;
        let opts = (Kind::Float, Device::Cpu);
        let x = Tensor::randn([n, t, 3 * d], opts).set_requires_grad(true);
        let w = Tensor::randn([n, heads, t, head_dim], opts);
        let weighted = |q: &Tensor, k: &Tensor, v: &Tensor| (q * 1.5 + k.square() + v * &w).sum(Kind::Float);
        // The straightforward formulation: a [3, N, heads, T, head_dim] view, one select each.
        let by_select = x.view([n, t, 3, heads, head_dim]).permute([2, 0, 3, 1, 4]);
        let (q0, k0, v0) = (by_select.get(0), by_select.get(1), by_select.get(2));
        let (q1, k1, v1) = split_heads(&x, n, t, heads, head_dim);
        for (a, b) in [(&q0, &q1), (&k0, &k1), (&v0, &v1)] {
            assert_eq!(a.size(), b.size());
            assert_eq!(a.stride(), b.stride(), "the same views, so the same attention kernels");
            assert!(a.equal(b));
        }
        let g0 = Tensor::run_backward(&[weighted(&q0, &k0, &v0)], &[&x], false, false);
        let g1 = Tensor::run_backward(&[weighted(&q1, &k1, &v1)], &[&x], false, false);
        assert!(g0[0].equal(&g1[0]), "gradients differ");
        assert!(g1[0].abs().sum(Kind::Float).double_value(&[]) > 0.0);
    }
}
