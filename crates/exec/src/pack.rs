//! Packing models onto GPUs by expected cost: several small trainings share a GPU at once (each
//! worker thread on its own CUDA stream, its step a CUDA graph), while a model big enough to fill
//! the GPU trains alone. ../shared/PERF-NOTES.md: one process driving ~8 small ResNet trainings
//! this way reaches ~7.7× one eager trial per GPU; big cells are compute-bound and gain nothing
//! from company.
//!
//! The queue hands out first the items that need most of a GPU (while the device is still
//! empty), then the rest longest first by expected work ([`expected_work`]), so that the longest
//! trainings start early and do not finish last alone. It admits an item on a device only while
//! the shares of what runs there stay within one GPU — or when nothing runs there, so an item
//! larger than a GPU still runs. Shares are rough (multiply-adds per step, [`gpu_share`]); the
//! limit matters for the largest models, which would otherwise meet each other in GPU memory.
//!
//! Why work and not size decides the order: a wide model at a small batch takes many steps that
//! each leave the GPU half idle; ordered by size of step, the ResNet-18 grid's width 256 ×
//! batch 8 (1,024 steps) started among the last and ran 22 s of a 43 s packed grid. Ordered by
//! work it starts early. On that grid the wall time stayed the same (43–45 s: the wide cells'
//! GPU time is the limit there, BENCHMARKS.md), but no long training is left to finish alone.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};

/// Multiply-adds in one training step (forward and backward) at which a model is counted as
/// filling a GPU by itself. Measured on an H100 with the ResNet-18 zoo grid (BENCHMARKS.md):
/// even wide cells leave room for others (width 256 at batch 8 reaches ~30% of the rate of its
/// batch-1024 sibling), so admission limits cost wall time — 67 s with a limit at 3·10^11, 59 s
/// at 10^13, 53 s without a limit. The limit stays only for the largest paper cell (ResNet-18
/// width 256, batch 1024 on 28×28 images: 2.2·10^13), whose memory (~16 GiB) should not meet
/// seven more of its kind.
pub const GPU_FILLING_MULTIPLY_ADDS: f64 = 2e13;

/// The fixed cost of one training step in multiply-add units: a replayed step's launch and
/// bookkeeping (~0.7 ms on an H100: ResNet-18 width 2 at batch 8, 0.68 ms a step) at the rate a
/// wide step reaches (~2.7·10^13 multiply-adds/s: width 256 at batch 8, 7.1 ms a step).
pub const STEP_FIXED_MULTIPLY_ADDS: f64 = 2e10;

/// A training's expected work in multiply-add units, for ordering: `steps` × (its multiply-adds
/// per step + [`STEP_FIXED_MULTIPLY_ADDS`]).
#[must_use]
pub fn expected_work(multiply_adds_per_step: f64, steps: f64) -> f64 {
    steps * (multiply_adds_per_step + STEP_FIXED_MULTIPLY_ADDS)
}

/// What the queue knows of an item: its share of a GPU while it runs ([`gpu_share`]; 0 = never
/// waits, plain first-come order, as on a CPU) and its expected work ([`expected_work`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cost {
    /// Expected share of one GPU, in [0, 1].
    pub share: f64,
    /// Expected work, in multiply-add units.
    pub work: f64,
}

impl Cost {
    /// No share and no work: first-come order, never waiting.
    pub const FIRST_COME: Self = Self { share: 0.0, work: 0.0 };

    /// A training on a GPU of `steps` steps of `multiply_adds_per_step` each, counting a GPU as
    /// filled by `filling` multiply-adds per step ([`gpu_share`], [`expected_work`]).
    #[must_use]
    pub fn on_gpu(multiply_adds_per_step: f64, steps: f64, filling: f64) -> Self {
        Self {
            share: gpu_share(multiply_adds_per_step, filling),
            work: expected_work(multiply_adds_per_step, steps),
        }
    }
}

/// GPU memory the pack scheduler shares among the trainings of one GPU: an 80 GB H100 less
/// room for the CUDA context, the allocator's rounding and each worker's workspace. A training
/// whose step holds a large part of it takes that share of the GPU whatever its multiply-adds
/// ([`memory_share`]): a CUDA graph keeps its step's memory in a private pool for the whole
/// training, so packed graphs add up (the GPU Shakespeare zoo ran out of memory with 8 GPT-2s
/// at 16,384 tokens a step, 50 GiB in graph pools). Larger GPUs pack conservatively.
pub const GPU_PACKING_BYTES: f64 = 60e9;

/// A training's share of one GPU by memory: the bytes its step and evaluations hold over
/// [`GPU_PACKING_BYTES`], at most a whole GPU.
#[must_use]
pub fn memory_share(bytes: f64) -> f64 {
    (bytes / GPU_PACKING_BYTES).clamp(0.0, 1.0)
}

