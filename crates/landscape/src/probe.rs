//! Seeded random probe vectors, one ChaCha8 stream per member.
//!
//! Member k draws from `ChaCha8Rng::seed_from_u64(seed)` on its own stream, in parameter-list
//! order, so its probes depend only on (seed, its stream) and on its own history: not on K, on
//! the other members, on the device or on the thread count. The stream is the member's key when
//! the caller gives keys (`phasezoo metrics` passes each model's id, [`model_stream`], so that a
//! published value is a function of the model, never of the models it was measured with, issue
//! 17), else its position k. PyHessian draws with `torch.randn` / `torch.randint` on the device
//! instead; the distributions are the same.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use tch::{Kind, Tensor};

use crate::vector::members_of;

/// The K per-member random streams of one algorithm run.
#[derive(Debug, Clone)]
pub(crate) struct MemberStreams {
    rngs: Vec<ChaCha8Rng>,
}

impl MemberStreams {
    /// Streams 0 … K−1 of the ChaCha8 generator seeded with `seed`.
    pub(crate) fn new(seed: u64, members: usize) -> Self {
        Self::keyed(seed, &(0..members as u64).collect::<Vec<_>>())
    }

    /// Member k on stream `keys[k]` of the ChaCha8 generator seeded with `seed`.
    pub(crate) fn keyed(seed: u64, keys: &[u64]) -> Self {
        let rngs = keys
            .iter()
            .map(|&key| {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                rng.set_stream(key);
                rng
            })
            .collect();
        Self { rngs }
    }

    /// Member k on stream `keys[k]` when `keys` is not empty, else on stream k (of `members`).
    ///
    /// # Panics
    /// If `keys` is given for another number of members.
    pub(crate) fn for_members(seed: u64, keys: &[u64], members: usize) -> Self {
        if keys.is_empty() {
            return Self::new(seed, members);
        }
        assert_eq!(keys.len(), members, "{} stream keys for {members} members", keys.len());
        Self::keyed(seed, keys)
    }

    /// Standard Gaussian entries, shaped like `like`.
    pub(crate) fn gaussian(&mut self, like: &[Tensor]) -> Vec<Tensor> {
        let all = vec![true; self.rngs.len()];
        self.draw(like, &all, |rng| rng.sample(StandardNormal))
    }

    /// Standard Gaussian entries for the members in `mask`; zeros (and no draws) for the others.
    pub(crate) fn gaussian_masked(&mut self, like: &[Tensor], mask: &[bool]) -> Vec<Tensor> {
        self.draw(like, mask, |rng| rng.sample(StandardNormal))
    }

    /// Rademacher entries: ±1 with probability ½ each (PyHessian: `randint(0, 2)`, 0 → −1).
    pub(crate) fn rademacher(&mut self, like: &[Tensor]) -> Vec<Tensor> {
        // One bit per entry: 64-bit words are drawn here and unpacked into ±1 on the tensor's
        // device, so a probe of a 10M-parameter model moves 1.3 MB to the GPU instead of 42 MB
        // of floats built one by one on the host.
        let k = members_of(like);
        assert_eq!(k, self.rngs.len(), "streams for {} members, vector has {k}", self.rngs.len());
        like.iter()
            .map(|t| {
                let per = t.numel() / k;
                let words_per = per.div_ceil(64);
                let mut words: Vec<i64> = Vec::with_capacity(words_per * k);
                for rng in &mut self.rngs {
                    #[allow(clippy::cast_possible_wrap)]
                    words.extend((0..words_per).map(|_| rng.gen::<u64>() as i64));
                }
                let device = t.device();
                let shifts = Tensor::arange(64, (Kind::Int64, device));
                let bits = Tensor::from_slice(&words)
                    .to_device(device)
                    .reshape([i64::try_from(k).expect("small"), -1, 1])
                    .bitwise_right_shift(&shifts)
                    .bitwise_and(1)
                    .reshape([i64::try_from(k).expect("small"), -1])
                    .narrow(1, 0, i64::try_from(per).expect("fits"));
                (bits * 2 - 1).to_kind(t.kind()).reshape(t.size().as_slice())
            })
            .collect()
    }

    pub(crate) fn uniform(&mut self) -> Vec<f64> {
        self.rngs.iter_mut().map(|rng| rng.gen::<f64>()).collect()
    }

