//! AdamW (Loshchilov & Hutter 2019) as `torch.optim.AdamW` computes it (amsgrad off), with
//! weight decay on a chosen subset of parameters (nanoGPT's two parameter groups: matrices and
//! embeddings decay, biases and LayerNorm parameters do not), and gradient clipping as
//! `torch.nn.utils.clip_grad_norm_`.
//!
//! Per parameter `p` with gradient `g`, at step t (1-based) and learning rate lr:
//! `p ← p·(1 − lr·wd)` (decoupled decay, decayed parameters only); `m ← m + (1−β1)(g − m)`;
//! `v ← β2·v + (1−β2)·g²`; `p ← p − lr/(1−β1^t) · m / (√v/√(1−β2^t) + ε)`.
//!
//! Its state (the step count and both moments of every parameter, by parameter name) goes into
//! checkpoints, so that a resumed model continues exactly. tch's own `nn::AdamW` keeps its
//! state inside libtorch, where a checkpoint cannot reach it.
//!
//! On CUDA the step runs as PyTorch's fused AdamW kernel ([`AdamW::use_fused_kernel`],
//! `torch.optim.AdamW(fused=True)`): the same update to float rounding, in two kernel launches
//! for the whole model instead of about ten per parameter tensor, each reading and writing all of
//! it (for GPT-2 small, ~13 GB of memory traffic a step against ~3.5 GB). The CPU keeps the
//! per-tensor operations below, whose results the tests pin to `torch.optim.AdamW`.

use pz_device::{fused_adamw_step, AdamWHyper, StepError};
use tch::{Device, Kind, Tensor};

use crate::vision::StateError;

/// Name of the step count in [`AdamW::state_tensors`].
const STEP: &str = "step";
/// Prefixes of the moments in [`AdamW::state_tensors`], followed by the parameter's name.
const EXP_AVG: &str = "exp_avg.";
const EXP_AVG_SQ: &str = "exp_avg_sq.";

/// AdamW's settings and state for one model's parameter list.
#[derive(Debug)]
pub(crate) struct AdamW {
    betas: [f64; 2],
    eps: f64,
    weight_decay: f64,
    /// Per parameter: its state-dict name, and whether it decays.
    names: Vec<String>,
    decays: Vec<bool>,
    exp_avg: Vec<Tensor>,
    exp_avg_sq: Vec<Tensor>,
    steps: u64,
    /// The fused kernel's device tensors, when it is used.
    fused: Option<Fused>,
}

/// What the fused kernel reads on the device: this step's learning rate and the step count
/// (float32, as `torch.optim.AdamW(fused=True)` keeps it), kept equal to [`AdamW::steps`].
#[derive(Debug)]
struct Fused {
    lr: Tensor,
    step: Tensor,
}

impl AdamW {
    /// Zero moments for `params` (named `names`; `decays[i]`: whether parameter i takes the
    /// weight decay).
    pub(crate) fn new(
        params: &[Tensor],
        names: Vec<String>,
        decays: Vec<bool>,
        betas: [f64; 2],
        eps: f64,
        weight_decay: f64,
    ) -> Self {
        assert!(names.len() == params.len() && decays.len() == params.len(), "one name and flag a parameter");
        let zeros = || params.iter().map(|p| p.detach().zeros_like()).collect();
        Self {
            betas,
            eps,
            weight_decay,
            names,
            decays,
            exp_avg: zeros(),
            exp_avg_sq: zeros(),
            steps: 0,
            fused: None,
        }
    }

    /// Take every later step with PyTorch's fused AdamW kernel on `device` (where the
    /// parameters live). The learning rate is held in the parameters' dtype (float32 for a
    /// GPT-2), the step count in float32, exact up to 2^24 steps.
    pub(crate) fn use_fused_kernel(&mut self, device: Device) {
        let kind = self.exp_avg.first().map_or(Kind::Float, Tensor::kind);
        #[allow(clippy::cast_precision_loss)]
        let step = Tensor::full([], self.steps as f64, (Kind::Float, device));
        self.fused = Some(Fused { lr: Tensor::zeros([], (kind, device)), step });
    }

