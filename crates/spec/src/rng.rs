//! Per-model random streams, independent of population size, device and thread count.
//!
//! Each model owns ChaCha8 streams keyed by its seed: one for initialization, one for data.
//! Drawing in Rust (not through libtorch's global generator) is what makes a member of a
//! population of K start exactly like the same model trained alone.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The independent random streams of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Parameter initialization.
    Init = 0,
    /// Data: collocation points, shuffling, augmentation.
    Data = 1,
}

/// The generator of one stream of the model with `seed`.
#[must_use]
pub fn member_rng(seed: u64, stream: Stream) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream as u64);
    rng
}
