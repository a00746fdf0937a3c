//! The PINN MLP: alignment and function preservation, checked with a forward pass in Rust.

use pz_align::{mlp_spec, permute, Permutation, StateDict};

use crate::assert_alignment_undoes_a_random_permutation;
use crate::nets::mlp;

/// `nn.Sequential(Linear, Tanh, …, Linear)` on one input, in f64.
fn forward(state: &StateDict, x: &[f64]) -> Vec<f64> {
    let layers = state.keys().filter(|k| k.ends_with(".weight")).count();
    let mut h = x.to_vec();
    for l in 0..layers {
        let w = &state[&format!("net.{}.weight", 2 * l)];
        let b = state[&format!("net.{}.bias", 2 * l)].as_f32().unwrap();
        let (d_out, d_in) = (w.shape[0], w.shape[1]);
        let w = w.as_f32().unwrap();
        h = (0..d_out)
            .map(|o| {
                let y = f64::from(b[o]) + (0..d_in).map(|i| f64::from(w[o * d_in + i]) * h[i]).sum::<f64>();
                if l + 1 < layers {
                    y.tanh()
                } else {
                    y
                }
            })
            .collect();
    }
    h
}

#[test]
fn aligning_a_permuted_pinn_mlp_recovers_the_permutation_and_the_weights_bit_for_bit() {
    let state = mlp(&[2, 50, 50, 50, 50, 1], 3);
    assert_alignment_undoes_a_random_permutation(&mlp_spec(&state).unwrap(), &state, 21);
}

#[test]
fn a_permuted_mlp_computes_the_same_function_and_a_half_permuted_one_does_not() {
    let state = mlp(&[2, 20, 20, 1], 4);
    let spec = mlp_spec(&state).unwrap();
    let perm = Permutation::random(&spec, 5);
    let permuted = permute(&spec, &perm, &state).unwrap();
    // A spec that forgets the next layer's inputs breaks the function: the check can fail.
    let mut broken = spec.clone();
    broken.groups[0].axes.retain(|a| a.tensor != "net.2.weight");
    let wrong = permute(&broken, &perm, &state).unwrap();
    let mut worst: f64 = 0.0;
    for x in [[0.3, -0.7], [1.0, 0.5], [-0.2, 0.9]] {
        let (y, yp, yw) = (forward(&state, &x), forward(&permuted, &x), forward(&wrong, &x));
        // f64 sums of the same terms in another order: agreement to rounding.
        assert!((y[0] - yp[0]).abs() < 1e-12, "{y:?} vs {yp:?}");
        worst = worst.max((y[0] - yw[0]).abs());
    }
    assert!(worst > 1e-3, "a wrong permutation went unnoticed ({worst})");
}
