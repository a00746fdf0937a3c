//! Initialization laws of the vision models, drawn in Rust from the model's own init stream.
//!
//! The laws are PyTorch's (named per variant); the numbers are not: PyTorch draws from its
//! global generator, which neither the original's seeds nor a thread-safe Rust program can
//! replay. Drawing from [`member_rng`](crate::member_rng) instead makes the initial weights a
//! function of the seed alone: the same on CPU and CUDA, and untouched by other threads that
//! seed libtorch's global generator at the same time.

use rand::distributions::{Distribution, Uniform};
use rand_chacha::ChaCha8Rng;
use rand_distr::Normal;
use tch::{Device, Kind, Tensor};

/// tch's init of every variable the models create: a constant, so building draws nothing from
/// libtorch's global generator; the model then sets each tensor from its [`Init`].
pub(crate) const PLACEHOLDER: tch::nn::Init = tch::nn::Init::Const(0.0);

/// How one parameter starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Init {
    /// `kaiming_uniform_` at its defaults (a = 0, fan_in, gain √2): U(±√(6/fan_in)).
    KaimingUniform,
    /// `nn.Linear.reset_parameters` (kaiming_uniform_ with a = √5): U(±1/√fan_in).
    LinearDefault,
    /// `xavier_uniform_` (gain 1): U(±√(6/(fan_in + fan_out))).
    XavierUniform,
    /// `normal_(0, std)`.
    Normal(f64),
    /// `trunc_normal_(0, std, a=-2, b=2)`: PyTorch's bounds are absolute, not in units of std.
    TruncNormal(f64),
    /// `constant_(v)` (also zeros and ones).
    Const(f64),
}

/// PyTorch's `_calculate_fan_in_and_fan_out`: `[out, in, *kernel]` → (in·k, out·k).
#[allow(clippy::cast_precision_loss)]
fn fans(shape: &[i64]) -> (f64, f64) {
    assert!(shape.len() >= 2, "fan of a tensor with fewer than 2 dims: {shape:?}");
    let receptive: i64 = shape[2..].iter().product();
    ((shape[1] * receptive) as f64, (shape[0] * receptive) as f64)
}

/// A float32 CPU tensor of `shape` drawn from `init`; constants draw nothing from `rng`.
#[allow(clippy::cast_possible_truncation)]
pub(crate) fn draw(init: Init, shape: &[i64], rng: &mut ChaCha8Rng) -> Tensor {
    let numel = usize::try_from(shape.iter().product::<i64>()).expect("non-negative shape");
    let uniform = |bound: f64, rng: &mut ChaCha8Rng| -> Vec<f32> {
        let law = Uniform::new_inclusive(-bound as f32, bound as f32);
        (0..numel).map(|_| law.sample(rng)).collect()
    };
    let values: Vec<f32> = match init {
        Init::Const(v) => return Tensor::full(shape, v, (Kind::Float, Device::Cpu)),
        Init::KaimingUniform => uniform((6.0 / fans(shape).0).sqrt(), rng),
        Init::LinearDefault => uniform(1.0 / fans(shape).0.sqrt(), rng),
        Init::XavierUniform => {
            let (fan_in, fan_out) = fans(shape);
            uniform((6.0 / (fan_in + fan_out)).sqrt(), rng)
        }
        Init::Normal(std) => {
            let law = Normal::new(0.0f32, std as f32).expect("std > 0");
            (0..numel).map(|_| law.sample(rng)).collect()
        }
        Init::TruncNormal(std) => {
            let law = Normal::new(0.0f32, std as f32).expect("std > 0");
            // Rejection keeps the normal's shape inside the bounds, as PyTorch's inverse-CDF
            // method does; with the small stds used here a rejection is practically never hit.
            (0..numel)
                .map(|_| loop {
                    let x = law.sample(rng);
                    if (-2.0..=2.0).contains(&x) {
                        break x;
                    }
                })
                .collect()
        }
    };
    Tensor::from_slice(&values).reshape(shape)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{member_rng, Stream};

    #[test]
    fn kaiming_uniform_stays_inside_its_bound_and_fills_it() {
        let mut rng = member_rng(0, Stream::Init);
        let t = draw(Init::KaimingUniform, &[64, 16, 3, 3], &mut rng);
        let bound = (6.0f64 / 144.0).sqrt();
        let max = t.abs().max().double_value(&[]);
        assert!(max <= bound && max > 0.95 * bound, "max {max}, bound {bound}");
    }

    #[test]
    fn xavier_uniform_uses_both_fans() {
        let mut rng = member_rng(0, Stream::Init);
        let t = draw(Init::XavierUniform, &[96, 32], &mut rng);
        let bound = (6.0f64 / 128.0).sqrt();
        let max = t.abs().max().double_value(&[]);
        assert!(max <= bound && max > 0.95 * bound, "max {max}, bound {bound}");
    }

    #[test]
    fn constants_draw_nothing() {
        let mut a = member_rng(3, Stream::Init);
        let b = member_rng(3, Stream::Init);
        let _ = draw(Init::Const(0.01), &[10], &mut a);
        assert_eq!(a, b);
    }
}
