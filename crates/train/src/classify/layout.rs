//! Which memory layout an image model trains in on CUDA (`run.layout`), and the conversions.
//!
//! Channels-last (NHWC strides) lets cuDNN pick its NHWC kernels, which are faster for wide
//! convolutions and large batches and slower for small narrow steps: measured on an H100
//! (BENCHMARKS.md, the ResNet-18 zoo grid on 28×28 images, one cell at a time, last epoch),
//! channels-last ran 1.16–1.9× contiguous from width 32 up, 1.1–2.0× (float32) and 1.3–2.5×
//! (bf16 autocast) for widths 2–16 at batches 128–1024, but 0.69–0.92× for widths 2–16 at
//! batches 8–64, whose replayed steps are a few hundred tiny kernels. `auto` follows that line
//! by the step's size or its batch, for ResNets only: a ViT has one convolution (its patch
//! embedding), and its layout was not measured, so it stays contiguous unless asked.

use pz_spec::{Layout, ModelConfig};
use tch::Tensor;

/// Multiply-adds per training step from which `run.layout = "auto"` trains channels-last. On
/// the H100 grid the cells below it (e.g. width 8 × batch 64, width 16 × batch 16) were slower
/// channels-last, the cells at or above it (width 8 × batch 128, width 32 × batch 8) faster.
pub const CHANNELS_LAST_MIN_MULTIPLY_ADDS: f64 = 2.5e9;

/// Images per executed batch from which `run.layout = "auto"` trains channels-last whatever
/// the width: at 128 narrow ResNet-18s (widths 2–4) ran 0.99× in float32 and 1.3× in bf16,
/// from 256 up every measured width ran faster channels-last (1.09–2.5×).
pub const CHANNELS_LAST_MIN_BATCH: u32 = 128;

/// What `run.layout = "auto"` picks for `model` with a training step of `step_multiply_adds`
/// over executed batches of `batch` images: channels-last for a ResNet from
/// [`CHANNELS_LAST_MIN_MULTIPLY_ADDS`] or [`CHANNELS_LAST_MIN_BATCH`] up.
#[must_use]
pub fn auto_channels_last(model: &ModelConfig, step_multiply_adds: f64, batch: u32) -> bool {
    matches!(model, ModelConfig::Resnet18(_) | ModelConfig::Resnet50(_))
        && (step_multiply_adds >= CHANNELS_LAST_MIN_MULTIPLY_ADDS || batch >= CHANNELS_LAST_MIN_BATCH)
}

/// Whether a model trains channels-last on CUDA under `layout`, given what `auto` picks for it.
#[must_use]
pub fn trains_channels_last(layout: Layout, auto: bool) -> bool {
    match layout {
        Layout::Auto => auto,
        Layout::ChannelsLast => true,
        Layout::Contiguous => false,
    }
}

/// An N×C×H×W tensor with channels-last strides (same shape and values): permuting to NHWC,
/// making that contiguous and permuting back is what `memory_format=torch.channels_last` does.
pub(super) fn channels_last(x: &Tensor) -> Tensor {
    x.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
}

/// Convolution weights to channels-last (`true`) or contiguous (`false`) strides, in place:
/// the tensors stay the ones the optimizer holds.
pub(super) fn set_weight_layout(params: &[Tensor], channels_last_strides: bool) {
    tch::no_grad(|| {
        for p in params.iter().filter(|p| p.dim() == 4) {
            let mut p = p.shallow_clone();
            let data = if channels_last_strides { channels_last(&p) } else { p.contiguous() };
            p.set_data(&data);
        }
    });
}

#[cfg(test)]
mod tests {
    use pz_spec::{Layout, ModelConfig};
    use tch::{Device, Kind, Tensor};

    use super::*;

    #[test]
    fn auto_draws_the_line_at_the_measured_step_size_and_batch_for_resnets() {
        let resnet = ModelConfig::Resnet18(pz_spec::ResnetConfig { width: 8 });
        assert!(!auto_channels_last(&resnet, 1.3e9, 64));
        assert!(auto_channels_last(&resnet, 2.7e9, 64));
        assert!(auto_channels_last(&resnet, 1.3e9, 128), "a large batch of a narrow model");
        let vit: ModelConfig = serde_json::from_str(r#"{"architecture": "vit", "width": 64}"#).unwrap();
        assert!(!auto_channels_last(&vit, 1e12, 1024), "not measured for a ViT");
        assert!(trains_channels_last(Layout::Auto, true));
        assert!(trains_channels_last(Layout::ChannelsLast, false));
        assert!(!trains_channels_last(Layout::Contiguous, true));
    }

    #[test]
    fn weights_change_strides_not_values() {
        let w = Tensor::randn([4, 3, 2, 5], (Kind::Float, Device::Cpu));
        let before = w.copy();
        set_weight_layout(&[w.shallow_clone()], true);
        assert_eq!(w.stride(), vec![30, 1, 15, 3], "NHWC strides");
        assert!(w.equal(&before));
        set_weight_layout(&[w.shallow_clone()], false);
        assert_eq!(w.stride(), vec![30, 10, 5, 1]);
        assert!(w.equal(&before));
    }
}
