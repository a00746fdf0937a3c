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

use tch::nn::{self, Module, ModuleT};
use tch::Tensor;

use super::batch_norm::{batch_norm2d, BatchNorm2d};
use super::init::{Init, PLACEHOLDER};
use super::layout::Layout;
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

#[derive(Debug)]
struct ConvBn {
    conv: nn::Conv2D,
    bn: BatchNorm2d,
}

impl ConvBn {
    fn new(conv_path: &nn::Path, bn_path: &nn::Path, c: &ConvPlan) -> Self {
        let config = nn::ConvConfig {
            stride: c.stride,
            padding: c.kernel / 2,
            bias: false,
            ws_init: PLACEHOLDER,
            ..Default::default()
        };
        let conv = nn::conv2d(conv_path, c.cin, c.cout, c.kernel, config);
        Self { conv, bn: batch_norm2d(bn_path, c.cout) }
    }

    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.bn.forward_t(&self.conv.forward(xs), train)
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
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let last = self.convs.len() - 1;
        let mut out = xs.shallow_clone();
        for (i, layer) in self.convs.iter().enumerate() {
            out = layer.forward_t(&out, train);
            if i < last {
                out = out.relu();
            }
        }
        let identity = match &self.downsample {
            Some(layer) => layer.forward_t(xs, train),
            None => xs.shallow_clone(),
        };
        (out + identity).relu()
    }
}

/// A built ResNet; its variables live in the var store under torchvision's names.
#[derive(Debug)]
pub(crate) struct ResNet {
    stem: ConvBn,
    blocks: Vec<Block>,
    fc: nn::Linear,
}

impl ResNet {
    pub fn new(p: &nn::Path, cfg: &VisionModelConfig) -> Self {
        let stem = ConvBn::new(&(p / "conv1"), &(p / "bn1"), &stem(cfg));
        let blocks = blocks(cfg)
            .iter()
            .map(|plan| {
                let b = p / format!("layer{}", plan.stage + 1) / plan.index;
                let convs = (0..plan.convs.len())
                    .map(|i| {
                        ConvBn::new(
                            &(&b / format!("conv{}", i + 1)),
                            &(&b / format!("bn{}", i + 1)),
                            &plan.convs[i],
                        )
                    })
                    .collect();
                let downsample = plan
                    .downsample
                    .map(|c| ConvBn::new(&(&b / "downsample" / 0), &(&b / "downsample" / 1), &c));
                Block { convs, downsample }
            })
            .collect();
        let linear = nn::LinearConfig { ws_init: PLACEHOLDER, bs_init: Some(PLACEHOLDER), bias: true };
        let fc = nn::linear(p / "fc", fc_in(cfg), cfg.classes, linear);
        Self { stem, blocks, fc }
    }

    /// `[N, C, H, W]` (any H, W ≥ 1, either memory format) → logits `[N, classes]`.
    pub fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut x = self.stem.forward_t(xs, train).relu();
        for block in &self.blocks {
            x = block.forward_t(&x, train);
        }
        x.adaptive_avg_pool2d([1, 1]).flatten(1, -1).apply(&self.fc)
    }
}
