//! The one-cycle learning-rate and momentum schedule, as `torch.optim.lr_scheduler.OneCycleLR`.
//!
//! Smith & Topin 2018, "Super-Convergence". PTMZ's ResNet zoos use PyTorch's defaults (SPEC §1.2):
//! two phases, cosine annealing, lr from `max_lr/25` up to `max_lr` over the first 30 % of the
//! steps and down to `max_lr/25/1e4` by the last; momentum cycles inversely, 0.95 → 0.85 → 0.95.
//!
//! The arithmetic follows PyTorch's `get_lr` term by term (phase ends at `pct_start·total − 1`
//! and `total − 1`, `end + (start − end)/2·(cos(π·pct) + 1)`), so every value equals PyTorch's to
//! the last bit: a resumed or re-implemented run sees the same learning rates.

/// A two-phase cosine one-cycle schedule over `total_steps` optimizer steps.
#[derive(Debug, Clone, PartialEq)]
pub struct OneCycle {
    /// Peak learning rate, reached at the end of the first phase.
    pub max_lr: f64,
    /// Optimizer steps in the whole run (epochs × steps per epoch).
    pub total_steps: u64,
    /// Fraction of the steps spent increasing the learning rate (PyTorch default 0.3).
    pub pct_start: f64,
    /// Initial lr = `max_lr / div_factor` (PyTorch default 25).
    pub div_factor: f64,
    /// Final lr = initial lr / `final_div_factor` (PyTorch default 1e4).
    pub final_div_factor: f64,
    /// Momentum at the peak of the learning rate (PyTorch default 0.85).
    pub base_momentum: f64,
    /// Momentum at the start and the end (PyTorch default 0.95).
    pub max_momentum: f64,
}

impl OneCycle {
    /// PyTorch's defaults for `max_lr` and `total_steps`.
    #[must_use]
    pub fn new(max_lr: f64, total_steps: u64) -> Self {
        Self {
            max_lr,
            total_steps,
            pct_start: 0.3,
            div_factor: 25.0,
            final_div_factor: 1e4,
            base_momentum: 0.85,
            max_momentum: 0.95,
        }
    }

    /// `(lr, momentum)` for the optimizer step with 0-based index `step`.
    ///
    /// Step 0 is what PyTorch sets when the scheduler is built; step `t` is what the optimizer
    /// uses after `t` calls of `scheduler.step()`. `step == total_steps` is allowed, as in
    /// PyTorch (the value after the last step, which no step uses).
    ///
    /// # Panics
    /// If `step > total_steps` (PyTorch raises there too).
    #[must_use]
    pub fn lr_momentum(&self, step: u64) -> (f64, f64) {
        assert!(
            step <= self.total_steps,
            "one-cycle step {step} beyond the {} scheduled steps",
            self.total_steps
        );
        let initial_lr = self.max_lr / self.div_factor;
        let min_lr = initial_lr / self.final_div_factor;
        // Both precisions are exact for any step count a run can reach (< 2^53).
        #[allow(clippy::cast_precision_loss)]
        let (step, total) = (step as f64, self.total_steps as f64);
        let peak_step = self.pct_start * total - 1.0;
        // PyTorch takes the first phase while `step <= end_step`, the last one otherwise.
        let (start_step, end_step, lr, momentum) = if step <= peak_step {
            (0.0, peak_step, (initial_lr, self.max_lr), (self.max_momentum, self.base_momentum))
        } else {
            (peak_step, total - 1.0, (self.max_lr, min_lr), (self.base_momentum, self.max_momentum))
        };
        let pct = (step - start_step) / (end_step - start_step);
        (anneal_cos(lr.0, lr.1, pct), anneal_cos(momentum.0, momentum.1, pct))
    }
}

