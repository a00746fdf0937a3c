//! The forward-mode sweep of [`crate::tangent`] as two hand-written CUDA kernels
//! (kernels/tangent_mlp.cu, compiled at run time) plus three batched products for the weight
//! and bias gradients (layer 0, the hidden layers together, the output layer).
//!
//! Why: at the PINN zoo's size the tensor sweep is bound by memory traffic between ~35 small
//! operations per step (BENCHMARKS.md, "Where the time went with tensor operations"). The kernels keep a row's
//! activations in registers and a member's hidden weights in shared memory, and write each
//! layer's outputs once. Same equations, checked against the tensor sweep in float64 on a GPU.
//!
//! Where it applies: CUDA, float32 or float64, one output unit, every hidden layer of the same
//! width (at most [`MAX_WIDTH`]), hidden weights of a member fitting in 48 KiB of shared memory.
//! Elsewhere, or if the kernels do not compile on the machine, callers keep the tensor sweep.

#![allow(unsafe_code)] // two kernel launches; each says why its arguments match the kernel

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};

use pz_device::{KernelArg, KernelSource, Kernels};
use tch::{Device, Kind, Tensor};

use crate::MlpPopulation;

const SOURCE: KernelSource =
    KernelSource { file: "tangent_mlp.cu", code: include_str!("kernels/tangent_mlp.cu") };
/// The kernels, in the order [`FORWARD`] and [`BACKWARD`] index them.
const NAMES: [&str; 2] = ["pz_tangent_forward", "pz_tangent_backward"];
const FORWARD: usize = 0;
const BACKWARD: usize = 1;
/// Threads per block (one row each); 128 and 256 measured the same on the H200, 64 slower.
const BLOCK: u32 = 128;
/// Widest hidden layer the kernels take: a thread holds two rows of this width in registers.
pub const MAX_WIDTH: usize = 64;
/// Shared memory a block may declare statically.
const SHARED_BYTES: usize = 48 * 1024;
/// Set after a kernel failed to compile or launch: the tensor sweep is used from then on.
static OFF: AtomicBool = AtomicBool::new(false);

/// What the backward kernel and the weight-gradient products read.
#[derive(Debug)]
pub(crate) struct FusedTape {
    kernels: Kernels,
    shape: Shape,
    /// `[K, P, in]`, contiguous.
    points: Tensor,
    /// `[K, 1, in]`, contiguous.
    direction: Tensor,
    /// `[hidden, K, w + 1, P + n]`: a_l in columns `< P`, ȧ_l in columns `P + p`; row `w` is 1
    /// in columns `< P` and 0 in the others (the bias gradient's row of the products).
    tape: Tensor,
    /// `[max(hidden - 1, 1), K, w, n]`: ż_l of layers 1 ….
    zdot: Tensor,
}

impl FusedTape {
    pub(crate) fn points(&self) -> &Tensor {
        &self.points
    }
    pub(crate) fn direction(&self) -> &Tensor {
        &self.direction
    }
    pub(crate) fn n(&self) -> i64 {
        self.shape.tangent_rows
    }
}

/// The shape facts the kernels are compiled and launched for.
#[derive(Debug, Clone, Copy)]
struct Shape {
    members: i64,
    rows: i64,
    tangent_rows: i64,
    inputs: i64,
    width: i64,
    hidden: i64,
}

impl MlpPopulation {
    /// [`MlpPopulation::tangent_forward`] by the fused kernels, or `None` where they do not
    /// apply (see the module docs) or failed on this machine (logged once).
    pub fn fused_tangent_forward(
        &self,
        points: &Tensor,
        n: i64,
        direction: &Tensor,
    ) -> Option<(Tensor, Tensor, crate::TangentTape)> {
        let shape = self.fused_shape(points, n)?;
        let Device::Cuda(device) = points.device() else { return None };
        let kernels = match SOURCE.compile(&options(&shape, points.kind()), &NAMES, device) {
            Ok(k) => k,
            Err(e) => return give_up(&e),
        };
        tch::no_grad(|| {
            let Shape { members: k, rows: p, tangent_rows: n, width: w, hidden, .. } = shape;
            let opts = (points.kind(), points.device());
            let points = points.contiguous();
            let direction = direction.contiguous();
            let tape = Tensor::empty([hidden, k, w + 1, p + n], opts);
            let zdot = Tensor::empty([(hidden - 1).max(1), k, w, n], opts);
            let (u, r) = (Tensor::empty([k, p], opts), Tensor::empty([k, n], opts));
            let args = [
                self.param_pointers(),
                ptr(&points),
                ptr(&direction),
                ptr(&tape),
                ptr(&zdot),
                ptr(&u),
                ptr(&r),
                int_arg(k),
                int_arg(p),
                int_arg(n),
            ];
            // SAFETY: pz_tangent_forward(Params, const real* points, const real* direction,
            // real* tape, real* zdot, real* u, real* r, int K, int P, int N) with every tensor
            // contiguous, of the compiled dtype, on this device, and shaped as the kernel's
            // layout comment says for these K, P, N (fused_shape checked the parameters); all
            // stay alive in this scope or in the returned tape until the stream has run.
            if let Err(e) = unsafe { kernels.launch(FORWARD, grid(&shape), [BLOCK, 1, 1], &args) } {
                return give_up(&e);
            }
            let tape = FusedTape { kernels, shape, points, direction, tape, zdot };
            Some((u.unsqueeze(2), r.unsqueeze(2), crate::TangentTape::fused(tape)))
        })
    }

