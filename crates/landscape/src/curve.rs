//! Quadratic Bézier curves between two models, the mode-connectivity score and the curve
//! learning-rate schedule (Garipov, Izmailov, Podoprikhin, Vetrov & Wilson 2018, "Loss
//! Surfaces, Mode Connectivity, and Fast Ensembling of DNNs", NeurIPS; their code
//! timgaripov/dnn-mode-connectivity; SPEC §3.3 and §7).
//!
//! The curve with endpoints θ₀, θ₂ and free bend θ₁ is
//! φ(t) = (1 − t)² θ₀ + 2t(1 − t) θ₁ + t² θ₂ = Σ_k C(2, k) t^k (1 − t)^{2−k} θ_k, t ∈ [0, 1].

use tch::Tensor;

/// Bernstein coefficients ((1 − t)², 2t(1 − t), t²).
fn bernstein(t: f64) -> [f64; 3] {
    [(1.0 - t) * (1.0 - t), 2.0 * t * (1.0 - t), t * t]
}

/// φ(t) for every tensor of the stacked control points (any shapes, as long as the three lists
/// match). Differentiable in whatever requires grad (θ₁ during curve training).
#[must_use]
pub fn bezier_point(theta0: &[Tensor], theta1: &[Tensor], theta2: &[Tensor], t: f64) -> Vec<Tensor> {
    let [c0, c1, c2] = bernstein(t);
    theta0.iter().zip(theta1).zip(theta2).map(|((a, b), c)| a * c0 + b * c1 + c * c2).collect()
}

/// φ(t_p) for each pair p, with one t per pair: `t` is `[P]` and every tensor is `[P, …]`
/// (t broadcast over the non-leading dims).
#[must_use]
pub fn bezier_point_per_member(
    theta0: &[Tensor],
    theta1: &[Tensor],
    theta2: &[Tensor],
    t: &Tensor,
) -> Vec<Tensor> {
    theta0
        .iter()
        .zip(theta1)
        .zip(theta2)
        .map(|((a, b), c)| {
            let mut shape = vec![1i64; a.dim()];
            shape[0] = -1;
            let t = t.to_kind(a.kind()).to_device(a.device()).reshape(shape.as_slice());
            let s = 1.0 - &t;
            a * &s * &s + b * (&t * &s * 2.0) + c * &t * &t
        })
        .collect()
}

/// Mode connectivity of values along a curve (PTMZ `compute_mc(values, mode="min")`, Yang et
/// al. 2021): with the endpoints' average a = ½(v₀ + v_last),
/// u = argmax_i |v_i − a| (first index on ties, as `np.argmax`) and mc = a − v_u.
///
/// mc < 0: some point is worse than the endpoints (a barrier, poorly connected); mc > 0: some
/// point is better than the endpoints (the endpoints are not minima: under-trained); mc ≈ 0:
/// well connected. For losses and errors (%); NaN for an empty slice. The endpoints are
/// candidates for u as well, so endpoints of unequal value alone give |mc| ≥ ½|v_last − v₀|.
#[must_use]
pub fn mode_connectivity(values: &[f64]) -> f64 {
    let (Some(first), Some(last)) = (values.first(), values.last()) else {
        return f64::NAN;
    };
    let a = 0.5 * (first + last);
    let mut u = 0;
    for (i, v) in values.iter().enumerate() {
        if (v - a).abs() > (values[u] - a).abs() {
            u = i;
        }
    }
    a - values[u]
}

/// Garipov's learning-rate factor for α = epoch / epochs (`learning_rate_schedule`):
/// 1 for α ≤ 0.5, 1 − (α − 0.5)/0.4 · 0.99 for α ≤ 0.9 (linear from 1 to 0.01), 0.01 after.
///
/// Epoch numbering: PTMZ's loop runs `for epoch in range(1, epochs + 1)` (1-based), which is
/// what SPEC §3.3's table shows (epoch 6 of 10 → α = 0.6 → factor 0.7525); Garipov's own
/// `train.py` passes the 0-based epoch, holding the base rate one epoch longer. This function
/// takes whichever the caller passes; [`crate::train_bezier_middle`] uses 1-based epochs.
#[must_use]
pub fn garipov_lr_factor(epoch: usize, epochs: usize) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let alpha = epoch as f64 / epochs as f64;
    if alpha <= 0.5 {
        1.0
    } else if alpha <= 0.9 {
        1.0 - (alpha - 0.5) / 0.4 * 0.99
    } else {
        0.01
    }
}

