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

use tch::nn::{self, Module};
use tch::Tensor;

use super::init::{Init, PLACEHOLDER};
use super::layout::Layout;
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

fn linear(p: nn::Path, d_in: i64, d_out: i64) -> nn::Linear {
    nn::linear(
        p,
        d_in,
        d_out,
        nn::LinearConfig { ws_init: PLACEHOLDER, bs_init: Some(PLACEHOLDER), bias: true },
    )
}

fn layer_norm(p: nn::Path, d: i64) -> nn::LayerNorm {
    let config = nn::LayerNormConfig { eps: LN_EPS, ..Default::default() };
    nn::layer_norm(p, vec![d], config)
}

/// torchvision's `EncoderBlock`: x + attn(ln_1(x)), then + mlp(ln_2(·)).
#[derive(Debug)]
struct EncoderBlock {
    ln_1: nn::LayerNorm,
    in_proj_weight: Tensor,
    in_proj_bias: Tensor,
    out_proj: nn::Linear,
    ln_2: nn::LayerNorm,
    mlp_0: nn::Linear,
    mlp_3: nn::Linear,
    heads: i64,
}

impl EncoderBlock {
    fn new(p: &nn::Path, cfg: &VisionModelConfig) -> Self {
        let (d, m) = (cfg.width, cfg.mlp_ratio * cfg.width);
        let attn = p / "self_attention";
        Self {
            ln_1: layer_norm(p / "ln_1", d),
            in_proj_weight: attn.var("in_proj_weight", &[3 * d, d], PLACEHOLDER),
            in_proj_bias: attn.var("in_proj_bias", &[3 * d], PLACEHOLDER),
            out_proj: linear(&attn / "out_proj", d, d),
            ln_2: layer_norm(p / "ln_2", d),
            mlp_0: linear(p / "mlp" / 0, d, m),
            mlp_3: linear(p / "mlp" / 3, m, d),
            heads: cfg.heads(),
        }
    }

    /// `[N, T, d]` → `[N, T, d]`.
    fn forward(&self, xs: &Tensor, kernel: AttentionKernel) -> Tensor {
        let x = xs + self.attention(&self.ln_1.forward(xs), kernel);
        let y = self.ln_2.forward(&x).apply(&self.mlp_0).gelu("none").apply(&self.mlp_3);
        x + y
    }

    /// nn.MultiheadAttention(x, x, x) without weights, dropout or masks.
    fn attention(&self, xs: &Tensor, kernel: AttentionKernel) -> Tensor {
        let (n, t, d) = xs.size3().expect("[N, T, d]");
        let head_dim = d / self.heads;
        // [N, T, 3d] → q, k, v each [N, heads, T, head_dim]
        let qkv = xs.linear(&self.in_proj_weight, Some(&self.in_proj_bias));
        let qkv = qkv.view([n, t, 3, self.heads, head_dim]).permute([2, 0, 3, 1, 4]);
        let (q, k, v) = (qkv.get(0), qkv.get(1), qkv.get(2));
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
        out.transpose(1, 2).reshape([n, t, d]).apply(&self.out_proj)
    }
}

/// A built ViT; its variables live in the var store under torchvision's names.
#[derive(Debug)]
pub(crate) struct Vit {
    conv_proj: nn::Conv2D,
    class_token: Tensor,
    pos_embedding: Tensor,
    layers: Vec<EncoderBlock>,
    ln: nn::LayerNorm,
    head: nn::Linear,
    pub kernel: AttentionKernel,
}

impl Vit {
    pub fn new(p: &nn::Path, cfg: &VisionModelConfig) -> Self {
        let d = cfg.width;
        let conv = nn::ConvConfig {
            stride: cfg.patch_size,
            ws_init: PLACEHOLDER,
            bs_init: PLACEHOLDER,
            ..Default::default()
        };
        let encoder = p / "encoder";
        let layers = &encoder / "layers";
        Self {
            class_token: p.var("class_token", &[1, 1, d], PLACEHOLDER),
            conv_proj: nn::conv2d(p / "conv_proj", cfg.in_channels, d, cfg.patch_size, conv),
            pos_embedding: encoder.var("pos_embedding", &[1, tokens(cfg) + 1, d], PLACEHOLDER),
            layers: (0..cfg.depth)
                .map(|i| EncoderBlock::new(&(&layers / format!("encoder_layer_{i}")), cfg))
                .collect(),
            ln: layer_norm(&encoder / "ln", d),
            head: linear(p / "heads" / "head", d, cfg.classes),
            kernel: AttentionKernel::default(),
        }
    }

    /// `[N, C, S, S]` (S = the config's image_size, either memory format) → logits `[N, classes]`.
    pub fn forward(&self, xs: &Tensor) -> Tensor {
        let x = self.conv_proj.forward(xs);
        let (n, d) = (x.size()[0], x.size()[1]);
        // [N, d, S/p, S/p] → [N, L, d]
        let x = x.flatten(2, -1).transpose(1, 2);
        let x = Tensor::cat(&[self.class_token.expand([n, 1, d], false), x], 1) + &self.pos_embedding;
        let x = self.layers.iter().fold(x, |x, layer| layer.forward(&x, self.kernel));
        self.ln.forward(&x).select(1, 0).apply(&self.head)
    }
}
