//! ResNet-18 and ResNet-50 of the PTMZ ResNet zoos (SPEC §1.2 "Architecture";
//! `src/ptmz/models/def_resnet_width.py`): torchvision's ResNet with base width `w` and the
//! CIFAR stem (3×3 conv, stride 1, no max-pool). He et al. 2016, "Deep Residual Learning".
//!
//! # Shapes
//! `[N, C, H, W]` → stem `[N, w, H, W]` → layer1..4 `[N, 8w·e, H/8, W/8]` (e = 1 BasicBlock,
//! 4 Bottleneck) → mean over H, W → fc → logits `[N, classes]`.
//!
//! # Names
//! torchvision's: `conv1`, `bn1`, `layer{1..4}.{b}.conv{1,2[,3]}`, `.bn{..}`,
//! `.downsample.0` (1×1 conv), `.downsample.1` (BN), `fc`.

use tch::Tensor;

use super::batch_norm::{BatchNormAt, Norm};
use super::init::Init;
use super::layout::{Layout, Positions};
use super::{VisionArch, VisionModelConfig};

/// A bias-free convolution with padding k/2 ("same" for odd k at stride 1).
#[derive(Debug, Clone, Copy)]
struct ConvPlan {
    cin: i64,
    cout: i64,
    kernel: i64,
    stride: i64,
}

/// One residual block: its conv–BN pairs (ReLU between them) and the shortcut projection.
#[derive(Debug)]
struct BlockPlan {
    stage: usize,
    index: usize,
    convs: Vec<ConvPlan>,
    /// 1×1 conv + BN when the stride is not 1 or the channel count changes (for ResNet-50 this
    /// includes layer1.0).
    downsample: Option<ConvPlan>,
}

/// (blocks per stage, expansion, bottleneck?)
fn depth_of(arch: VisionArch) -> ([usize; 4], i64, bool) {
    match arch {
        VisionArch::Resnet18 => ([2, 2, 2, 2], 1, false),
        VisionArch::Resnet50 => ([3, 4, 6, 3], 4, true),
        VisionArch::Vit => unreachable!("resnet built from a ViT config"),
    }
}

fn stem(cfg: &VisionModelConfig) -> ConvPlan {
    ConvPlan { cin: cfg.in_channels, cout: cfg.width, kernel: 3, stride: 1 }
}

fn fc_in(cfg: &VisionModelConfig) -> i64 {
    8 * cfg.width * depth_of(cfg.arch).1
}

fn blocks(cfg: &VisionModelConfig) -> Vec<BlockPlan> {
    let (counts, expansion, bottleneck) = depth_of(cfg.arch);
    let mut plans = Vec::new();
    let mut cin = cfg.width;
    for (stage, &n) in counts.iter().enumerate() {
        let planes = cfg.width << stage;
        let cout = planes * expansion;
        for index in 0..n {
            // v1.5: the stride sits on the 3×3 conv, in the first block of stages 2–4.
            let stride = if stage > 0 && index == 0 { 2 } else { 1 };
            let conv = |cin, cout, kernel, stride| ConvPlan { cin, cout, kernel, stride };
            let convs = if bottleneck {
                vec![conv(cin, planes, 1, 1), conv(planes, planes, 3, stride), conv(planes, cout, 1, 1)]
            } else {
                vec![conv(cin, planes, 3, stride), conv(planes, planes, 3, 1)]
            };
            let downsample = (stride != 1 || cin != cout).then(|| conv(cin, cout, 1, stride));
            plans.push(BlockPlan { stage, index, convs, downsample });
            cin = cout;
        }
    }
    plans
}

/// The state dict, in torchvision's order. Init (SPEC §1.2 "Init order"): the parent's
/// kaiming_normal on convs is overwritten by `initialize_weights("kaiming_uniform")`, so every
/// conv and the fc weight end as kaiming_uniform_ at defaults; BN γ = 1, β = 0; fc.bias = 0.01.
pub(crate) fn layout(cfg: &VisionModelConfig) -> Layout {
    let mut l = Layout::default();
    let conv = |l: &mut Layout, name: String, c: &ConvPlan| {
        l.param(name, &[c.cout, c.cin, c.kernel, c.kernel], Init::KaimingUniform);
    };
    conv(&mut l, "conv1.weight".into(), &stem(cfg));
    l.batch_norm("bn1", cfg.width);
    for block in blocks(cfg) {
        let prefix = format!("layer{}.{}", block.stage + 1, block.index);
        for (i, c) in block.convs.iter().enumerate() {
            conv(&mut l, format!("{prefix}.conv{}.weight", i + 1), c);
            l.batch_norm(&format!("{prefix}.bn{}", i + 1), c.cout);
        }
        if let Some(c) = &block.downsample {
            conv(&mut l, format!("{prefix}.downsample.0.weight"), c);
            l.batch_norm(&format!("{prefix}.downsample.1"), c.cout);
        }
    }
    l.linear("fc", fc_in(cfg), cfg.classes, Init::KaimingUniform, Init::Const(0.01));
    l
}

