//! The PINN population: K MLPs, the convection problem per member, and batched Adam.

use super::convection::{input_gradients, Autograd, ConvectionBatch, PinnModel};
use pz_device::{outside_captures, CudaGraph};
use pz_models::{kind_of, MlpPopulation};
use pz_spec::{Derivatives, ModelConfig, ProblemConfig, ResolvedModel};
use pz_store::{CheckpointState, LoadedCheckpoint, NamedTensor};
use tch::{Device, Tensor};

use crate::{BatchedAdam, Error};

/// K PINNs trained in lockstep.
#[derive(Debug)]
pub struct PinnPopulation {
    net: PinnNet,
    problem: ConvectionBatch,
    adam: BatchedAdam,
    graph: StepGraph,
    /// Forward-mode sweeps on CUDA use the hand-written kernels where they apply
    /// (`run.fused_kernels`; the Adam update's kernel is switched by the same key, in `adam`).
    fused_kernels: bool,
}

/// The population's full-batch step as a CUDA graph: the collocation points never change and
/// Adam reads its bias corrections from the device, so the whole step (loss with its input
/// derivatives, backward, Adam) replays as captured. One eager step first warms up cuBLAS.
#[derive(Debug)]
enum StepGraph {
    /// Eager steps only (CPU, `run.graph = false`, or a capture that failed).
    Off,
    /// The next step runs eagerly, the one after it is captured.
    WarmUp,
    /// The next step is captured, then replayed.
    Capture,
    /// Captured; `losses` is the graph's output, the members' losses before the step.
    Ready { graph: CudaGraph, losses: Tensor },
}

/// Per-member numbers of one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Test loss per member.
    pub test_loss: Vec<f64>,
    /// Test error per member.
    pub test_error: Vec<f64>,
}

impl PinnPopulation {
    /// Fresh members (initialized from their seeds). All members must share everything but
    /// seed, β and learning rate ([`crate::group_populations`] guarantees it).
    ///
    /// # Panics
    /// If the members are not MLPs on the convection problem (spec validation guarantees it).
    #[must_use]
    pub fn new(members: &[&ResolvedModel], device: Device) -> Self {
        let first = members[0];
        let ModelConfig::Mlp(mlp) = &first.model else {
            panic!("a PINN population needs architecture = mlp")
        };
        let kind = kind_of(first.train.dtype);
        let mut sizes = vec![2];
        sizes.extend(&mlp.hidden);
        sizes.push(1);
        let seeds: Vec<u64> = members.iter().map(|m| m.seed).collect();
        let net = MlpPopulation::init(&seeds, &sizes, kind, device);
        let ProblemConfig::Convection(c0) = &first.problem else {
            panic!("a PINN needs problem.kind = convection")
        };
        let net = PinnNet { mlp: net, derivatives: c0.derivatives };
        let problems: Vec<_> = members
            .iter()
            .map(|m| {
                let ProblemConfig::Convection(c) = &m.problem else {
                    panic!("mixed problems in a population")
                };
                (m.seed, c)
            })
            .collect();
        let problem = ConvectionBatch::new(&problems, kind, device);
        let lrs: Vec<f64> = members.iter().map(|m| m.train.lr).collect();
        let t = &first.train;
        let adam = BatchedAdam::new(&net.mlp.params, &lrs, t.adam_betas, t.adam_eps, t.weight_decay);
        Self { net, problem, adam, graph: StepGraph::Off, fused_kernels: true }
    }

    /// Whether steps may run as a captured CUDA graph (off by default; on CUDA builds with the
    /// shim only). Takes effect before the first capture.
    #[must_use]
    pub fn with_cuda_graphs(mut self, on: bool) -> Self {
        let device = self.net.mlp.params[0].device();
        self.graph = if on && device.is_cuda() && pz_device::cuda_graphs_available() {
            StepGraph::WarmUp
        } else {
            StepGraph::Off
        };
        self
    }

    /// Whether steps on CUDA may use phasezoo's fused kernels: the forward-mode sweep's and the
    /// Adam update's (on by default; `false` keeps libtorch's tensor operations, for debugging
    /// and comparison).
    #[must_use]
    pub fn with_fused_kernels(mut self, on: bool) -> Self {
        self.fused_kernels = on;
        self.adam = self.adam.with_fused_kernels(on);
        self
    }

