//! The one worker pool: threads on a list of devices take items from a [`PackQueue`] until the
//! queue runs out, a stop flag is raised or their work says stop. Training, metrics and the
//! ResNet benchmark all run through it; what an item is, what a device is and what a worker does
//! with them is the caller's (the pool never sees a tensor).
//!
//! Worker i runs on slot i mod n of the slots given. Each worker thread first calls `on_start`
//! (where a caller puts the thread on its own CUDA stream), then makes its state once with
//! `init`, then runs `work` on one item after another. An item's lease on its device (its share
//! of the GPU) is given back as soon as its work returns, before the worker asks for the next.
//!
//! A worker whose work fails or panics ends there; the other workers go on until the queue is
//! empty, and the first failure in time is returned. Results are the caller's to gather (its
//! `work` closure can push to a `Mutex` or add to an atomic).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::pack::{Cost, PackQueue};

/// What a worker does after an item, and how a whole run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Take the next item; as a run's end: every item ran.
    Continue,
    /// Take no more (the work was interrupted); as a run's end: some worker stopped early.
    Stop,
}

/// Why a run failed: the first failure of any worker.
#[derive(Debug, thiserror::Error)]
pub enum Error<E> {
    /// An item's work returned an error.
    #[error(transparent)]
    Work(E),
    /// A worker thread panicked (in `on_start`, `init` or an item's work).
    #[error("worker {worker} panicked: {message}")]
    Panicked {
        /// The worker's index.
        worker: usize,
        /// The panic's message.
        message: String,
    },
}

impl<E> Error<E> {
    /// The work's own error, or what `panicked` makes of a panic's message (for callers whose
    /// error type is not a `std::error::Error`, such as `anyhow::Error`).
    pub fn into_work_error(self, panicked: impl FnOnce(String) -> E) -> E {
        match self {
            Self::Work(e) => e,
            Self::Panicked { message, .. } => panicked(message),
        }
    }
}

/// Worker threads over a list of devices (see the module notes).
#[derive(Debug, Clone, Copy)]
pub struct Pool<'a, D> {
    slots: &'a [D],
    jobs: usize,
    stop: Option<&'a AtomicBool>,
}

impl<'a, D: Copy + Send + Sync> Pool<'a, D> {
    /// `jobs` workers on `slots` (worker i on slot i mod n). With no slots nothing runs.
    #[must_use]
    pub fn new(slots: &'a [D], jobs: usize) -> Self {
        Self { slots, jobs, stop: None }
    }

    /// Workers check `stop` before taking each item and take none once it is set. Without it
    /// every item is handed out; work that watches a flag itself ends with [`Flow::Stop`].
    #[must_use]
    pub fn with_stop(self, stop: &'a AtomicBool) -> Self {
        Self { stop: Some(stop), ..self }
    }

    /// Runs `work` on every item (until stopped), items handed out by their [`Cost`] as
    /// [`PackQueue`] orders and admits them. Returns [`Flow::Stop`] if a worker's work said stop
    /// or the stop flag left items untaken, else [`Flow::Continue`].
    ///
    /// # Errors
    /// The first (in time) error of an item's work, or the first panic of a worker.
    pub fn run<T: Send, S, E: Send>(
        &self,
        items: Vec<(T, Cost)>,
        on_start: impl Fn(usize, D) + Sync,
        init: impl Fn(D) -> S + Sync,
        work: impl Fn(&mut S, T, D) -> Result<Flow, E> + Sync,
    ) -> Result<Flow, Error<E>> {
        let workers = if self.slots.is_empty() { 0 } else { self.jobs };
        let queue = PackQueue::new(items, self.slots.len());
        // A failing worker draws a ticket: the lowest is the first failure in time.
        let tickets = AtomicUsize::new(0);
        let ends: Vec<Result<Flow, (usize, Error<E>)>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers)
                .map(|worker| {
                    let (queue, tickets, on_start, init, work) = (&queue, &tickets, &on_start, &init, &work);
                    let (slot, stop) = (worker % self.slots.len(), self.stop);
                    let device = self.slots[slot];
                    s.spawn(move || {
                        let ran = catch_unwind(AssertUnwindSafe(|| -> Result<Flow, E> {
                            on_start(worker, device);
                            let mut state = init(device);
                            loop {
                                if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
                                    return Ok(if queue.is_empty() { Flow::Continue } else { Flow::Stop });
                                }
                                let Some((item, lease)) = queue.next(slot) else { return Ok(Flow::Continue) };
                                let flow = work(&mut state, item, device)?;
                                drop(lease);
                                if flow == Flow::Stop {
                                    return Ok(Flow::Stop);
                                }
                            }
                        }));
                        let error = match ran {
                            Ok(Ok(flow)) => return Ok(flow),
                            Ok(Err(e)) => Error::Work(e),
                            Err(panic) => Error::Panicked { worker, message: panic_message(panic.as_ref()) },
                        };
                        Err((tickets.fetch_add(1, Ordering::SeqCst), error))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("panics are caught inside the worker")).collect()
        });
        let mut flow = Flow::Continue;
        let mut first: Option<(usize, Error<E>)> = None;
        for end in ends {
            match end {
                Ok(Flow::Stop) => flow = Flow::Stop,
                Ok(Flow::Continue) => {}
                Err((ticket, e)) => {
                    if first.as_ref().is_none_or(|(t, _)| ticket < *t) {
                        first = Some((ticket, e));
                    }
                }
            }
        }
        first.map_or(Ok(flow), |(_, e)| Err(e))
    }
}

