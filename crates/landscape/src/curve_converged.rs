//! When a curve's training has stopped falling: the rule behind `curve_converged` and the
//! "mc unreliable" flag of `phasezoo phases` (docs/METRICS.md, "Curve diagnostics").
//!
//! It reads the data part of the training loss (the loss at the sampled t, without the
//! ½·wd·‖φ‖² term): in wide models that term is most of the regularised loss and keeps shrinking
//! under weight decay long after the data part has flattened (width-64 ResNet-18 on
//! Fashion-MNIST: ≈ 2.0 of 2.1), so a rule on the sum flags curves that are done. And it allows
//! for noise: each step's loss is taken at a random t on a random batch, so an epoch's mean
//! moves by a few percent from epoch to epoch even when nothing is learned any more (±1–5 %
//! measured there). The rule compares the mean of the last k epochs with that of the k before
//! (k = max(3, ⌊epochs/4⌋), at most ⌊epochs/2⌋): converged when the fall is at most
//! [`CONVERGED_FALL`] of the earlier level or at most two standard errors of the difference, from
//! the steps' own spread. Long trainings compare quarters, not the last 3 epochs: a PINN curve's
//! loss at a random t spreads over orders of magnitude, so 3 epochs' means could not tell a
//! 4-fold fall over the last 20 of 40 Adam epochs from noise (embedded zoo, β = 1, lr 1e-3).
//!
//! A curve counts as converged ([`converged_under_schedule`]) when its loss stopped falling by the
//! end and, for SGD, also within the epochs at the full rate (the first half of Garipov's
//! schedule): the decay that follows flattens any loss, so an SGD loss still falling when the
//! rate began to fall is frozen, not converged (the embedded zoo's SGD curves of 4,000 steps all
//! "stopped" at the end while keeping barriers of 50–70× their endpoints' loss). Adam's loss at
//! the full rate sits on its noise floor, which the decay is there to bring down (the paper-size
//! PINN zoo, 420 curves of 500 epochs: a 42× plateau above the ends, a 32× fall through the
//! decay, flat after), so an Adam curve is judged at its end only. Where the schedule's last
//! tenth (held at 1 % of the rate) has at least six epochs, "the end" is that tail, its first
//! half against its second: windows reaching back into the decay saw the decay's fall and called
//! every one of those 420 curves unfinished (docs/METRICS.md, "The paper-size PINN zoo on a
//! GPU").

/// The relative fall of the last epochs' mean data loss below the epochs before under which a
/// curve's training counts as converged (when it also exceeds the noise, see the module doc).
pub const CONVERGED_FALL: f64 = 0.01;

/// Fewest epochs in each of the two windows compared (when there are twice as many).
const WINDOW: usize = 3;

/// Whether the mean of the last `k` of `epochs` fell below that of the `k` before by at most
/// [`CONVERGED_FALL`] of the earlier level or two standard errors of the difference.
fn last_fall_within_noise(epochs: &[EpochLoss], k: usize) -> bool {
    let (before, last) = (&epochs[epochs.len() - 2 * k..epochs.len() - k], &epochs[epochs.len() - k..]);
    #[allow(clippy::cast_precision_loss)]
    let window = |w: &[EpochLoss]| {
        let k = w.len() as f64;
        let mean = w.iter().map(|e| e.mean).sum::<f64>() / k;
        // Variance of the window's mean of epoch means: Σ var/n / k².
        let var = w.iter().map(|e| e.variance / e.steps.max(1) as f64).sum::<f64>() / (k * k);
        (mean, var)
    };
    let ((m_before, v_before), (m_last, v_last)) = (window(before), window(last));
    let fall = m_before - m_last;
    fall <= (CONVERGED_FALL * m_before.abs()).max(2.0 * (v_before + v_last).sqrt())
}

/// One epoch of one pair's curve training: its steps' data losses summarised.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochLoss {
    /// Mean over the epoch's steps.
    pub mean: f64,
    /// Sample variance over the epoch's steps (0 with one step).
    pub variance: f64,
    /// Steps in the epoch.
    pub steps: usize,
}

impl EpochLoss {
    /// The summary of `values`, one per step.
    #[must_use]
    pub fn of(values: &[f64]) -> Self {
        #[allow(clippy::cast_precision_loss)]
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n.max(1.0);
        let variance = if values.len() > 1 {
            values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
        } else {
            0.0
        };
        Self { mean, variance, steps: values.len() }
    }
}