    /// Steps taken.
    pub(crate) fn steps(&self) -> u64 {
        self.steps
    }

    /// One update of `params` from `grads` (one each, same order) at learning rate `lr`.
    ///
    /// # Errors
    /// The fused kernel refusing the tensors (a gradient on another device or of another
    /// dtype than its parameter).
    pub(crate) fn step(&mut self, params: &[Tensor], grads: &[Tensor], lr: f64) -> Result<(), StepError> {
        assert!(
            params.len() == self.names.len() && grads.len() == params.len(),
            "AdamW made for another list"
        );
        if self.fused.is_some() {
            self.prepare_fused_step(lr);
            self.launch_fused(params, grads)?;
            self.count_step();
            return Ok(());
        }
        self.steps += 1;
        let [beta1, beta2] = self.betas;
        #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
        let t = self.steps.min(i32::MAX as u64) as i32;
        let step_size = lr / (1.0 - beta1.powi(t));
        let bias2_sqrt = (1.0 - beta2.powi(t)).sqrt();
        tch::no_grad(|| {
            for (i, (p, g)) in params.iter().zip(grads).enumerate() {
                let mut p = p.shallow_clone();
                if self.decays[i] && self.weight_decay != 0.0 {
                    let _ = p.g_mul_scalar_(1.0 - lr * self.weight_decay);
                }
                let _ = self.exp_avg[i].lerp_(g, 1.0 - beta1);
                let _ = self.exp_avg_sq[i].g_mul_scalar_(beta2).addcmul_(g, &(g * (1.0 - beta2)));
                let denom = (self.exp_avg_sq[i].sqrt() / bias2_sqrt) + self.eps;
                let _ = p.addcdiv_(&(&self.exp_avg[i] * -step_size), &denom);
            }
        });
        Ok(())
    }

    /// Write `lr` into the fused kernel's device tensor for its next launch (outside a CUDA
    /// graph: a capture would freeze the number). Nothing without the fused kernel.
    pub(crate) fn prepare_fused_step(&self, lr: f64) {
        if let Some(fused) = &self.fused {
            tch::no_grad(|| {
                let _ = fused.lr.shallow_clone().fill_(lr);
            });
        }
    }

    /// The fused kernel's update of `params` from `grads` at the rate [`AdamW::prepare_fused_step`]
    /// wrote, counting the step on the device only: nothing here reads a host value, so a CUDA
    /// graph can capture it. [`AdamW::count_step`] counts it on the host.
    ///
    /// # Errors
    /// No fused kernel in use, or the kernel refusing the tensors.
    pub(crate) fn launch_fused(&self, params: &[Tensor], grads: &[Tensor]) -> Result<(), StepError> {
        let fused = self.fused.as_ref().ok_or_else(|| StepError("AdamW has no fused kernel".into()))?;
        let hyper = AdamWHyper { betas: self.betas, eps: self.eps, weight_decay: self.weight_decay };
        tch::no_grad(|| {
            fused_adamw_step(
                params,
                grads,
                &self.exp_avg,
                &self.exp_avg_sq,
                &self.decays,
                &fused.step,
                &fused.lr,
                hyper,
            )
        })
    }

    /// Count on the host a step the fused kernel took (eagerly or in a graph replay).
    pub(crate) fn count_step(&mut self) {
        self.steps += 1;
    }

    /// The state to checkpoint: `"step"` (0-dim int64), then `"exp_avg.<name>"` and
    /// `"exp_avg_sq.<name>"` of every parameter (zeros before the first step), detached copies.
    pub(crate) fn state_tensors(&self) -> Vec<(String, Tensor)> {
        #[allow(clippy::cast_possible_wrap)] // steps never reach 2^63
        let step = Tensor::from(self.steps as i64);
        let moments = |prefix: &str, list: &[Tensor]| -> Vec<(String, Tensor)> {
            self.names.iter().zip(list).map(|(n, t)| (format!("{prefix}{n}"), t.detach().copy())).collect()
        };
        std::iter::once((STEP.to_owned(), step))
            .chain(moments(EXP_AVG, &self.exp_avg))
            .chain(moments(EXP_AVG_SQ, &self.exp_avg_sq))
            .collect()
    }

