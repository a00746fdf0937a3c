//! Which vision model to build: architecture, load axis (`width`) and data shape.

use std::fmt;

use super::layout::Layout;
use super::{resnet, vit};

/// Widths of the PTMZ ResNet zoos (SPEC §1.2, `model::width`).
pub const RESNET_WIDTHS: [i64; 8] = [2, 4, 8, 16, 32, 64, 128, 256];

/// phasezoo's ViT widths (embedding dims): the original's are unknown, 147 = 7 widths × 7 batch
/// sizes × 3 seeds suggests seven. Doubling steps like the ResNet grid; at depth 6 they span
/// about 20K to 76M parameters, the ResNet-18 zoo's range (docs/MODELS.md).
pub const VIT_WIDTHS: [i64; 7] = [16, 32, 64, 128, 256, 512, 1024];

/// The vision architectures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VisionArch {
    /// ResNet-18 with the CIFAR stem (BasicBlock [2, 2, 2, 2]).
    Resnet18,
    /// ResNet-50 v1.5 with the CIFAR stem (Bottleneck [3, 4, 6, 3], expansion 4).
    Resnet50,
    /// Pre-norm Vision Transformer with class token (torchvision's `VisionTransformer`).
    Vit,
}

impl VisionArch {
    /// The name used on the command line of python/phasezoo_vision.py.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Resnet18 => "resnet18",
            Self::Resnet50 => "resnet50",
            Self::Vit => "vit",
        }
    }
}

impl fmt::Display for VisionArch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything that fixes a vision model's shapes. The ViT fields are ignored by the ResNets
/// (which accept any image size through their adaptive pooling).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VisionModelConfig {
    /// Architecture.
    pub arch: VisionArch,
    /// The load axis. ResNet: base width w (stages w, 2w, 4w, 8w; SPEC §1.2). ViT: embedding dim.
    pub width: i64,
    /// Image channels: 3 (CIFAR, SVHN, TinyImageNet) or 1 (Fashion-MNIST).
    pub in_channels: i64,
    /// Number of classes (logits).
    pub classes: i64,
    /// ViT: side of the square input image (32 for CIFAR, 28 for Fashion-MNIST).
    pub image_size: i64,
    /// ViT: side of a square patch; must divide `image_size` (4 divides both 32 and 28).
    pub patch_size: i64,
    /// ViT: number of encoder blocks.
    pub depth: i64,
    /// ViT: dimension of one attention head; heads = width / head_dim.
    pub head_dim: i64,
    /// ViT: hidden size of the MLP block = mlp_ratio · width.
    pub mlp_ratio: i64,
}

impl VisionModelConfig {
    /// The state-dict names of the classifier head (its weight and bias): what transfer to
    /// another dataset re-initialises.
    #[must_use]
    pub fn head_names(&self) -> [&'static str; 2] {
        match self.arch {
            VisionArch::Resnet18 | VisionArch::Resnet50 => ["fc.weight", "fc.bias"],
            VisionArch::Vit => ["heads.head.weight", "heads.head.bias"],
        }
    }

    /// The ViT defaults (docs/MODELS.md): patch 4, depth 6, head dim 16, MLP ratio 4.
    fn with_arch(arch: VisionArch, width: i64, in_channels: i64, classes: i64) -> Self {
        Self {
            arch,
            width,
            in_channels,
            classes,
            image_size: 32,
            patch_size: 4,
            depth: 6,
            head_dim: 16,
            mlp_ratio: 4,
        }
    }

    /// ResNet-18 of base width `width`.
    #[must_use]
    pub fn resnet18(width: i64, in_channels: i64, classes: i64) -> Self {
        Self::with_arch(VisionArch::Resnet18, width, in_channels, classes)
    }

    /// ResNet-50 of base width `width`.
    #[must_use]
    pub fn resnet50(width: i64, in_channels: i64, classes: i64) -> Self {
        Self::with_arch(VisionArch::Resnet50, width, in_channels, classes)
    }

    /// ViT of embedding dim `width` for `image_size`² images, other fields at their defaults.
    #[must_use]
    pub fn vit(width: i64, in_channels: i64, classes: i64, image_size: i64) -> Self {
        Self { image_size, ..Self::with_arch(VisionArch::Vit, width, in_channels, classes) }
    }

    /// ViT: number of attention heads.
    #[must_use]
    pub fn heads(&self) -> i64 {
        self.width / self.head_dim
    }