/// Whether a pair's curve training, `epochs` in order, stopped falling (module doc). Fewer than
/// two epochs: `false` (nothing can be said).
#[must_use]
pub fn stopped_falling(epochs: &[EpochLoss]) -> bool {
    let k = WINDOW.max(epochs.len() / 4).min(epochs.len() / 2);
    if k == 0 {
        return false;
    }
    last_fall_within_noise(epochs, k)
}

/// Epochs in the last tenth of Garipov's schedule, where the rate is held at 1 %: those e
/// (1-based) with e / E > 0.9.
fn tail_epochs(epochs: usize) -> usize {
    epochs - (9 * epochs) / 10
}

/// Whether a pair's loss stopped falling at the end of its training: within the schedule's
/// constant tail (first half against second) where it has at least 2 × 3 epochs, else
/// [`stopped_falling`] on every epoch.
#[must_use]
pub fn stopped_falling_at_the_end(epochs: &[EpochLoss]) -> bool {
    let tail = tail_epochs(epochs.len());
    if tail < 2 * WINDOW {
        return stopped_falling(epochs);
    }
    last_fall_within_noise(epochs, tail / 2)
}

/// Whether a pair's curve training converged under Garipov's schedule (module doc): its data
/// loss stopped falling at the end ([`stopped_falling_at_the_end`]) and, for SGD (`adam`
/// false), already within the first ⌊epochs/2⌋ epochs, those at the full rate
/// (`garipov_lr_factor` = 1; fewer than four epochs leave under two there: `false`).
#[must_use]
pub fn converged_under_schedule(epochs: &[EpochLoss], adam: bool) -> bool {
    stopped_falling_at_the_end(epochs) && (adam || stopped_falling(&epochs[..epochs.len() / 2]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiet(means: &[f64]) -> Vec<EpochLoss> {
        means.iter().map(|&mean| EpochLoss { mean, variance: 0.0, steps: 50 }).collect()
    }

    #[test]
    fn an_epoch_summary_has_the_sample_mean_and_variance() {
        let e = EpochLoss::of(&[1.0, 2.0, 3.0, 6.0]);
        assert_eq!((e.mean, e.variance, e.steps), (3.0, 14.0 / 3.0, 4));
        assert_eq!(EpochLoss::of(&[2.5]).variance, 0.0);
    }

    #[test]
    fn a_curve_still_falling_beyond_its_noise_is_not_converged() {
        // Noise-free: windows of 3 (epochs 5-7 against 8-10), a 1 % threshold.
        let falling: Vec<f64> = (0..10).map(|e| 1.0 - 0.02 * f64::from(e)).collect();
        assert!(!stopped_falling(&quiet(&falling)), "6 % below the window before");
        let flat = [1.0, 0.8, 0.7, 0.65, 0.6, 0.6, 0.6, 0.599, 0.598, 0.597];
        assert!(stopped_falling(&quiet(&flat)), "0.5 % below: stopped");
        // Two epochs: a window of one each, the old rule's comparison.
        assert!(!stopped_falling(&quiet(&[1.0, 0.5])));
        assert!(stopped_falling(&quiet(&[1.0, 0.995])));
        assert!(!stopped_falling(&quiet(&[1.0])), "one epoch says nothing");
        assert!(!stopped_falling(&[]));
    }

    #[test]
    fn a_long_training_compares_quarters_so_a_slow_noisy_fall_still_counts() {
        // 40 epochs of 100 steps falling 3 % an epoch with a step sd of 0.25. The last 3 epochs
        // against the 3 before fall 0.030, inside two standard errors of windows of 3
        // (2·sqrt(2·3·0.0625/100/9) = 0.041); quarters (epochs 21-30 against 31-40) fall 0.124
        // against 2·sqrt(2·10·0.0625/100/100) = 0.022.
        let epochs: Vec<EpochLoss> =
            (0..40).map(|e| EpochLoss { mean: 0.97_f64.powi(e), variance: 0.0625, steps: 100 }).collect();
        assert!(!stopped_falling(&epochs), "a steady fall over the last quarter");
        assert!(stopped_falling(&epochs[34..]), "its last 6 epochs alone: windows of 3, within noise");
        let flat: Vec<EpochLoss> =
            (0..40).map(|_| EpochLoss { mean: 0.3, variance: 0.0625, steps: 100 }).collect();
        assert!(stopped_falling(&flat));
    }

    #[test]
    fn a_fall_within_the_steps_noise_counts_as_stopped() {
        // A 5 % fall between windows of 3 epochs of 50 steps: step sd 0.3 gives the difference
        // a standard error of sqrt(2 · 3 · 0.09/50 / 9) = 0.035, so 2 se = 0.069 > 0.05.
        let noisy = |sd: f64| -> Vec<EpochLoss> {
            [1.0, 1.0, 1.0, 0.95, 0.95, 0.95]
                .iter()
                .map(|&mean| EpochLoss { mean, variance: sd * sd, steps: 50 })
                .collect()
        };
        assert!(stopped_falling(&noisy(0.3)), "within two standard errors");
        assert!(!stopped_falling(&noisy(0.05)), "0.012 se: a real fall");
    }

    #[test]
    fn a_loss_still_falling_at_the_full_rate_is_not_converged_though_the_decay_flattens_it() {
        // 10 epochs: the full rate for 5, then the decay. Falling 10 % an epoch until epoch 5,
        // flat after: the end (epochs 5-7 against 8-10) looks stopped, the full-rate half
        // (epochs 2-3 against 4-5) does not.
        let frozen = quiet(&[1.0, 0.9, 0.81, 0.73, 0.66, 0.66, 0.66, 0.66, 0.66, 0.66]);
        assert!(stopped_falling(&frozen), "the end alone looks converged");
        assert!(!converged_under_schedule(&frozen, false), "still falling at the full rate");
        // Flat from epoch 2 on: converged.
        let plateau = quiet(&[1.0, 0.6, 0.6, 0.6, 0.6, 0.6, 0.598, 0.597, 0.596, 0.596]);
        assert!(converged_under_schedule(&plateau, false));
        // Falling at the end: not converged whatever the first half did.
        let late = quiet(&[1.0, 0.7, 0.6, 0.6, 0.6, 0.6, 0.55, 0.5, 0.45, 0.4]);
        assert!(!converged_under_schedule(&late, false));
        // Three epochs: one at the full rate, nothing to compare.
        assert!(!converged_under_schedule(&quiet(&[1.0, 1.0, 1.0]), false));
        assert!(converged_under_schedule(&quiet(&[1.0, 1.0, 1.0, 1.0]), false), "two at the full rate, flat");
        // Adam is judged at its end only: the frozen SGD shape is a converged Adam curve.
        assert!(converged_under_schedule(&frozen, true));
        assert!(!converged_under_schedule(&late, true));
    }

    #[test]
    fn a_long_schedule_is_judged_in_its_constant_tail_not_across_the_decay() {
        // 500 epochs shaped as the paper-size PINN zoo's Adam curves: a plateau at the full rate
        // (epochs 1-250), a 32-fold fall through the decay (251-450), flat in the tail at 1 % of
        // the rate (451-500). Quarters (251-375 against 376-500) see the decay's fall; the tail
        // (451-475 against 476-500) is flat.
        let shaped: Vec<f64> = (1..=500)
            .map(|e| match e {
                ..=250 => 1.0,
                251..=450 => 32_f64.powf(-f64::from(e - 250) / 200.0),
                _ => 1.0 / 32.0,
            })
            .collect();
        let curve = quiet(&shaped);
        assert!(!stopped_falling(&curve), "quarters straddle the decay");
        assert!(stopped_falling_at_the_end(&curve));
        assert!(converged_under_schedule(&curve, true));
        // Still falling 3 % across the tail's halves: not converged.
        let mut late = shaped;
        for (i, v) in late.iter_mut().enumerate().skip(475) {
            *v *= 0.97_f64.powf((i - 474) as f64 / 25.0 * 2.0);
        }
        assert!(!stopped_falling_at_the_end(&quiet(&late)));
        // A short schedule's tail (one epoch of 10) is too short: the last windows as before.
        assert_eq!(tail_epochs(10), 1);
        assert_eq!(tail_epochs(500), 50);
        assert_eq!(tail_epochs(60), 6);
    }
}