/// Worker threads per GPU when packing: PERF-NOTES.md measured 8 streams as the knee (16 gave
/// no more).
pub const WORKERS_PER_GPU: usize = 8;

/// A training step's expected share of one GPU, in (0, 1]: its multiply-adds over `filling`
/// (the multiply-adds of a step that fills a GPU alone, [`GPU_FILLING_MULTIPLY_ADDS`]), at
/// least 1/[`WORKERS_PER_GPU`] (a launch-bound step still takes its stream's time), at most a
/// whole GPU.
#[must_use]
pub fn gpu_share(multiply_adds_per_step: f64, filling: f64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let floor = 1.0 / WORKERS_PER_GPU as f64;
    (multiply_adds_per_step / filling).clamp(floor, 1.0)
}

/// Items waiting for a device, and each device's load.
pub struct PackQueue<T> {
    state: Mutex<State<T>>,
    freed: Condvar,
}

struct State<T> {
    /// Items and their shares, in the order they are handed out.
    waiting: VecDeque<(T, f64)>,
    load: Vec<f64>,
}

/// A running item's place on its device; dropping it frees the share for the next item.
pub struct Lease<'a, T> {
    queue: &'a PackQueue<T>,
    device: usize,
    share: f64,
}

impl<T> PackQueue<T> {
    /// A queue of `(item, cost)` for `devices` devices: items needing more than half a GPU
    /// first, largest share first; then the others, most work first (ties keep their order).
    #[must_use]
    pub fn new(items: Vec<(T, Cost)>, devices: usize) -> Self {
        let mut items = items;
        let key = |c: &Cost| if c.share > 0.5 { (1, c.share) } else { (0, c.work) };
        items.sort_by(|(_, a), (_, b)| {
            let (ka, kb) = (key(a), key(b));
            kb.0.cmp(&ka.0).then(kb.1.total_cmp(&ka.1))
        });
        let waiting = items.into_iter().map(|(item, cost)| (item, cost.share)).collect();
        Self { state: Mutex::new(State { waiting, load: vec![0.0; devices.max(1)] }), freed: Condvar::new() }
    }

    /// The next item for a worker on `device`, once the device has room for it (see the module
    /// notes); `None` when no item is left.
    ///
    /// # Panics
    /// If `device` is not below the number of devices the queue was made for.
    pub fn next(&self, device: usize) -> Option<(T, Lease<'_, T>)> {
        let mut state = self.state.lock().expect("pack queue");
        loop {
            let (_, share) = state.waiting.front()?;
            let load = state.load[device];
            if load == 0.0 || load + share <= 1.0 + 1e-9 {
                let (item, share) = state.waiting.pop_front().expect("a front item");
                state.load[device] += share;
                return Some((item, Lease { queue: self, device, share }));
            }
            state = self.freed.wait(state).expect("pack queue");
        }
    }

    /// Items not handed out yet.
    #[must_use]
    pub fn len(&self) -> usize {
        self.state.lock().expect("pack queue").waiting.len()
    }