    /// Fill tensors shaped like `like` member by member (member k's slice is contiguous in a
    /// `[K, …]` layout); float64 buffers for float64 parameters, float32 otherwise.
    fn draw(
        &mut self,
        like: &[Tensor],
        mask: &[bool],
        mut f: impl FnMut(&mut ChaCha8Rng) -> f64,
    ) -> Vec<Tensor> {
        let k = members_of(like);
        assert_eq!(k, self.rngs.len(), "streams for {} members, vector has {k}", self.rngs.len());
        like.iter()
            .map(|t| {
                let per = t.numel() / k;
                let size = t.size();
                let host = if t.kind() == Kind::Double {
                    let mut buf = Vec::with_capacity(per * k);
                    for (rng, &on) in self.rngs.iter_mut().zip(mask) {
                        if on {
                            buf.extend((0..per).map(|_| f(rng)));
                        } else {
                            buf.resize(buf.len() + per, 0.0);
                        }
                    }
                    Tensor::from_slice(&buf)
                } else {
                    let mut buf = Vec::with_capacity(per * k);
                    for (rng, &on) in self.rngs.iter_mut().zip(mask) {
                        if on {
                            #[allow(clippy::cast_possible_truncation)]
                            buf.extend((0..per).map(|_| f(rng) as f32));
                        } else {
                            buf.resize(buf.len() + per, 0.0f32);
                        }
                    }
                    Tensor::from_slice(&buf)
                };
                host.reshape(size.as_slice()).to_kind(t.kind()).to_device(t.device())
            })
            .collect()
    }
}

/// The random stream of a model: its id's 64 bits (16 hex digits), so that its probes follow the
/// model wherever it is measured.
#[must_use]
pub fn model_stream(id: &pz_spec::ModelId) -> u64 {
    u64::from_str_radix(id.as_str(), 16).expect("a model id is 16 hex digits")
}

/// The random stream of an ordered pair of models (a curve between two seeds), from both
/// models' streams: SplitMix64's finaliser of one combined with the other, so that (a, b),
/// (b, a) and (a, a) all differ.
#[must_use]
pub fn pair_stream(a: u64, b: u64) -> u64 {
    splitmix(splitmix(a) ^ b.rotate_left(17))
}

/// The stream of replica `r` of a member on stream `key` (several probes per product).
#[must_use]
pub(crate) fn replica_stream(key: u64, r: u64) -> u64 {
    splitmix(key ^ splitmix(r.wrapping_add(0x5851_f42d_4c95_7f2d)))
}

/// SplitMix64's output function (Steele, Lea & Flood 2014): a bijective 64-bit mix.
fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vector::flatten_members;
    use tch::Device;

    #[test]
    fn a_members_probe_does_not_depend_on_the_population_size() {
        let o = (Kind::Double, Device::Cpu);
        let small = [Tensor::zeros([1, 3, 2], o), Tensor::zeros([1, 4], o)];
        let large = [Tensor::zeros([3, 3, 2], o), Tensor::zeros([3, 4], o)];
        let a = flatten_members(&MemberStreams::new(9, 1).gaussian(&small));
        let b = flatten_members(&MemberStreams::new(9, 3).gaussian(&large));
        assert_eq!(f64::try_from((a.get(0) - b.get(0)).abs().max()).unwrap(), 0.0);
        assert!(f64::try_from((b.get(0) - b.get(1)).abs().max()).unwrap() > 0.0);
    }

    #[test]
    fn a_keyed_members_probe_does_not_depend_on_its_position() {
        let o = (Kind::Double, Device::Cpu);
        let alone = [Tensor::zeros([1, 5], o)];
        let three = [Tensor::zeros([3, 5], o)];
        let a = flatten_members(&MemberStreams::keyed(4, &[77]).rademacher(&alone));
        let b = flatten_members(&MemberStreams::keyed(4, &[5, 9, 77]).rademacher(&three));
        assert_eq!(f64::try_from((a.get(0) - b.get(2)).abs().max()).unwrap(), 0.0);
        assert!(f64::try_from((b.get(0) - b.get(2)).abs().max()).unwrap() > 0.0);
    }

    #[test]
    fn model_and_pair_streams_are_distinct() {
        let id = pz_spec::ModelId::parse("00000000000000ff").unwrap();
        assert_eq!(model_stream(&id), 255);
        assert_ne!(pair_stream(1, 2), pair_stream(2, 1));
        assert_ne!(pair_stream(1, 1), pair_stream(2, 2));
        assert_ne!(replica_stream(1, 0), replica_stream(1, 1));
    }

    #[test]
    fn rademacher_entries_are_plus_or_minus_one() {
        let like = [Tensor::zeros([2, 500], (Kind::Float, Device::Cpu))];
        let r = MemberStreams::new(1, 2).rademacher(&like);
        assert_eq!(f64::try_from(r[0].abs().min()).unwrap(), 1.0);
        assert_eq!(f64::try_from(r[0].abs().max()).unwrap(), 1.0);
        assert!(f64::try_from(r[0].mean(Kind::Double)).unwrap().abs() < 0.1);
    }
}