    /// Every reason this config cannot be built (empty when it can).
    #[must_use]
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (key, v) in [("width", self.width), ("in_channels", self.in_channels), ("classes", self.classes)]
        {
            if v < 1 {
                out.push(format!("{key} = {v}: must be at least 1"));
            }
        }
        if self.arch == VisionArch::Vit {
            for (key, v) in [
                ("image_size", self.image_size),
                ("patch_size", self.patch_size),
                ("depth", self.depth),
                ("head_dim", self.head_dim),
                ("mlp_ratio", self.mlp_ratio),
            ] {
                if v < 1 {
                    out.push(format!("{key} = {v}: must be at least 1"));
                }
            }
            if self.patch_size >= 1 && self.image_size % self.patch_size != 0 {
                out.push(format!(
                    "patch_size = {} does not divide image_size = {}",
                    self.patch_size, self.image_size
                ));
            }
            if self.head_dim >= 1 && self.width % self.head_dim != 0 {
                out.push(format!("head_dim = {} does not divide width = {}", self.head_dim, self.width));
            }
        }
        out
    }

    /// The state-dict entries this config builds.
    pub(crate) fn layout(&self) -> Layout {
        match self.arch {
            VisionArch::Resnet18 | VisionArch::Resnet50 => resnet::layout(self),
            VisionArch::Vit => vit::layout(self),
        }
    }

    /// Trainable parameters of the model this config builds, counted from shapes alone
    /// (nothing is allocated, so the 376M-parameter ResNet-50 is free to count).
    #[must_use]
    pub fn parameter_count(&self) -> usize {
        self.layout().parameter_count()
    }

    /// Multiply-adds of one forward pass on one `image_size`² image, from the weight shapes
    /// alone: each convolution's weights times its output positions (ResNet stage k works at
    /// side ⌈image_size / 2^(k−1)⌉, the stem at full size), each ViT matrix times the tokens, plus
    /// attention's two token×token products. Elementwise work (BatchNorm, activations) is left
    /// out. A cost estimate for scheduling, not a profile.
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn multiply_adds_per_image(&self, image_size: i64) -> f64 {
        let layout = self.layout();
        let weights = layout.slots.iter().filter(|s| s.name.ends_with("weight") && s.shape.len() >= 2);
        match self.arch {
            VisionArch::Resnet18 | VisionArch::Resnet50 => weights
                .map(|s| {
                    let stage = s
                        .name
                        .strip_prefix("layer")
                        .and_then(|rest| rest.split('.').next())
                        .and_then(|k| k.parse::<u32>().ok())
                        .unwrap_or(1);
                    let side = if s.shape.len() == 4 {
                        (1..stage).fold(image_size, |side, _| (side + 1) / 2)
                    } else {
                        1 // the classifier runs once per image
                    };
                    s.numel() as f64 * (side * side) as f64
                })
                .sum(),
            VisionArch::Vit => {
                let side = image_size / self.patch_size.max(1);
                let patches = (side * side) as f64;
                let tokens = patches + 1.0;
                let matrices: f64 = weights
                    .map(|s| {
                        let per = match s.name.as_str() {
                            "conv_proj.weight" => patches,
                            "heads.head.weight" => 1.0,
                            _ => tokens,
                        };
                        s.numel() as f64 * per
                    })
                    .sum();
                matrices + (self.depth as f64) * 2.0 * tokens * tokens * self.width as f64
            }
        }
    }
}