    /// Whether every item has been handed out.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Drop for Lease<'_, T> {
    fn drop(&mut self) {
        let mut state = self.queue.state.lock().expect("pack queue");
        let load = &mut state.load[self.device];
        *load = (*load - self.share).max(0.0);
        if *load < 1e-9 {
            *load = 0.0; // no float residue may keep an idle device "busy"
        }
        drop(state);
        self.queue.freed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_memory_share_is_the_bytes_over_the_packing_budget_at_most_one_gpu() {
        assert_eq!(memory_share(0.0), 0.0);
        assert_eq!(memory_share(GPU_PACKING_BYTES / 4.0), 0.25);
        assert_eq!(memory_share(3.0 * GPU_PACKING_BYTES), 1.0);
    }

    #[test]
    fn shares_grow_with_the_work_of_a_step_between_a_floor_and_one_gpu() {
        assert_eq!(gpu_share(0.0, 3e11), 0.125);
        assert_eq!(gpu_share(1.5e11, 3e11), 0.5);
        assert_eq!(gpu_share(1e13, 3e11), 1.0);
    }

    /// Workers on one device: the whole-GPU item starts first and runs alone, shares never add
    /// up past one GPU, and every item runs exactly once.
    #[test]
    fn a_device_never_holds_more_than_one_gpu_of_shares_and_big_items_run_alone() {
        let shares = [0.25, 1.0, 0.5, 0.125, 0.5, 0.25, 0.125, 0.75];
        let queue = PackQueue::new(shares.iter().map(|&s| share(s)).enumerate().collect(), 1);
        let running = Mutex::new(Vec::<f64>::new());
        let started = Mutex::new(Vec::new());
        let peak_together = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    while let Some((item, lease)) = queue.next(0) {
                        started.lock().unwrap().push(item);
                        let share = lease.share;
                        {
                            let mut r = running.lock().unwrap();
                            r.push(share);
                            let total: f64 = r.iter().sum();
                            assert!(total <= 1.0 + 1e-9, "{r:?} on one GPU");
                            assert!(share < 1.0 || r.len() == 1, "a whole-GPU item with company: {r:?}");
                            peak_together.fetch_max(r.len(), Ordering::SeqCst);
                        }
                        std::thread::sleep(Duration::from_millis(15));
                        let mut r = running.lock().unwrap();
                        let at = r.iter().position(|&x| x == share).unwrap();
                        r.remove(at);
                        drop(r);
                        drop(lease);
                    }
                });
            }
        });
        let started = started.into_inner().unwrap();
        let mut all = started.clone();
        all.sort_unstable();
        assert_eq!(all, (0..shares.len()).collect::<Vec<_>>(), "every item once");
        assert_eq!(shares[started[0]], 1.0, "the largest item starts first");
        assert!(peak_together.load(Ordering::SeqCst) >= 2, "small items were packed together");
        assert!(queue.is_empty());
    }

    /// With two devices, a worker on the second takes the next item while the first is full.
    #[test]
    fn another_device_takes_what_the_full_one_cannot() {
        let queue = PackQueue::new(vec![("big", share(1.0)), ("next", share(0.5))], 2);
        let (first, lease0) = queue.next(0).unwrap();
        assert_eq!(first, "big");
        let (second, lease1) = queue.next(1).unwrap();
        assert_eq!(second, "next", "device 1 is free although device 0 is full");
        drop((lease0, lease1));
        assert!(queue.next(0).is_none());
    }

    /// Items leave in order of expected work, each once the device has room for its share.
    #[test]
    fn items_come_most_work_first_while_they_fit() {
        let cost = |share, work| Cost { share, work };
        let items = vec![
            ("c", cost(0.125, 1.0)),
            ("b", cost(0.5, 3.0)),
            ("a", cost(0.25, 4.0)),
            ("d", cost(0.5, 2.0)),
        ];
        let queue = PackQueue::new(items, 1);
        let (a, lease_a) = queue.next(0).unwrap();
        let (b, lease_b) = queue.next(0).unwrap();
        assert_eq!((a, b), ("a", "b"));
        drop(lease_a); // d (0.5) fits next to b (0.5) only now
        let (d, _lease_d) = queue.next(0).unwrap();
        drop(lease_b);
        let (c, _lease_c) = queue.next(0).unwrap();
        assert_eq!((d, c), ("d", "c"));
    }

    /// A wide model at a small batch (many steps) comes before a narrower one at a large batch,
    /// and before a same-width model at a large batch (same multiply-adds, fewer fixed costs);
    /// an item needing most of a GPU still comes first, while the device is empty.
    #[test]
    fn items_come_by_expected_work_after_those_that_need_most_of_a_gpu() {
        let training = |macs_per_image: f64, batch: f64| {
            Cost::on_gpu(macs_per_image * batch, 1024.0 * 8.0 / batch, GPU_FILLING_MULTIPLY_ADDS)
        };
        let wide = 2e10; // multiply-adds per image of a wide model: batch 1024 fills the GPU
        let items = vec![
            ("narrow, batch 1024", training(wide / 64.0, 1024.0)),
            ("wide, batch 1024", training(wide, 1024.0)),
            ("narrow, batch 8", training(wide / 64.0, 8.0)),
            ("wide, batch 64", training(wide, 64.0)),
            ("wide, batch 8", training(wide, 8.0)),
        ];
        let queue = PackQueue::new(items, 1);
        let order: Vec<&str> = std::iter::from_fn(|| queue.next(0).map(|(item, _lease)| item)).collect();
        assert_eq!(
            order,
            ["wide, batch 1024", "wide, batch 8", "wide, batch 64", "narrow, batch 8", "narrow, batch 1024"]
        );
    }

    fn share(share: f64) -> Cost {
        Cost { share, work: 0.0 }
    }

    #[test]
    fn zero_shares_keep_first_come_order_and_never_wait() {
        let queue = PackQueue::new(
            vec![("a", Cost::FIRST_COME), ("b", Cost::FIRST_COME), ("c", Cost::FIRST_COME)],
            1,
        );
        let leases: Vec<_> = std::iter::from_fn(|| queue.next(0)).collect();
        let items: Vec<&str> = leases.iter().map(|(i, _)| *i).collect();
        assert_eq!(items, ["a", "b", "c"], "all held at once, in order");
    }
}