/// A bias-free convolution and the BatchNorm after it, by where their tensors are.
#[derive(Debug)]
struct ConvBn {
    plan: ConvPlan,
    weight: usize,
    bn: BatchNormAt,
}

impl ConvBn {
    fn new(at: &Positions, conv: &str, bn: &str, plan: ConvPlan) -> Self {
        Self { plan, weight: at.param(&format!("{conv}.weight")), bn: at.batch_norm(bn) }
    }

    fn forward(&self, xs: &Tensor, params: &[Tensor], norm: Norm<'_>) -> Tensor {
        let (s, p) = (self.plan.stride, self.plan.kernel / 2);
        let y = xs.conv2d(&params[self.weight], None::<Tensor>, [s, s], [p, p], [1, 1], 1);
        self.bn.forward(&y, params, norm)
    }
}

/// BasicBlock (2 conv–BN pairs) or Bottleneck (3): ReLU between pairs, shortcut added before
/// the last ReLU.
#[derive(Debug)]
struct Block {
    convs: Vec<ConvBn>,
    downsample: Option<ConvBn>,
}

impl Block {
    fn forward(&self, xs: &Tensor, params: &[Tensor], norm: Norm<'_>) -> Tensor {
        let last = self.convs.len() - 1;
        let mut out = xs.shallow_clone();
        for (i, layer) in self.convs.iter().enumerate() {
            out = layer.forward(&out, params, norm);
            if i < last {
                out = out.relu();
            }
        }
        let identity = match &self.downsample {
            Some(layer) => layer.forward(xs, params, norm),
            None => xs.shallow_clone(),
        };
        (out + identity).relu()
    }
}

/// A built ResNet: its plan, and where each layer's tensors are among the parameters and
/// BatchNorm statistics a forward pass is given (the model's own, or a curve point's).
#[derive(Debug)]
pub(crate) struct ResNet {
    stem: ConvBn,
    blocks: Vec<Block>,
    fc_weight: usize,
    fc_bias: usize,
}

impl ResNet {
    pub fn new(at: &Positions, cfg: &VisionModelConfig) -> Self {
        let stem = ConvBn::new(at, "conv1", "bn1", stem(cfg));
        let blocks = blocks(cfg)
            .into_iter()
            .map(|plan| {
                let b = format!("layer{}.{}", plan.stage + 1, plan.index);
                let convs = (0..plan.convs.len())
                    .map(|i| {
                        ConvBn::new(
                            at,
                            &format!("{b}.conv{}", i + 1),
                            &format!("{b}.bn{}", i + 1),
                            plan.convs[i],
                        )
                    })
                    .collect();
                let downsample = plan
                    .downsample
                    .map(|c| ConvBn::new(at, &format!("{b}.downsample.0"), &format!("{b}.downsample.1"), c));
                Block { convs, downsample }
            })
            .collect();
        Self { stem, blocks, fc_weight: at.param("fc.weight"), fc_bias: at.param("fc.bias") }
    }

    /// `[N, C, H, W]` (any H, W ≥ 1, either memory format) → logits `[N, classes]`, computed
    /// with `params` (the trainable tensors in state-dict order) and BatchNorm as `norm` says.
    pub fn forward(&self, xs: &Tensor, params: &[Tensor], norm: Norm<'_>) -> Tensor {
        let mut x = self.stem.forward(xs, params, norm).relu();
        for block in &self.blocks {
            x = block.forward(&x, params, norm);
        }
        x.adaptive_avg_pool2d([1, 1])
            .flatten(1, -1)
            .linear(&params[self.fc_weight], Some(&params[self.fc_bias]))
    }
}