/// The text of a caught panic (`panic!` with a literal or a formatted message).
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_string()))
        .unwrap_or_else(|| "a panic without a message".to_string())
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    use super::*;

    fn first_come<T>(items: impl IntoIterator<Item = T>) -> Vec<(T, Cost)> {
        items.into_iter().map(|i| (i, Cost::FIRST_COME)).collect()
    }

    fn sorted(v: Mutex<Vec<usize>>) -> Vec<usize> {
        let mut v = v.into_inner().unwrap();
        v.sort_unstable();
        v
    }

    #[test]
    fn every_item_runs_exactly_once() {
        let ran = Mutex::new(Vec::new());
        let flow = Pool::new(&[0, 1, 2], 7)
            .run(
                first_come(0..100),
                |_, _| {},
                |_| (),
                |(), i, _| {
                    ran.lock().unwrap().push(i);
                    Ok::<_, ()>(Flow::Continue)
                },
            )
            .unwrap();
        assert_eq!(flow, Flow::Continue);
        assert_eq!(sorted(ran), (0..100).collect::<Vec<_>>());
    }

    /// `on_start`, `init` and every item of worker i see slot i mod n, `on_start` first.
    #[test]
    fn worker_i_runs_on_slot_i_mod_n() {
        let slots = ['a', 'b', 'c'];
        let started = Mutex::new(Vec::new());
        let seen = Mutex::new(Vec::new());
        Pool::new(&slots, 7)
            .run(
                first_come(0..50),
                |worker, device| started.lock().unwrap().push((worker, device)),
                |device| device,
                |&mut init_device, _, device| {
                    seen.lock().unwrap().push((init_device, device));
                    Ok::<_, ()>(Flow::Continue)
                },
            )
            .unwrap();
        let mut started = started.into_inner().unwrap();
        started.sort_unstable();
        assert_eq!(started, (0..7).map(|w| (w, slots[w % 3])).collect::<Vec<_>>());
        assert!(seen.into_inner().unwrap().iter().all(|(a, b)| a == b), "init and work share the slot");
    }

    /// One worker per slot, each item on the slot its worker has: measure's shape.
    #[test]
    fn one_worker_per_slot_takes_items_first_come() {
        let order = Mutex::new(Vec::new());
        Pool::new(&[7], 1)
            .run(
                first_come(0..10),
                |_, _| {},
                |_| (),
                |(), i, device| {
                    assert_eq!(device, 7);
                    order.lock().unwrap().push(i);
                    Ok::<_, ()>(Flow::Continue)
                },
            )
            .unwrap();
        assert_eq!(order.into_inner().unwrap(), (0..10).collect::<Vec<_>>(), "in the given order");
    }

    #[test]
    fn a_raised_stop_flag_stops_handing_out_items() {
        let stop = AtomicBool::new(false);
        let ran = Mutex::new(Vec::new());
        let flow = Pool::new(&[0], 1)
            .with_stop(&stop)
            .run(
                first_come(0..10),
                |_, _| {},
                |_| (),
                |(), i, _| {
                    ran.lock().unwrap().push(i);
                    if i == 3 {
                        stop.store(true, Ordering::SeqCst);
                    }
                    Ok::<_, ()>(Flow::Continue)
                },
            )
            .unwrap();
        assert_eq!(flow, Flow::Stop, "items were left");
        assert_eq!(ran.into_inner().unwrap(), [0, 1, 2, 3]);

        let never: Result<_, Error<()>> = Pool::new(&[0, 1], 4).with_stop(&stop).run(
            first_come(0..10),
            |_, _| {},
            |_| (),
            |(), _, _| panic!("no item runs under a raised flag"),
        );
        assert_eq!(never.unwrap(), Flow::Stop);
        let nothing_left: Result<_, Error<()>> = Pool::new(&[0], 1).with_stop(&stop).run(
            Vec::<(usize, Cost)>::new(),
            |_, _| {},
            |_| (),
            |(), _, _| Ok(Flow::Continue),
        );
        assert_eq!(nothing_left.unwrap(), Flow::Continue, "a raised flag with nothing left stops nothing");
    }

    /// Work saying stop ends its worker only (train: one interrupted training); the others go
    /// on, and the run ends as stopped.
    #[test]
    fn work_saying_stop_ends_its_worker_and_the_run_reports_it() {
        let ran = Mutex::new(Vec::new());
        let flow = Pool::new(&[0], 2)
            .run(
                first_come(0..20),
                |_, _| {},
                |_| (),
                |(), i, _| {
                    ran.lock().unwrap().push(i);
                    Ok::<_, ()>(if i == 0 { Flow::Stop } else { Flow::Continue })
                },
            )
            .unwrap();
        assert_eq!(flow, Flow::Stop);
        assert_eq!(sorted(ran), (0..20).collect::<Vec<_>>(), "the other worker took the rest");
    }

    /// Item 1 fails at once; item 0, on the other worker, fails after it: the earlier error wins
    /// whichever worker had it, and the other workers still empty the queue.
    #[test]
    fn the_first_error_in_time_is_returned_and_the_others_go_on() {
        let failed_first = AtomicBool::new(false);
        let ran = Mutex::new(Vec::new());
        let result = Pool::new(&[0], 3).run(
            first_come(0..30),
            |_, _| {},
            |_| (),
            |(), i, _| {
                ran.lock().unwrap().push(i);
                match i {
                    0 => {
                        let t0 = Instant::now();
                        while !failed_first.load(Ordering::SeqCst) && t0.elapsed() < Duration::from_secs(10) {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                        Err("second")
                    }
                    1 => {
                        failed_first.store(true, Ordering::SeqCst);
                        Err("first")
                    }
                    _ => Ok(Flow::Continue),
                }
            },
        );
        assert!(matches!(result, Err(Error::Work("first"))), "{result:?}");
        assert_eq!(sorted(ran), (0..30).collect::<Vec<_>>());
    }

    #[test]
    fn a_panicking_worker_becomes_an_error_with_its_message() {
        let ran = AtomicUsize::new(0);
        let result = Pool::new(&[0, 1], 2).run(
            first_come(0..10),
            |_, _| {},
            |_| (),
            |(), i, _| {
                ran.fetch_add(1, Ordering::SeqCst);
                assert!(i != 4, "item {i} is broken");
                Ok::<_, String>(Flow::Continue)
            },
        );
        match result {
            Err(Error::Panicked { message, .. }) => assert_eq!(message, "item 4 is broken"),
            other => panic!("expected a panic error, got {other:?}"),
        }
        assert_eq!(ran.load(Ordering::SeqCst), 10, "the other worker went on");
        let failed: Result<Flow, Error<String>> = Pool::new(&[0], 1).run(
            first_come(0..1),
            |_, _| panic!("no stream"),
            |_| (),
            |(), _, _| Ok(Flow::Continue),
        );
        let message = failed.unwrap_err().into_work_error(|m| format!("panicked: {m}"));
        assert_eq!(message, "panicked: no stream", "on_start panics are caught too");
    }

    /// Two items each filling a GPU never run together on one device: the lease of the first
    /// is given back when its work returns, and only then the second starts.
    #[test]
    fn items_are_packed_and_leases_given_back_after_each_item() {
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let whole = Cost { share: 1.0, work: 1.0 };
        Pool::new(&[0], 4)
            .run(
                vec![(0, whole), (1, whole), (2, whole)],
                |_, _| {},
                |_| (),
                |(), _, _| {
                    peak.fetch_max(running.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, ()>(Flow::Continue)
                },
            )
            .unwrap();
        assert_eq!(peak.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn without_slots_nothing_runs() {
        let flow = Pool::<u8>::new(&[], 4)
            .run(first_come(0..3), |_, _| {}, |_| (), |(), _, _| -> Result<Flow, ()> { panic!("ran") })
            .unwrap();
        assert_eq!(flow, Flow::Continue);
    }
}
