//! Hessian-vector products replayed from a CUDA graph.
//!
//! Power iteration, Hutchinson and Lanczos apply the same operator tens of times to new vectors:
//! the same backward kernels with the same shapes each time. [`GraphedHvp`] runs the first
//! product eagerly (it creates cuBLAS handles and warms the allocator), captures the second
//! into a CUDA graph reading a static input vector, and answers every later product by copying
//! the vector in, replaying, and copying the result out. That pays where a product is mostly
//! kernel launches, which on an H100 was every size measured: products of MLPs with 0.2–19
//! million parameters over 10 batches ran 1.9–5.7× faster, PINN zoos' Hessian metrics 5–25 %
//! (BENCHMARKS.md, "Hessian-vector products with graphs"). `metrics` uses it when `run.graph`
//! is true.
//!
//! The graph reads the operator's retained autograd graph (saved activations of the first
//! backward), which lives as long as the operator: the wrapper owns it.

use std::cell::RefCell;

use pz_device::CudaGraph;
use tch::{Device, Tensor};

use crate::HvpOperator;

/// An [`HvpOperator`] whose products after the first are CUDA-graph replays.
///
/// Build it on the thread that built the operator, after that thread moved to its own CUDA
/// stream (`pz_device::use_own_cuda_stream`): a capture needs a non-default stream, and the
/// operator's backward runs on the stream its forward ran on. On a CPU, or when a capture
/// fails (logged), every product is the operator's own.
#[derive(Debug)]
pub struct GraphedHvp<O> {
    inner: O,
    device: Option<usize>,
    state: RefCell<Replay>,
}

#[derive(Debug)]
enum Replay {
    /// No product yet: the next one runs eagerly as the warm-up.
    Cold,
    /// Warmed up: the next product captures.
    Warm,
    Captured {
        graph: CudaGraph,
        input: Vec<Tensor>,
        output: Vec<Tensor>,
    },
    /// A capture failed or there is no GPU: products run eagerly.
    Eager,
}

impl<O: HvpOperator> GraphedHvp<O> {
    /// Wraps `inner`, whose parameters live on `device`; with `graphs` false (or off CUDA)
    /// every product stays the operator's own.
    pub fn new(inner: O, device: Device, graphs: bool) -> Self {
        let device = match device {
            Device::Cuda(i) if graphs && pz_device::cuda_graphs_available() => Some(i),
            _ => None,
        };
        let state = if device.is_some() { Replay::Cold } else { Replay::Eager };
        Self { inner, device, state: RefCell::new(state) }
    }

    /// The wrapped operator.
    pub fn inner(&self) -> &O {
        &self.inner
    }

    /// Whether products are now replays of a captured graph.
    pub fn is_captured(&self) -> bool {
        matches!(*self.state.borrow(), Replay::Captured { .. })
    }

    fn capture(&self, device: usize, v: &[Tensor]) -> Replay {
        let input: Vec<Tensor> =
            pz_device::outside_captures(|| v.iter().map(|t| t.detach().copy()).collect());
        let mut output = Vec::new();
        match CudaGraph::capture(device, || output = self.inner.apply(&input)) {
            Ok(graph) => Replay::Captured { graph, input, output },
            Err(e) => {
                tracing::warn!(error = %e, "Hessian-vector products stay eager: the capture failed");
                Replay::Eager
            }
        }
    }
}

impl<O: HvpOperator> HvpOperator for GraphedHvp<O> {
    fn members(&self) -> usize {
        self.inner.members()
    }

    fn apply(&self, v: &[Tensor]) -> Vec<Tensor> {
        let mut state = self.state.borrow_mut();
        if let (Replay::Warm, Some(device)) = (&*state, self.device) {
            *state = self.capture(device, v);
            // Capture records the kernels without running them: the replay below computes.
        }
        match &*state {
            Replay::Cold => {
                *state = Replay::Warm;
                drop(state);
                self.inner.apply(v)
            }
            Replay::Captured { graph, input, output } => pz_device::outside_captures(|| {
                for (static_v, v) in input.iter().zip(v) {
                    static_v.shallow_clone().copy_(v);
                }
                match graph.replay() {
                    // The next replay overwrites `output`: the caller gets its own copy.
                    Ok(()) => output.iter().map(Tensor::copy).collect(),
                    Err(e) => panic!("replaying a captured Hessian-vector product failed: {e}"),
                }
            }),
            Replay::Warm | Replay::Eager => {
                drop(state);
                self.inner.apply(v)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{randn, Tiny};
    use crate::vector::flatten_members;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn max_abs(t: &Tensor) -> f64 {
        f64::try_from(t.abs().max()).unwrap()
    }

    /// On a CPU the wrapper is the operator itself.
    #[test]
    fn on_a_cpu_products_are_the_operators_own() {
        let tiny = Tiny::new(3, 12, 5);
        let graphed = GraphedHvp::new(tiny.hvp(&[12]), Device::Cpu, true);
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        for _ in 0..3 {
            let v: Vec<Tensor> = tiny.params.iter().map(|p| randn(&p.size(), &mut rng)).collect();
            let got = flatten_members(&graphed.apply(&v));
            let want = flatten_members(&graphed.inner().apply(&v));
            assert_eq!(max_abs(&(&got - &want)), 0.0);
        }
        assert!(!graphed.is_captured());
        assert_eq!(graphed.members(), 3);
    }

    /// On a GPU (PZ_TEST_CUDA=1 on the GPU machine): replayed products of new vectors equal eager
    /// products, and results handed out earlier are not overwritten by later replays.
    #[test]
    fn cuda_replayed_products_equal_eager_products() {
        assert!(std::env::var_os("PZ_TEST_CUDA").is_none() || tch::Cuda::is_available(), "no GPU");
        if !(tch::Cuda::is_available() && pz_device::cuda_graphs_available()) {
            return;
        }
        std::thread::spawn(|| {
            assert!(pz_device::use_own_cuda_stream(0));
            let tiny = Tiny::new(4, 16, 6).to_device(Device::Cuda(0));
            let graphed = GraphedHvp::new(tiny.hvp(&[8, 8]), Device::Cuda(0), true);
            let mut rng = ChaCha8Rng::seed_from_u64(5);
            let vs: Vec<Vec<Tensor>> = (0..4)
                .map(|_| {
                    tiny.params
                        .iter()
                        .map(|p| randn(&p.size(), &mut rng).to_device(Device::Cuda(0)))
                        .collect()
                })
                .collect();
            let got: Vec<Tensor> = vs.iter().map(|v| flatten_members(&graphed.apply(v))).collect();
            assert!(graphed.is_captured(), "the second product captured");
            for (i, (g, v)) in got.iter().zip(&vs).enumerate() {
                let want = flatten_members(&graphed.inner().apply(v));
                let diff = max_abs(&(g - &want));
                assert!(diff <= 1e-10 * max_abs(&want), "product {i}: {diff}");
            }
        })
        .join()
        .unwrap();
    }
}