    /// Restore the state written by [`AdamW::state_tensors`]; moments move to each parameter's
    /// device and kind. Nothing changes unless every entry is there and fits.
    ///
    /// # Errors
    /// A missing or negative step, a name that is not one of this model's, a missing moment,
    /// or a moment whose shape differs from its parameter's.
    pub(crate) fn load_state(
        &mut self,
        params: &[Tensor],
        state: &[(String, Tensor)],
    ) -> Result<(), StateError> {
        let mut steps = None;
        let mut avg: Vec<Option<Tensor>> = params.iter().map(|_| None).collect();
        let mut avg_sq: Vec<Option<Tensor>> = params.iter().map(|_| None).collect();
        for (name, tensor) in state {
            if name == STEP {
                if tensor.numel() != 1 {
                    return Err(StateError::Shape {
                        name: name.clone(),
                        expected: vec![],
                        got: tensor.size(),
                    });
                }
                let value = tensor.flatten(0, -1).int64_value(&[0]);
                steps = Some(u64::try_from(value).map_err(|_| StateError::NegativeStep(value))?);
                continue;
            }
            // "exp_avg_sq." also starts with "exp_avg": try the longer prefix first.
            let (list, param) = match (name.strip_prefix(EXP_AVG_SQ), name.strip_prefix(EXP_AVG)) {
                (Some(param), _) => (&mut avg_sq, param),
                (None, Some(param)) => (&mut avg, param),
                (None, None) => return Err(StateError::UnknownName(name.clone())),
            };
            let Some(i) = self.names.iter().position(|n| n == param) else {
                return Err(StateError::UnknownName(name.clone()));
            };
            if tensor.size() != params[i].size() {
                return Err(StateError::Shape {
                    name: name.clone(),
                    expected: params[i].size(),
                    got: tensor.size(),
                });
            }
            list[i] = Some(tensor.to_device_(params[i].device(), params[i].kind(), false, true).detach());
        }
        let complete = |list: Vec<Option<Tensor>>, prefix: &str| -> Result<Vec<Tensor>, StateError> {
            list.into_iter()
                .zip(&self.names)
                .map(|(t, n)| t.ok_or_else(|| StateError::Missing(format!("{prefix}{n}"))))
                .collect()
        };
        let (avg, avg_sq) = (complete(avg, EXP_AVG)?, complete(avg_sq, EXP_AVG_SQ)?);
        self.steps = steps.ok_or(StateError::MissingStep)?;
        self.exp_avg = avg;
        self.exp_avg_sq = avg_sq;
        if let Some(fused) = &self.fused {
            #[allow(clippy::cast_precision_loss)]
            let _ = fused.step.shallow_clone().fill_(self.steps as f64);
        }
        Ok(())
    }
}

/// Scale `grads` in place so that their global L2 norm is at most `max_norm`, as
/// `torch.nn.utils.clip_grad_norm_` (norm of the per-tensor norms; factor
/// `min(1, max_norm / (norm + 1e-6))`, applied always, so the step is the same kernels whether
/// or not it clips). Returns the norm before clipping, on the device.
pub(crate) fn clip_grad_norm(grads: &[Tensor], max_norm: f64) -> Tensor {
    tch::no_grad(|| {
        let norms: Vec<Tensor> = grads.iter().map(Tensor::norm).collect();
        let total = Tensor::stack(&norms, 0).norm();
        let coef = ((&total + 1e-6).reciprocal() * max_norm).clamp_max(1.0);
        for g in grads {
            let _ = g.shallow_clone().g_mul_(&coef);
        }
        total
    })
}

#[cfg(test)]
#[path = "adamw_tests.rs"]
mod tests;