    /// A job that compiles the kernels [`MlpPopulation::fused_tangent_forward`] would use for
    /// these inputs, to run on another thread while the caller prepares the first step (NVRTC
    /// takes about a second); `None` where the fused sweep does not apply. The job only fills
    /// [`KernelSource`]'s cache, whose lock makes the first step wait for it; a failure is cached
    /// too, and logged by that step.
    #[must_use]
    pub fn fused_tangent_compile_job(
        &self,
        points: &Tensor,
        n: i64,
    ) -> Option<impl FnOnce() + Send + 'static> {
        let shape = self.fused_shape(points, n)?;
        let Device::Cuda(device) = points.device() else { return None };
        let options = options(&shape, points.kind());
        Some(move || {
            let _ = SOURCE.compile(&options, &NAMES, device);
        })
    }

    /// Gradients of the loss with respect to `params` from the fused tape and the loss's
    /// adjoints ū `[K, P, 1]`, r̄ `[K, n, 1]`; `None` if the kernel failed (logged).
    pub(crate) fn fused_tangent_backward(
        &self,
        t: &FusedTape,
        u_bar: &Tensor,
        r_bar: &Tensor,
    ) -> Option<Vec<Tensor>> {
        let shape = t.shape;
        tch::no_grad(|| {
            let Shape { members: k, rows: p, tangent_rows: n, width: w, hidden, .. } = shape;
            let u_bar = u_bar.squeeze_dim(2).contiguous();
            let r_bar = r_bar.squeeze_dim(2).contiguous();
            let kind = t.tape.kind();
            assert!(
                u_bar.size() == [k, p]
                    && r_bar.size() == [k, n]
                    && u_bar.kind() == kind
                    && r_bar.kind() == kind,
                "the loss's adjoints must be [K, P, 1] and [K, n, 1] of the tape's dtype"
            );
            let adjoint = Tensor::empty([hidden, k, w, p + n], (t.tape.kind(), t.tape.device()));
            let args = [
                self.param_pointers(),
                ptr(&t.direction),
                ptr(&t.tape),
                ptr(&t.zdot),
                ptr(&u_bar),
                ptr(&r_bar),
                ptr(&adjoint),
                int_arg(k),
                int_arg(p),
                int_arg(n),
            ];
            // SAFETY: pz_tangent_backward(Params, const real* direction, const real* tape,
            // const real* zdot, const real* u_bar, const real* r_bar, real* adjoint, int K,
            // int P, int N): the tape came from the forward kernel for the same K, P, N and
            // parameters; ū is [K, P], r̄ [K, N] (asserted above), the adjoint [hidden, K, w,
            // P + N], all contiguous, of the compiled dtype, on this device, alive in this scope.
            if let Err(e) = unsafe { t.kernels.launch(BACKWARD, grid(&shape), [BLOCK, 1, 1], &args) } {
                return give_up(&e);
            }
            // Every layer's weight and bias gradients are one product of its inputs, laid out as
            // the tape (features × columns, plus the row of ones), with its output adjoints.
            let split = |g: &Tensor, inputs: i64| (g.narrow(1, 0, inputs), g.narrow(1, inputs, 1));
            let mut grads = Vec::with_capacity(self.params.len());
            // Layer 0 reads the points in columns < P and, in the tangent columns, the direction
            // (ż₀ = d·W₀ on every tangent row).
            let inputs0 = Tensor::cat(
                &[
                    Tensor::cat(
                        &[t.points.transpose(1, 2), t.direction.transpose(1, 2).expand([-1, -1, n], false)],
                        2,
                    ),
                    t.tape.get(0).narrow(1, w, 1), // the row of ones
                ],
                1,
            );
            let (w0, b0) = split(&inputs0.bmm(&adjoint.get(0).transpose(1, 2)), shape.inputs);
            grads.extend([w0, b0]);
            // The hidden layers in one product: layer l reads the tape of layer l - 1.
            if hidden > 1 {
                let rows = (hidden - 1) * k;
                let all = t
                    .tape
                    .narrow(0, 0, hidden - 1)
                    .reshape([rows, w + 1, p + n])
                    .bmm(&adjoint.narrow(0, 1, hidden - 1).reshape([rows, w, p + n]).transpose(1, 2));
                for g in all.reshape([hidden - 1, k, w + 1, w]).unbind(0) {
                    let (wl, bl) = split(&g, w);
                    grads.extend([wl, bl]);
                }
            }
            let out_bar = Tensor::cat(&[&u_bar, &r_bar], 1).unsqueeze(2); // [K, P + n, 1]
            let (w_out, b_out) = split(&t.tape.get(hidden - 1).bmm(&out_bar), w);
            grads.extend([w_out, b_out]);
            Some(grads)
        })
    }

    /// The kernels' shape parameters, or `None` where they do not apply.
    fn fused_shape(&self, points: &Tensor, n: i64) -> Option<Shape> {
        if OFF.load(Ordering::Relaxed) || !points.device().is_cuda() {
            return None;
        }
        let kind = points.kind();
        let elem = match kind {
            Kind::Float => 4,
            Kind::Double => 8,
            _ => return None,
        };
        let sizes = &self.sizes;
        let (inputs, width, hidden) = (sizes[0], *sizes.get(1)?, sizes.len().checked_sub(2)?);
        let equal_hidden = sizes[1..=hidden].iter().all(|&s| s == width);
        let stride = width.div_ceil(16 / elem) * (16 / elem);
        let shared = (hidden.max(2) - 1) * width * stride * elem;
        if hidden == 0
            || !equal_hidden
            || width > MAX_WIDTH
            || sizes[hidden + 1] != 1
            || shared > SHARED_BYTES
        {
            return None;
        }
        let dims = points.size();
        let (members, rows) = (*dims.first()?, *dims.get(1)?);
        let same_kind = self.params.iter().all(|t| t.kind() == kind && t.device() == points.device());
        let fits = members <= 65_535 && (0..=rows).contains(&n) && (rows + n) <= i64::from(i32::MAX);
        if dims.len() != 3 || dims[2] != i64::try_from(inputs).ok()? || !same_kind || !fits {
            return None;
        }
        let as_i64 = |v: usize| i64::try_from(v).ok();
        Some(Shape {
            members,
            rows,
            tangent_rows: n,
            inputs: as_i64(inputs)?,
            width: as_i64(width)?,
            hidden: as_i64(hidden)?,
        })
    }

    /// The kernels' `Params` struct: every weight's device pointer, then every bias's.
    fn param_pointers(&self) -> KernelArg {
        let weights = self.params.iter().step_by(2);
        let biases = self.params.iter().skip(1).step_by(2);
        KernelArg::Pointers(weights.chain(biases).map(Tensor::data_ptr).collect::<Vec<*mut c_void>>())
    }
}

/// A count the kernels take as `int` (`fused_shape` checked that K, P and P + N fit).
fn int_arg(count: i64) -> KernelArg {
    KernelArg::I32(i32::try_from(count).expect("fused_shape checks the counts fit an int"))
}

fn options(shape: &Shape, kind: Kind) -> Vec<String> {
    let mut o = vec![
        format!("-DIN={}", shape.inputs),
        format!("-DWIDTH={}", shape.width),
        format!("-DDEPTH={}", shape.hidden),
    ];
    if kind == Kind::Double {
        o.push("-DPZ_DOUBLE".into());
    }
    o
}

fn grid(shape: &Shape) -> [u32; 3] {
    let blocks = u32::try_from(shape.rows).unwrap_or(u32::MAX).div_ceil(BLOCK);
    [blocks, u32::try_from(shape.members).unwrap_or(u32::MAX), 1]
}

fn ptr(t: &Tensor) -> KernelArg {
    KernelArg::Pointer(t.data_ptr())
}

/// Turns the kernels off for the process and says why, once.
fn give_up<T>(why: &str) -> Option<T> {
    if !OFF.swap(true, Ordering::Relaxed) {
        tracing::warn!("fused PINN kernels are off, using tensor operations: {why}");
    }
    None
}