/// PyTorch's `_annealing_cos`: from `start` at `pct = 0` to `end` at `pct = 1`, written the same
/// way so the rounding is the same.
fn anneal_cos(start: f64, end: f64, pct: f64) -> f64 {
    let cos_out = (std::f64::consts::PI * pct).cos() + 1.0;
    end + (start - end) / 2.0 * cos_out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn assert_close(got: f64, want: f64, what: &str) {
        // 1e-12 relative: the formula is PyTorch's, only libm's cos may differ in the last bit.
        assert!((got - want).abs() <= 1e-12 * want.abs(), "{what}: got {got:e}, want {want:e}");
    }

    /// From `torch.optim.lr_scheduler.OneCycleLR(SGD(momentum=0.9), max_lr=0.1, total_steps=7)`
    /// (torch 2.11), reading `param_groups[0]["lr"]`, `["momentum"]` before each step.
    const PYTORCH_TOTAL_7: [(f64, f64); 8] = [
        (0.004_000_000_000_000_003_6, 0.95),
        (0.098_055_662_733_495_88, 0.852_025_351_319_275_1),
        (0.091_904_437_626_971_06, 0.858_095_594_755_408),
        (0.067_268_383_648_054_51, 0.882_731_747_278_934_6),
        (0.035_773_877_573_965_704, 0.914_226_379_331_551_6),
        (0.009_929_679_189_326_56, 0.940_070_681_093_397_8),
        (4e-7, 0.95),
        (0.009_929_679_189_326_537, 0.940_070_681_093_397_8),
    ];

    /// Same, `total_steps=100`, at the steps around both phase ends.
    const PYTORCH_TOTAL_100: [(u64, f64, f64); 11] = [
        (0, 0.004_000_000_000_000_003_6, 0.95),
        (1, 0.004_281_378_056_590_748, 0.949_706_897_857_717_9),
        (15, 0.054_598_667_612_100_04, 0.897_293_054_570_729),
        (28, 0.099_718_621_943_409_26, 0.850_293_102_142_282),
        (29, 0.1, 0.85),
        (30, 0.099_949_653_528_452_43, 0.850_050_346_672_934_2),
        (31, 0.099_798_715_504_903_17, 0.850_201_285_300_238),
        (64, 0.050_000_2, 0.899_999_999_999_999_9),
        (98, 5.074_647_154_757_88e-5, 0.949_949_653_327_065_7),
        (99, 4e-7, 0.95),
        (100, 5.074_647_154_757_325e-5, 0.949_949_653_327_065_7),
    ];

    #[test]
    fn matches_pytorch_numbers_for_seven_steps() {
        let schedule = OneCycle::new(0.1, 7);
        for (step, &(lr, momentum)) in (0..).zip(&PYTORCH_TOTAL_7) {
            let (got_lr, got_momentum) = schedule.lr_momentum(step);
            assert_close(got_lr, lr, &format!("lr at step {step}"));
            assert_close(got_momentum, momentum, &format!("momentum at step {step}"));
        }
    }

    #[test]
    fn matches_pytorch_numbers_around_the_phase_ends_of_a_hundred_steps() {
        let schedule = OneCycle::new(0.1, 100);
        for &(step, lr, momentum) in &PYTORCH_TOTAL_100 {
            let (got_lr, got_momentum) = schedule.lr_momentum(step);
            assert_close(got_lr, lr, &format!("lr at step {step}"));
            assert_close(got_momentum, momentum, &format!("momentum at step {step}"));
        }
    }

    #[test]
    fn starts_at_max_lr_over_25_peaks_at_30_percent_and_ends_at_a_ten_thousandth_of_that() {
        let schedule = OneCycle::new(0.1, 1000);
        assert_close(schedule.lr_momentum(0).0, 0.004, "start");
        assert_close(schedule.lr_momentum(299).0, 0.1, "peak");
        assert_close(schedule.lr_momentum(299).1, 0.85, "momentum at the peak");
        assert_close(schedule.lr_momentum(999).0, 4e-7, "end");
        assert_close(schedule.lr_momentum(999).1, 0.95, "momentum at the end");
    }

    /// Every step of several schedules against PyTorch itself, when `PZ_PYTHON` names a Python
    /// with torch (skipped otherwise; the tables above keep the test honest without it).
    #[test]
    fn matches_pytorch_one_cycle_lr_at_every_step() {
        let Ok(python) = std::env::var("PZ_PYTHON") else {
            return;
        };
        let cases = [(0.1, 100_u64), (0.1, 7), (0.05, 1), (0.3, 2), (0.1, 49 * 3)];
        for (max_lr, total) in cases {
            let script = format!(
                "import torch\n\
                 p = torch.nn.Parameter(torch.zeros(1))\n\
                 o = torch.optim.SGD([p], lr={max_lr}, momentum=0.9)\n\
                 s = torch.optim.lr_scheduler.OneCycleLR(o, max_lr={max_lr}, total_steps={total})\n\
                 for t in range({total} + 1):\n\
                 \x20   g = o.param_groups[0]\n\
                 \x20   print(repr(g['lr']), repr(g['momentum']))\n\
                 \x20   if t < {total}:\n\
                 \x20       o.step(); s.step()\n"
            );
            let out =
                Command::new(&python).args(["-W", "ignore", "-c", &script]).output().expect("run python");
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let schedule = OneCycle::new(max_lr, total);
            let lines = String::from_utf8(out.stdout).expect("utf-8");
            for (step, line) in (0..).zip(lines.lines()) {
                let want: Vec<f64> = line.split(' ').map(|x| x.parse().expect("float")).collect();
                let (lr, momentum) = schedule.lr_momentum(step);
                assert_close(lr, want[0], &format!("lr, max_lr {max_lr}, total {total}, step {step}"));
                assert_close(momentum, want[1], &format!("momentum, total {total}, step {step}"));
            }
            assert_eq!(lines.lines().count(), usize::try_from(total).unwrap() + 1);
        }
    }
}
