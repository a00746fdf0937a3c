//! The order in which an epoch visits the training set.

use rand::seq::SliceRandom;
use tch::Tensor;

use super::streams::shuffle_rng;

/// A permutation of `0..n` for `epoch` of the model with `seed`: a CPU i64 tensor `[n]`,
/// the same on every machine (Fisher–Yates on the epoch's own ChaCha8 words).
pub fn epoch_permutation(seed: u64, epoch: u64, n: usize) -> Tensor {
    let n = i64::try_from(n).expect("a dataset fits in i64");
    let mut order: Vec<i64> = (0..n).collect();
    order.shuffle(&mut shuffle_rng(seed, epoch));
    Tensor::from_slice(&order)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(seed: u64, epoch: u64, n: usize) -> Vec<i64> {
        Vec::<i64>::try_from(epoch_permutation(seed, epoch, n)).unwrap()
    }

    #[test]
    fn is_a_permutation_fixed_by_seed_and_epoch() {
        let first = order(0, 0, 1000);
        let mut sorted = first.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<i64>>());
        assert_eq!(order(0, 0, 1000), first);
        assert_ne!(order(0, 1, 1000), first);
        assert_ne!(order(1, 0, 1000), first);
        assert_eq!(epoch_permutation(0, 0, 0).size(), [0]);
    }
}
