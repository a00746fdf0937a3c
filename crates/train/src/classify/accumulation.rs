//! How an image model's batch is split into micro-batches, and what OneCycle counts — correct by
//! default, PTMZ's way on request (`train.ptmz_compat = true`, ../shared/SPEC.md §1.2 "Gradient
//! accumulation").
//!
//! phasezoo always averages the gradient over the whole batch and steps OneCycle once per
//! optimizer step, however the batch is split. The original split ResNet-50 batches by a table,
//! built OneCycle for `len(trainloader)` micro-batches per epoch but stepped it once per
//! optimizer step — so its schedule covers only 1/k of the cycle and never anneals — and divided
//! the reported train loss by k. Published ResNet-50 numbers may carry those effects (SPEC:
//! whether they do is unknown), hence the switch.

use pz_spec::{ModelConfig, ResolvedModel};

use super::ImageTask;

/// The split of one model's batches and the length of its schedule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Accumulation {
    /// Images per forward and backward pass (the batch size when batches are not split).
    pub micro_batch: u32,
    /// Steps OneCycle is built for: the run's optimizer steps, or with `ptmz_compat` its
    /// micro-batches.
    pub schedule_steps: u64,
    /// What the reported train loss is divided by: 1, or with `ptmz_compat` the micro-batches
    /// per batch.
    pub loss_divisor: u32,
}

impl Accumulation {
    /// The split and schedule of `config` on `task`'s training set.
    pub(super) fn of(config: &ResolvedModel, task: &ImageTask) -> Self {
        let t = &config.train;
        let compat = t.ptmz_compat;
        let table = || ptmz_micro_batch(&config.model, t.batch_size, task.channels);
        let micro_batch = match t.micro_batch {
            0 if compat => table().unwrap_or(t.batch_size),
            0 => t.batch_size,
            m => m.min(t.batch_size),
        };
        let epochs = u64::from(t.epochs);
        if compat {
            Self {
                micro_batch,
                schedule_steps: epochs * task.steps_per_epoch(micro_batch),
                loss_divisor: t.batch_size.div_ceil(micro_batch),
            }
        } else {
            Self { micro_batch, schedule_steps: epochs * task.steps_per_epoch(t.batch_size), loss_divisor: 1 }
        }
    }
}

/// The micro-batch PTMZ's `find_gradient_accumulation_from_config` chose: ResNet-50 on
/// 3-channel images only; width 64 splits batches ≥ 1024 into 512s, width 128 batches ≥ 512
/// into 256s, width 256 batches ≥ 256 into 128s (SPEC §1.2). `None`: the batch runs whole.
pub(super) fn ptmz_micro_batch(model: &ModelConfig, batch_size: u32, channels: i64) -> Option<u32> {
    let ModelConfig::Resnet50(r) = model else { return None };
    let micro = match r.width {
        64 => 512,
        128 => 256,
        256 => 128,
        _ => return None,
    };
    (channels == 3 && batch_size >= 2 * micro).then_some(micro)
}

#[cfg(test)]
mod tests {
    use pz_spec::{ModelConfig, ResnetConfig};

    use super::ptmz_micro_batch;

    fn resnet50(width: u32) -> ModelConfig {
        ModelConfig::Resnet50(ResnetConfig { width })
    }

    #[test]
    fn the_micro_batch_table_is_ptmzs() {
        // SPEC §1.2: k = bs/512 for width 64 at bs ≥ 1024, bs/256 for 128 at bs ≥ 512, bs/128 for
        // 256 at bs ≥ 256.
        assert_eq!(ptmz_micro_batch(&resnet50(64), 1024, 3), Some(512));
        assert_eq!(ptmz_micro_batch(&resnet50(64), 512, 3), None);
        assert_eq!(ptmz_micro_batch(&resnet50(128), 512, 3), Some(256));
        assert_eq!(ptmz_micro_batch(&resnet50(128), 256, 3), None);
        assert_eq!(ptmz_micro_batch(&resnet50(256), 1024, 3), Some(128));
        assert_eq!(ptmz_micro_batch(&resnet50(256), 128, 3), None);
        assert_eq!(ptmz_micro_batch(&resnet50(32), 1024, 3), None, "narrower models run whole");
        assert_eq!(ptmz_micro_batch(&resnet50(256), 1024, 1), None, "3-channel images only");
        assert_eq!(ptmz_micro_batch(&ModelConfig::Resnet18(ResnetConfig { width: 256 }), 1024, 3), None);
    }
}
