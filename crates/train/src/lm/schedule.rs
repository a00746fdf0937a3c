//! The language models' learning rate per step: nanoGPT's `get_lr` (train.py), a linear
//! warm-up to the peak, then a cosine decay to `min_lr` at the last step, or the peak
//! throughout for `schedule = "constant"`.

use pz_spec::{Schedule, TrainConfig};

/// The learning rate of every step of one model's training.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LrSchedule {
    /// Peak learning rate (`train.lr`).
    lr: f64,
    /// Rate at and after `decay_steps` (`train.min_lr`).
    min_lr: f64,
    /// Steps of linear warm-up (`train.warmup_steps`).
    warmup: u64,
    /// Step at which the decay ends: the model's last, 0-based (nanoGPT sets `lr_decay_iters
    /// = max_iters`, the index of its last iteration).
    decay_steps: u64,
    /// Whether the rate decays at all.
    cosine: bool,
}

impl LrSchedule {
    /// The schedule of `train` over `total_steps` steps (its last step reaches `min_lr`).
    pub(crate) fn new(train: &TrainConfig, total_steps: u64) -> Self {
        Self {
            lr: train.lr,
            min_lr: train.min_lr,
            warmup: u64::from(train.warmup_steps),
            decay_steps: total_steps.saturating_sub(1),
            cosine: train.schedule == Schedule::Cosine,
        }
    }

    /// The rate of step `it` (0-based), as nanoGPT computes it:
    /// `lr·(it+1)/(warmup+1)` during warm-up, `min_lr` past the decay, and in between
    /// `min_lr + ½(1 + cos(π·r))·(lr − min_lr)` with `r = (it − warmup)/(decay − warmup)`.
    /// A warm-up as long as training never decays (and never divides by zero).
    pub(crate) fn lr_at(&self, it: u64) -> f64 {
        if !self.cosine {
            return self.lr;
        }
        #[allow(clippy::cast_precision_loss)]
        let f = |n: u64| n as f64;
        if it < self.warmup {
            return self.lr * f(it + 1) / f(self.warmup + 1);
        }
        if it > self.decay_steps {
            return self.min_lr;
        }
        let ratio = f(it - self.warmup) / f(self.decay_steps.saturating_sub(self.warmup).max(1));
        let coeff = 0.5 * (1.0 + (std::f64::consts::PI * ratio.min(1.0)).cos());
        self.min_lr + coeff * (self.lr - self.min_lr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(warmup: u32, total: u64) -> LrSchedule {
        let spec = pz_spec::ZooSpec::parse(
            include_str!("../../../../examples/shakespeare-gpt2-small.toml"),
            "t",
            &[format!("train.warmup_steps={warmup}"), "train.lr=6e-4".into(), "train.min_lr=6e-5".into()],
        )
        .unwrap();
        LrSchedule::new(&spec.train, total)
    }

    /// nanoGPT's `get_lr` (train.py, karpathy/nanoGPT 3adf61e) transcribed on plain floats,
    /// with `learning_rate = 6e-4, min_lr = 6e-5` and `lr_decay_iters` = the last step.
    fn nanogpt_get_lr(it: u64, warmup_iters: u64, lr_decay_iters: u64) -> f64 {
        let (learning_rate, min_lr) = (6e-4, 6e-5);
        if it < warmup_iters {
            return learning_rate * (it + 1) as f64 / (warmup_iters + 1) as f64;
        }
        if it > lr_decay_iters {
            return min_lr;
        }
        let decay_ratio = (it - warmup_iters) as f64 / (lr_decay_iters - warmup_iters) as f64;
        assert!((0.0..=1.0).contains(&decay_ratio));
        let coeff = 0.5 * (1.0 + (std::f64::consts::PI * decay_ratio).cos());
        min_lr + coeff * (learning_rate - min_lr)
    }

    #[test]
    fn the_cosine_schedule_is_nanogpts_get_lr() {
        // 1001 steps, so that the last is 1000 = nanoGPT's max_iters.
        let s = schedule(100, 1001);
        for it in (0..1100).chain([99, 100, 101, 999, 1000, 1001]) {
            let (got, want) = (s.lr_at(it), nanogpt_get_lr(it, 100, 1000));
            assert!((got - want).abs() <= 1e-18, "step {it}: {got} vs {want}");
        }
        // The landmarks: the first step is lr/(warmup+1), the peak right after warm-up, the
        // floor at the end.
        assert!((s.lr_at(0) - 6e-4 / 101.0).abs() < 1e-18);
        assert_eq!(s.lr_at(100), 6e-4);
        assert!((s.lr_at(1000) - 6e-5).abs() < 1e-18);
    }

    #[test]
    fn a_warm_up_as_long_as_training_only_ramps_and_constant_stays_at_the_peak() {
        let s = schedule(50, 50);
        assert!((0..50).all(|it| s.lr_at(it) < 6e-4 && s.lr_at(it).is_finite()));
        let constant = LrSchedule { cosine: false, ..s };
        assert!((0..200).all(|it| constant.lr_at(it) == 6e-4));
    }
}