    /// Compiles the fused kernels the steps will use (the sweep's, Adam's) on a new thread, so
    /// that NVRTC's compile (about a second, BENCHMARKS.md) overlaps what the caller does before
    /// the first step (writing the models' first files, the first evaluation); that step waits
    /// for the compile if it is still running. `None` where no kernel applies (CPU,
    /// `run.fused_kernels = false`). The compile's GPU-side part (loading the module) runs outside
    /// other workers' graph captures.
    #[must_use]
    pub fn compile_kernels_in_background(&self) -> Option<std::thread::JoinHandle<()>> {
        let p = &self.problem;
        let sweep = (self.fused_kernels && self.net.derivatives == Derivatives::Forward)
            .then(|| self.net.mlp.fused_tangent_compile_job(&p.points, p.n_f))
            .flatten();
        let adam = crate::fused_adam::compile_job(&self.adam);
        if sweep.is_none() && adam.is_none() {
            return None;
        }
        let spawned = std::thread::Builder::new().name("pz-compile".into()).spawn(move || {
            outside_captures(|| {
                sweep.into_iter().for_each(|job| job());
                adam.into_iter().for_each(|job| job());
            });
        });
        // Without the thread the first step compiles, as it always could.
        spawned.ok()
    }

    /// Whether steps now replay a captured CUDA graph.
    #[must_use]
    pub fn replays_cuda_graph(&self) -> bool {
        matches!(self.graph, StepGraph::Ready { .. })
    }

    /// One full-batch Adam step of every member; returns the members' losses before the step,
    /// `[K]`, on the device (no host synchronization).
    ///
    /// # Panics
    /// If libtorch refuses to replay a captured step.
    pub fn step(&mut self) -> Tensor {
        match &self.graph {
            StepGraph::Off => return outside_captures(|| self.eager_step()),
            StepGraph::WarmUp => {
                self.graph = StepGraph::Capture;
                return outside_captures(|| self.eager_step());
            }
            StepGraph::Capture => {
                let Device::Cuda(index) = self.net.mlp.params[0].device() else { unreachable!("CUDA only") };
                let mut losses = None;
                let captured = CudaGraph::capture(index, || {
                    let (per_member, grads) = self.gradients();
                    self.adam.update(&self.net.mlp.params, &grads);
                    losses = Some(per_member);
                });
                match (captured, losses) {
                    (Ok(graph), Some(losses)) => self.graph = StepGraph::Ready { graph, losses },
                    (Err(e), _) => {
                        tracing::warn!("CUDA graph capture of the PINN step failed, stepping eagerly: {e}");
                        self.graph = StepGraph::Off;
                        return outside_captures(|| self.eager_step());
                    }
                    (Ok(_), None) => unreachable!("the capture ran the closure"),
                }
            }
            StepGraph::Ready { .. } => {}
        }
        let StepGraph::Ready { graph, losses } = &self.graph else { unreachable!("set above") };
        let adam = &mut self.adam;
        outside_captures(|| {
            adam.advance();
            graph.replay().unwrap_or_else(|e| panic!("replaying the PINN step: {e}"));
            // A copy: the graph overwrites its output on the next replay.
            losses.copy()
        })
    }

    fn eager_step(&mut self) -> Tensor {
        let (per_member, grads) = self.gradients();
        self.adam.step(&self.net.mlp.params, &grads);
        per_member
    }

    /// The members' losses (detached) and the gradients of their sum.
    fn gradients(&self) -> (Tensor, Vec<Tensor>) {
        let mlp = &self.net.mlp;
        match self.net.derivatives {
            Derivatives::Autograd => {
                let per_member = self.problem.loss(&self.net).total();
                let total = per_member.sum(per_member.kind());
                let grads = Tensor::run_backward(&[total], &mlp.params, false, false);
                (per_member.detach(), grads)
            }
            Derivatives::Forward => {
                let p = &self.problem;
                let fused =
                    self.fused_kernels.then(|| mlp.fused_tangent_forward(&p.points, p.n_f, &p.direction));
                let (u, r, tape) =
                    fused.flatten().unwrap_or_else(|| mlp.tangent_forward(&p.points, p.n_f, &p.direction));
                let (loss, u_bar, r_bar) = p.loss_and_adjoints(&u, &r);
                (loss.total(), mlp.tangent_backward(&tape, &u_bar, &r_bar))
            }
        }
    }

    /// The members' PINN losses without updating, `[K]`.
    pub fn loss(&self) -> Tensor {
        self.problem.loss(&self.net).total().detach()
    }

    /// Test loss and error of every member.
    #[must_use]
    pub fn evaluate(&self) -> Evaluation {
        let (loss, error) = self.problem.evaluate(&self.net);
        Evaluation { test_loss: to_vec(&loss), test_error: to_vec(&error) }
    }

    /// Optimizer steps taken.
    #[must_use]
    pub fn step_count(&self) -> u64 {
        self.adam.step
    }