impl fmt::Display for VisionModelConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} width {}, {} input channels, {} classes",
            self.arch, self.width, self.in_channels, self.classes
        )?;
        if self.arch == VisionArch::Vit {
            write!(
                f,
                ", image {}, patch {}, depth {}, head dim {}, mlp ratio {}",
                self.image_size, self.patch_size, self.depth, self.head_dim, self.mlp_ratio
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CIFAR ResNet-18 (width 64, 32×32): the convolutions by hand — stem 1.77M, layer1 151M,
    /// layers 2–4 134.2M each (stride-2 conv, three convs, downsample), fc 5,120 — 555.4M, the
    /// figure published for this network.
    #[test]
    fn multiply_adds_of_the_cifar_resnet18_and_a_one_block_vit_by_hand() {
        let r18 = VisionModelConfig::resnet18(64, 3, 10);
        assert_eq!(r18.multiply_adds_per_image(32), 555_422_720.0);
        // Width scales convolutions quadratically (the classifier and stem less).
        let r18_half = VisionModelConfig::resnet18(32, 3, 10).multiply_adds_per_image(32);
        assert!((r18_half / 555_422_720.0 - 0.25).abs() < 0.01, "{r18_half}");
        // ViT width 32, depth 1, patch 4 on 8×8: 4 patches, 5 tokens. Patch conv 1,536·4;
        // in_proj 3,072·5; out_proj 1,024·5; MLP 2·4,096·5; head 320; attention 2·25·32.
        let vit = VisionModelConfig { depth: 1, ..VisionModelConfig::vit(32, 3, 10, 8) };
        assert_eq!(vit.multiply_adds_per_image(8), 69_504.0);
    }

    /// SPEC §1.2 "Parameter counts" (10 classes), one row per width of `RESNET_WIDTHS`.
    const SPEC_COUNTS: [(i64, usize, usize); 8] = [
        (2, 11_420, 25_260),
        (4, 44_622, 96_302),
        (8, 176_402, 375_762),
        (16, 701_466, 1_484_186),
        (32, 2_797_610, 5_899_050),
        (64, 11_173_962, 23_520_842),
        (128, 44_662_922, 93_932_682),
        (256, 178_585_866, 375_429_386),
    ];

    #[test]
    fn resnet_parameter_counts_equal_the_spec_table() {
        for (w, r18, r50) in SPEC_COUNTS {
            assert_eq!(VisionModelConfig::resnet18(w, 3, 10).parameter_count(), r18, "R18 w={w}");
            assert_eq!(VisionModelConfig::resnet50(w, 3, 10).parameter_count(), r50, "R50 w={w}");
        }
        assert_eq!(SPEC_COUNTS.map(|row| row.0), RESNET_WIDTHS);
    }

    #[test]
    fn tiny_imagenet_resnets_at_width_256_have_the_spec_counts() {
        assert_eq!(VisionModelConfig::resnet18(256, 3, 200).parameter_count(), 178_975_176);
        assert_eq!(VisionModelConfig::resnet50(256, 3, 200).parameter_count(), 376_986_056);
    }

    #[test]
    fn vit_parameter_count_follows_its_formula() {
        // Per block 12d² + 13d (qkv 3d²+3d, out d²+d, MLP 8d²+5d, two LayerNorms 4d); plus the
        // patch conv (C·p²·d + d), class token d, positions (L+1)·d, final LN 2d, head.
        for w in VIT_WIDTHS {
            for (c, s) in [(3, 32), (1, 28)] {
                let cfg = VisionModelConfig::vit(w, c, 10, s);
                let (d, p, l) = (w, cfg.patch_size, (s / cfg.patch_size).pow(2));
                let expected = cfg.depth * (12 * d * d + 13 * d)
                    + c * p * p * d
                    + d
                    + d
                    + (l + 1) * d
                    + 2 * d
                    + 10 * d
                    + 10;
                assert_eq!(cfg.parameter_count(), usize::try_from(expected).unwrap(), "w={w} c={c}");
            }
        }
    }

    #[test]
    fn vit_parameter_counts_equal_the_docs_table() {
        // docs/MODELS.md, CIFAR-10 column (3×32×32, 10 classes).
        let counts = [21_722, 80_298, 308_042, 1_205_898, 4_771_082, 18_979_338, 75_707_402];
        for (w, n) in VIT_WIDTHS.into_iter().zip(counts) {
            assert_eq!(VisionModelConfig::vit(w, 3, 10, 32).parameter_count(), n, "w={w}");
        }
    }

    #[test]
    fn every_vit_width_splits_into_whole_heads() {
        for w in VIT_WIDTHS {
            assert!(VisionModelConfig::vit(w, 3, 10, 32).problems().is_empty());
        }
    }

    #[test]
    fn problems_name_each_bad_field() {
        let cfg = VisionModelConfig { width: 20, patch_size: 3, ..VisionModelConfig::vit(16, 3, 10, 32) };
        let problems = cfg.problems();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("patch_size = 3 does not divide image_size = 32"));
        assert!(problems[1].contains("head_dim = 16 does not divide width = 20"));
        assert_eq!(VisionModelConfig::resnet18(0, 3, 10).problems(), ["width = 0: must be at least 1"]);
    }
}