/// The learning rate of `epoch` (1-based) of curve training.
///
/// Correct (Garipov, phasezoo's default): base_lr × factor(epoch/epochs). With `ptmz_compat`,
/// PTMZ's bug: `lr = schedule(lr, epoch, epochs)` feeds the previous epoch's rate back in, so
/// the factors compound: previous_lr × factor (for 10 epochs from 0.1: 0.1 × 5, 0.07525,
/// 0.0380, 0.00979, 9.8e-5, 9.8e-7). `previous_lr` is ignored unless `ptmz_compat`; pass
/// base_lr for the first epoch.
#[must_use]
pub fn curve_lr(base_lr: f64, epoch: usize, epochs: usize, ptmz_compat: bool, previous_lr: f64) -> f64 {
    let factor = garipov_lr_factor(epoch, epochs);
    if ptmz_compat {
        previous_lr * factor
    } else {
        base_lr * factor
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn a_barrier_gives_negative_mc() {
        let mc = mode_connectivity(&[0.1, 0.5, 0.9, 0.5, 0.1]);
        assert!((mc + 0.8).abs() < 1e-15, "{mc}");
    }

    #[test]
    fn a_flat_curve_gives_zero_mc() {
        assert_eq!(mode_connectivity(&[0.2; 5]), 0.0);
        let mc = mode_connectivity(&[0.100, 0.101, 0.099, 0.1005, 0.100]);
        assert!(mc.abs() <= 0.001 + 1e-15, "{mc}");
    }

    #[test]
    fn unequal_endpoints_count_as_a_deviation_of_half_their_difference() {
        // The endpoints are candidates for u too: on a straight ramp |v_0 − a| = |v_last − a|,
        // and rounding picks one of them, so mc = ±½(v_last − v_0), not 0.
        let mc = mode_connectivity(&[0.1, 0.2, 0.3, 0.4, 0.5]);
        assert!((mc.abs() - 0.2).abs() < 1e-15, "{mc}");
    }

    #[test]
    fn under_trained_ends_give_positive_mc() {
        let mc = mode_connectivity(&[1.0, 0.6, 0.4, 0.6, 1.0]);
        assert!((mc - 0.6).abs() < 1e-15, "{mc}");
    }

    #[test]
    fn mc_takes_the_largest_deviation_in_either_direction() {
        // |0.3 − 0.5| < |1.2 − 0.5|: the barrier wins over the dip.
        assert!((mode_connectivity(&[0.5, 0.3, 1.2, 0.5]) + 0.7).abs() < 1e-15);
        assert!(mode_connectivity(&[]).is_nan());
    }

    #[test]
    fn the_correct_schedule_holds_then_decays_linearly_to_one_percent() {
        let lrs: Vec<f64> = (1..=10).map(|e| curve_lr(0.1, e, 10, false, f64::NAN)).collect();
        let want = [0.1, 0.1, 0.1, 0.1, 0.1, 0.07525, 0.0505, 0.02575, 0.001, 0.001];
        for (e, (a, b)) in lrs.iter().zip(want).enumerate() {
            assert!((a - b).abs() < 1e-15, "epoch {}: {a} vs {b}", e + 1);
        }
    }

    #[test]
    fn ptmz_compat_reproduces_the_compounding_table_of_spec_3_3() {
        let mut lr = 0.1;
        let mut lrs = Vec::new();
        for epoch in 1..=10 {
            lr = curve_lr(0.1, epoch, 10, true, lr);
            lrs.push(lr);
        }
        // SPEC §3.3: 0.1 (epochs 1–5), 0.07525, 0.0380, 0.00979, 9.8e-5, 9.8e-7.
        let want = [0.1, 0.1, 0.1, 0.1, 0.1, 0.07525, 0.0380, 0.00979, 9.8e-5, 9.8e-7];
        for (e, (a, b)) in lrs.iter().zip(want).enumerate() {
            // The table rounds to 3–4 significant digits.
            assert!((a - b).abs() <= 2e-3 * b, "epoch {}: {a} vs {b}", e + 1);
        }
        assert!((lrs[6] - 0.1 * 0.7525 * 0.505).abs() < 1e-15);
    }

    #[test]
    fn bezier_points_interpolate_the_ends_and_pass_the_weighted_bend() {
        let o = (Kind::Double, Device::Cpu);
        let a = [Tensor::from_slice(&[0.0, 0.0]).to_kind(Kind::Double)];
        let b = [Tensor::from_slice(&[1.0, 2.0]).to_kind(Kind::Double)];
        let c = [Tensor::from_slice(&[2.0, 0.0]).to_kind(Kind::Double)];
        let at = |t: f64| Vec::<f64>::try_from(&bezier_point(&a, &b, &c, t)[0]).unwrap();
        assert_eq!(at(0.0), vec![0.0, 0.0]);
        assert_eq!(at(1.0), vec![2.0, 0.0]);
        assert_eq!(at(0.5), vec![1.0, 1.0]); // ¼a + ½b + ¼c
        let per = bezier_point_per_member(
            &[Tensor::zeros([2, 2], o)],
            &[Tensor::ones([2, 2], o)],
            &[Tensor::zeros([2, 2], o)],
            &Tensor::from_slice(&[0.5, 0.0]),
        );
        assert_eq!(Vec::<f64>::try_from(per[0].reshape([-1])).unwrap(), vec![0.5, 0.5, 0.0, 0.0]);
    }
}