    /// Member `k`'s parameters and optimizer state, PyTorch names.
    #[must_use]
    pub fn export(&self, k: usize) -> (Vec<NamedTensor>, Vec<NamedTensor>) {
        let model = self.net.mlp.export_member(&self.net.mlp.params, k, "");
        let mut optimizer = self.net.mlp.export_member(&self.adam.exp_avg, k, "exp_avg.");
        optimizer.extend(self.net.mlp.export_member(&self.adam.exp_avg_sq, k, "exp_avg_sq."));
        (model, optimizer)
    }

    /// Restore member `k` from a checkpoint (all members must then be at the same step).
    ///
    /// # Errors
    /// A tensor is missing or of the wrong shape.
    pub fn import(&mut self, k: usize, checkpoint: &LoadedCheckpoint, model: &str) -> Result<(), Error> {
        let mut params = std::mem::take(&mut self.net.mlp.params);
        let result = self.net.mlp.import_member(&mut params, k, "", &checkpoint.model, model);
        self.net.mlp.params = params;
        result?;
        // `exp_avg.` is not a prefix of `exp_avg_sq.`: the dot keeps the two sets apart.
        let split = |prefix: &str| -> Vec<NamedTensor> {
            checkpoint.optimizer.iter().filter(|t| t.name.starts_with(prefix)).cloned().collect()
        };
        let mut m = std::mem::take(&mut self.adam.exp_avg);
        let r1 = self.net.mlp.import_member(&mut m, k, "exp_avg.", &split("exp_avg."), model);
        self.adam.exp_avg = m;
        r1?;
        let mut v = std::mem::take(&mut self.adam.exp_avg_sq);
        let r2 = self.net.mlp.import_member(&mut v, k, "exp_avg_sq.", &split("exp_avg_sq."), model);
        self.adam.exp_avg_sq = v;
        r2?;
        self.adam.step = checkpoint.state.step;
        // Import replaced the state tensors: a captured step would update the old ones.
        if !matches!(self.graph, StepGraph::Off) {
            self.graph = StepGraph::WarmUp;
        }
        Ok(())
    }

    /// The stacked parameters (leaves that require grad), state-dict order.
    pub fn params(&self) -> &[Tensor] {
        &self.net.mlp.params
    }

    /// Per-member PINN losses `[K]` at other stacked parameters of the same layout, by autograd
    /// with create_graph, so the result can be differentiated twice more with respect to
    /// `params` (Hessian-vector products need the double backward of a loss that already holds
    /// input derivatives).
    pub fn losses_at(&self, params: &[Tensor]) -> Tensor {
        let net = Autograd(|x: &Tensor| MlpPopulation::forward_with(params, x));
        self.problem.loss(&net).total()
    }

    /// Test loss and error per member at other stacked parameters.
    #[must_use]
    pub fn evaluate_at(&self, params: &[Tensor]) -> Evaluation {
        let net = Autograd(|x: &Tensor| MlpPopulation::forward_with(params, x));
        let (loss, error) = self.problem.evaluate(&net);
        Evaluation { test_loss: to_vec(&loss), test_error: to_vec(&error) }
    }

    /// Collocation points per member.
    #[must_use]
    pub fn collocation_points(&self) -> usize {
        usize::try_from(self.problem.n_f).unwrap_or(0)
    }

    /// What CKA compares: the members' outputs `[K, N, 1]` or last hidden layer `[K, N, w]` on
    /// the evaluation grid.
    pub fn representations(&self, hidden: bool) -> Tensor {
        tch::no_grad(|| {
            let (h, u) = MlpPopulation::hidden_and_output(
                self.params(),
                &self.problem.eval_points(self.params()[0].size()[0]),
            );
            if hidden {
                h
            } else {
                u
            }
        })
    }

    /// Resume state of the population at `epoch` (the PINN draws no random numbers after
    /// initialization, so no stream positions are needed).
    #[must_use]
    pub fn state(&self, epoch: u32) -> CheckpointState {
        CheckpointState { epoch, step: self.adam.step, rng: std::collections::BTreeMap::new() }
    }
}

/// The MLP population with the spec's way of taking input derivatives.
#[derive(Debug)]
struct PinnNet {
    mlp: MlpPopulation,
    derivatives: Derivatives,
}

impl PinnModel for PinnNet {
    fn u(&self, points: &Tensor) -> Tensor {
        self.mlp.forward(points)
    }
    /// Reverse mode with create_graph: the double-backward reference (the `Forward` mode has its
    /// own hand-written step in [`PinnPopulation::step`]).
    fn u_and_derivative(&self, points: &Tensor, direction: &Tensor) -> (Tensor, Tensor) {
        let u = self.mlp.forward(points);
        let du = input_gradients(&u, points);
        (u, (du * direction).sum_dim_intlist(2, true, None))
    }
}

/// A `[K]` tensor as host floats.
#[must_use]
pub fn to_vec(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(tch::Kind::Double).to_device(Device::Cpu)).expect("1-D tensor")
}
