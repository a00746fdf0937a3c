//! Where in a model's data stream each epoch's shuffle and each batch's augmentation draw from.
//!
//! Everything random in vision training comes from the model's [`Stream::Data`] ChaCha8 stream
//! (`pz_models::member_rng`), positioned by word offset instead of read in sequence: a batch's
//! numbers depend only on (seed, epoch, batch), never on how many batches were drawn before, so
//! resuming at any epoch or skipping batches changes no other batch.
//!
//! ChaCha8's word counter has 68 bits; the layout (most significant first) is
//!
//! ```text
//! 1 | epoch (23 bits) | 0 | 43 bits: the epoch's shuffle
//! 1 | epoch (23 bits) | 1 | batch (19 bits) | 24 bits: the batch's augmentation
//! ```
//!
//! The top bit keeps all of it clear of readers that consume the Data stream from word 0.

use pz_models::{member_rng, Stream};
use rand_chacha::ChaCha8Rng;

const VISION_BIT: u32 = 67;
const EPOCH_SHIFT: u32 = 44;
const EPOCH_BITS: u32 = 23;
const AUGMENT_BIT: u32 = 43;
const BATCH_SHIFT: u32 = 24;
const BATCH_BITS: u32 = 19;

/// The generator of the training-set shuffle of `epoch`.
///
/// # Panics
/// If `epoch` ≥ 2^23.
#[must_use]
pub fn shuffle_rng(seed: u64, epoch: u64) -> ChaCha8Rng {
    positioned(seed, epoch_base(epoch))
}

/// The generator of the augmentation of batch `batch` (0-based) of `epoch`; it holds 2^24 words,
/// some 10^6 images' worth of draws.
///
/// # Panics
/// If `epoch` ≥ 2^23 or `batch` ≥ 2^19.
#[must_use]
pub fn augment_rng(seed: u64, epoch: u64, batch: u64) -> ChaCha8Rng {
    assert!(batch < 1 << BATCH_BITS, "batch {batch} beyond the {} an epoch may have", 1u64 << BATCH_BITS);
    let word = epoch_base(epoch) | 1 << AUGMENT_BIT | u128::from(batch) << BATCH_SHIFT;
    positioned(seed, word)
}

fn epoch_base(epoch: u64) -> u128 {
    assert!(epoch < 1 << EPOCH_BITS, "epoch {epoch} beyond the {} supported", 1u64 << EPOCH_BITS);
    1 << VISION_BIT | u128::from(epoch) << EPOCH_SHIFT
}

fn positioned(seed: u64, word: u128) -> ChaCha8Rng {
    let mut rng = member_rng(seed, Stream::Data);
    rng.set_word_pos(word);
    rng
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngCore;

    #[test]
    fn the_regions_neither_overlap_nor_leave_the_68_bit_counter() {
        let top = augment_rng(0, (1 << EPOCH_BITS) - 1, (1 << BATCH_BITS) - 1).get_word_pos();
        assert!(top + (1 << BATCH_SHIFT) <= 1 << 68);
        assert!(shuffle_rng(0, 1).get_word_pos() > augment_rng(0, 0, (1 << BATCH_BITS) - 1).get_word_pos());
        assert!(augment_rng(0, 0, 0).get_word_pos() >= shuffle_rng(0, 0).get_word_pos() + (1 << AUGMENT_BIT));
    }

    #[test]
    fn streams_differ_by_seed_epoch_and_batch() {
        let first = |mut r: ChaCha8Rng| r.next_u64();
        let reference = first(augment_rng(3, 5, 7));
        assert_eq!(first(augment_rng(3, 5, 7)), reference);
        for other in [augment_rng(4, 5, 7), augment_rng(3, 6, 7), augment_rng(3, 5, 8), shuffle_rng(3, 5)] {
            assert_ne!(first(other), reference);
        }
    }
}
