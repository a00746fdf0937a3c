//! SGD with momentum and L2 weight decay, as `torch.optim.SGD` (dampening 0, no Nesterov), with a
//! learning rate and momentum that may change every step (the one-cycle schedule sets both).
//!
//! Per parameter `p` with gradient `g`:
//! `d = g + wd·p`; `buf = d` on the first step, else `buf = μ·buf + d`; `p −= lr·buf`.
//! Parameters without a gradient are skipped and keep their buffer, as in PyTorch.

use tch::Tensor;

use super::StateError;

/// Name of the step count in [`Sgd::state_tensors`].
const STEP: &str = "step";
/// Prefix of the momentum buffers in [`Sgd::state_tensors`], followed by the parameter index.
const BUFFER: &str = "momentum_buffer.";

/// SGD state: one momentum buffer per parameter, created by its first update.
#[derive(Debug)]
pub struct Sgd {
    /// L2 penalty added to the gradient (PTMZ: 5e-4).
    pub weight_decay: f64,
    momentum_buffers: Vec<Option<Tensor>>,
    steps: u64,
}

impl Sgd {
    /// Fresh state for `n_params` parameters.
    #[must_use]
    pub fn new(n_params: usize, weight_decay: f64) -> Self {
        Self { weight_decay, momentum_buffers: (0..n_params).map(|_| None).collect(), steps: 0 }
    }

    /// Steps taken.
    #[must_use]
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// One update of `params` (leaves on one device) from the gradients `backward` left in them.
    ///
    /// # Panics
    /// If `params` is not as long as the list the state was made for.
    pub fn step(&mut self, params: &[Tensor], lr: f64, momentum: f64) {
        let grads: Vec<Tensor> = params.iter().map(Tensor::grad).collect();
        self.step_with(params, &grads, lr, momentum);
    }

    /// One update of `params` from `grads` (one per parameter; an undefined tensor skips its
    /// parameter), e.g. gradients taken by `Tensor::run_backward`, which saves zeroing and
    /// accumulating into `.grad`: two kernels a parameter per step.
    ///
    /// # Panics
    /// If `params` or `grads` is not as long as the list the state was made for.
    pub fn step_with(&mut self, params: &[Tensor], grads: &[Tensor], lr: f64, momentum: f64) {
        assert_eq!(params.len(), self.momentum_buffers.len(), "SGD made for another parameter list");
        assert_eq!(grads.len(), params.len(), "one gradient per parameter");
        self.steps += 1;
        let Some(first) = params.first() else { return };
        // The three factors as 0-dim tensors on the device, so that the weight decay and the
        // parameter update are one fused `addcmul` kernel (a + b·c) each.
        let (kind, device) = (first.kind(), first.device());
        let scalar = |x: f64| Tensor::full([] as [i64; 0], x, (kind, device));
        let (weight_decay, momentum_t, neg_lr) = (scalar(self.weight_decay), scalar(momentum), scalar(-lr));
        tch::no_grad(|| {
            for ((p, g), buf) in params.iter().zip(grads).zip(&mut self.momentum_buffers) {
                if !g.defined() {
                    continue;
                }
                // A fresh tensor: on the first step it becomes the buffer without a copy.
                let d = if self.weight_decay == 0.0 { g.copy() } else { g.addcmul(p, &weight_decay) };
                // PyTorch skips the buffer entirely when momentum is 0.
                let update = if momentum == 0.0 {
                    d
                } else if let Some(old) = buf.as_mut() {
                    // In place, as torch.optim.SGD: a captured CUDA graph keeps updating this
                    // very tensor (Sgd::buffers_in_place), so it must never be replaced.
                    let _ = old.g_mul_(&momentum_t).g_add_(&d);
                    old.shallow_clone()
                } else {
                    *buf = Some(d.shallow_clone());
                    d
                };
                let _ = p.shallow_clone().addcmul_(&update, &neg_lr);
            }
        });
    }

    /// The momentum buffers as tensors updated in place, for a step outside [`Sgd::step_with`]
    /// (a captured CUDA graph): parameters without one get zeros, which makes their next update
    /// `buf = d` exactly as a first step. The returned tensors share storage with the state, so
    /// checkpoints see what the graph writes.
    ///
    /// # Panics
    /// If `params` is not as long as the list the state was made for.
    pub fn buffers_in_place(&mut self, params: &[Tensor]) -> Vec<Tensor> {
        assert_eq!(params.len(), self.momentum_buffers.len(), "SGD made for another parameter list");
        params
            .iter()
            .zip(&mut self.momentum_buffers)
            .map(|(p, buf)| buf.get_or_insert_with(|| p.detach().zeros_like()).shallow_clone())
            .collect()
    }

    /// Count a step taken outside [`Sgd::step_with`] on the buffers of [`Sgd::buffers_in_place`].
    pub fn count_step(&mut self) {
        self.steps += 1;
    }

    /// The state to checkpoint: `"step"` (0-dim i64) and `"momentum_buffer.<i>"` for every
    /// parameter that has one (none before the first step).
    #[must_use]
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        #[allow(clippy::cast_possible_wrap)] // steps never reach 2^63
        let step = Tensor::from(self.steps as i64);
        let buffers = self
            .momentum_buffers
            .iter()
            .enumerate()
            .filter_map(|(i, buf)| buf.as_ref().map(|b| (format!("{BUFFER}{i}"), b.detach().copy())));
        std::iter::once((STEP.to_owned(), step)).chain(buffers).collect()
    }

    /// Restore the state written by [`Sgd::state_tensors`]; buffers move to each parameter's
    /// device and kind. Parameters absent from `state` get no buffer (their next update starts
    /// one, as after a fresh start). Nothing changes unless every entry is valid.
    ///
    /// # Errors
    /// On a missing or non-scalar step, a name that is neither, an index beyond `params`, or a
    /// buffer whose shape differs from its parameter's.
    pub fn load_state(&mut self, params: &[Tensor], state: &[(String, Tensor)]) -> Result<(), StateError> {
        let mut steps = None;
        let mut buffers: Vec<Option<Tensor>> = params.iter().map(|_| None).collect();
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
            let index = name.strip_prefix(BUFFER).and_then(|i| i.parse::<usize>().ok());
            let Some((p, slot)) = index.and_then(|i| params.get(i).zip(buffers.get_mut(i))) else {
                return Err(StateError::UnknownName(name.clone()));
            };
            if tensor.size() != p.size() {
                return Err(StateError::Shape { name: name.clone(), expected: p.size(), got: tensor.size() });
            }
            *slot = Some(tensor.to_device_(p.device(), p.kind(), false, true).detach());
        }
        self.steps = steps.ok_or(StateError::MissingStep)?;
        self.momentum_buffers = buffers;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::OneCycle;
    use std::process::Command;
    use tch::{Device, Kind};

    /// f(x) = ½·Σ a_i x_i², so ∇f = a ⊙ x.
    fn quadratic_grad(x: &Tensor, a: &Tensor) {
        let loss = (x * x * a).sum(Kind::Double) * 0.5;
        x.shallow_clone().zero_grad();
        loss.backward();
    }

    fn to_vec(t: &Tensor) -> Vec<f64> {
        Vec::<f64>::try_from(t.detach().flatten(0, -1).to_kind(Kind::Double)).unwrap()
    }

    fn assert_close(got: &[f64], want: &[f64], what: &str) {
        // Float64 throughout; a reordered sum may differ in the last bits, nothing more.
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() <= 1e-12 * w.abs().max(1e-300), "{what}: got {got:?}, want {want:?}");
        }
    }

    /// Three steps of the quadratic by the recurrence written out on plain floats.
    fn hand_reference(x0: &[f64], a: &[f64], wd: f64, hyper: &[(f64, f64)]) -> Vec<f64> {
        let mut x = x0.to_vec();
        let mut buf: Option<Vec<f64>> = None;
        for &(lr, mu) in hyper {
            let d: Vec<f64> = x.iter().zip(a).map(|(x, a)| a * x + wd * x).collect();
            let b: Vec<f64> = match &buf {
                None => d,
                Some(b) => b.iter().zip(&d).map(|(b, d)| mu * b + d).collect(),
            };
            x = x.iter().zip(&b).map(|(x, b)| x - lr * b).collect();
            buf = Some(b);
        }
        x
    }

    #[test]
    fn follows_the_torch_sgd_recurrence_on_a_quadratic_with_changing_lr_and_momentum() {
        let (x0, a, wd) = ([1.0, -2.0, 0.5], [1.0, 3.0, 10.0], 5e-4);
        let hyper = [(0.1, 0.95), (0.05, 0.9), (0.02, 0.85)];
        let x = Tensor::from_slice(&x0).set_requires_grad(true);
        let a_t = Tensor::from_slice(&a);
        let mut sgd = Sgd::new(1, wd);
        for &(lr, mu) in &hyper {
            quadratic_grad(&x, &a_t);
            sgd.step(&[x.shallow_clone()], lr, mu);
        }
        assert_close(&to_vec(&x), &hand_reference(&x0, &a, wd, &hyper), "x after three steps");
        assert_eq!(sgd.steps(), 3);
    }

    #[test]
    fn resuming_from_saved_state_is_bit_identical() {
        let a = Tensor::from_slice(&[1.0f32, 3.0, 10.0]);
        let schedule = OneCycle::new(0.1, 6);
        let run = |resume_at: Option<u64>| {
            let x = Tensor::from_slice(&[1.0f32, -2.0, 0.5]).set_requires_grad(true);
            let mut sgd = Sgd::new(1, 5e-4);
            for step in 0..6 {
                if resume_at == Some(step) {
                    let saved = sgd.state_tensors();
                    sgd = Sgd::new(1, 5e-4);
                    sgd.load_state(&[x.shallow_clone()], &saved).unwrap();
                }
                quadratic_grad(&x, &a);
                let (lr, mu) = schedule.lr_momentum(step);
                sgd.step(&[x.shallow_clone()], lr, mu);
            }
            Vec::<f32>::try_from(x.detach()).unwrap()
        };
        let straight = run(None);
        for at in [0, 1, 4] {
            assert_eq!(run(Some(at)), straight, "resumed at step {at}");
        }
    }

    /// The same steps on CUDA as on the CPU, state moved across by a checkpoint round trip
    /// (skipped without CUDA, see `cuda_for_tests`).
    #[test]
    fn steps_on_cuda_like_on_the_cpu() {
        let Some(cuda) = crate::vision::cuda_for_tests() else { return };
        let run = |device: Device| {
            let x = Tensor::from_slice(&[1.0f64, -2.0, 0.5]).to_device(device).set_requires_grad(true);
            let a = Tensor::from_slice(&[1.0f64, 3.0, 10.0]).to_device(device);
            let mut sgd = Sgd::new(1, 5e-4);
            for &(lr, mu) in &[(0.1, 0.95), (0.05, 0.9), (0.02, 0.85)] {
                quadratic_grad(&x, &a);
                sgd.step(&[x.shallow_clone()], lr, mu);
            }
            let mut resumed = Sgd::new(1, 5e-4);
            resumed.load_state(&[x.shallow_clone()], &sgd.state_tensors()).unwrap();
            quadratic_grad(&x, &a);
            resumed.step(&[x.shallow_clone()], 0.01, 0.9);
            to_vec(&x.to_device(Device::Cpu))
        };
        assert_close(&run(cuda), &run(Device::Cpu), "x on CUDA");
    }

    #[test]
    fn load_state_rejects_unknown_names_and_wrong_shapes() {
        let x = Tensor::zeros([3], (Kind::Float, Device::Cpu));
        let step = || ("step".to_owned(), Tensor::from(2i64));
        let buffer = |name: &str, n: i64| (name.to_owned(), Tensor::zeros([n], (Kind::Float, Device::Cpu)));
        let mut sgd = Sgd::new(1, 0.0);
        let load = |sgd: &mut Sgd, state: &[(String, Tensor)]| sgd.load_state(&[x.shallow_clone()], state);
        let bad_name = [step(), buffer("momentum_buffer.1", 3)];
        assert!(matches!(load(&mut sgd, &bad_name), Err(StateError::UnknownName(_))));
        let bad_shape = [step(), buffer("momentum_buffer.0", 2)];
        assert!(matches!(load(&mut sgd, &bad_shape), Err(StateError::Shape { .. })));
        assert!(matches!(load(&mut sgd, &[buffer("momentum_buffer.0", 3)]), Err(StateError::MissingStep)));
        assert_eq!(sgd.steps(), 0, "a refused state changes nothing");
        load(&mut sgd, &[step(), buffer("momentum_buffer.0", 3)]).unwrap();
        assert_eq!(sgd.steps(), 2);
        assert_eq!(sgd.state_tensors().len(), 2);
    }

    /// Two parameters against `torch.optim.SGD` driven by the same changing lr and momentum, in
    /// float64, plus a third that never gets a gradient and must stay as it is (skipped unless
    /// `PZ_PYTHON` is set).
    #[test]
    fn matches_torch_optim_sgd() {
        let Ok(python) = std::env::var("PZ_PYTHON") else {
            return;
        };
        let schedule = OneCycle::new(0.1, 5);
        let hyper: Vec<(f64, f64)> = (0..5).map(|t| schedule.lr_momentum(t)).collect();
        let script = format!(
            "import torch\n\
             torch.set_default_dtype(torch.float64)\n\
             x = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.5]))\n\
             w = torch.nn.Parameter(torch.tensor([[0.3, -0.7], [1.5, 0.2]]))\n\
             a = torch.tensor([1.0, 3.0, 10.0])\n\
             o = torch.optim.SGD([x, w], lr=0.1, momentum=0.9, weight_decay=5e-4)\n\
             for lr, mu in {hyper:?}:\n\
             \x20   for g in o.param_groups: g['lr'] = lr; g['momentum'] = mu\n\
             \x20   o.zero_grad()\n\
             \x20   (0.5 * (a * x * x).sum() + (w ** 3).sum()).backward()\n\
             \x20   o.step()\n\
             print(' '.join(repr(v) for v in x.tolist() + w.flatten().tolist()))\n"
        );
        let out = Command::new(&python).args(["-W", "ignore", "-c", &script]).output().expect("run python");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let want: Vec<f64> =
            String::from_utf8(out.stdout).unwrap().split_whitespace().map(|v| v.parse().unwrap()).collect();

        let x = Tensor::from_slice(&[1.0f64, -2.0, 0.5]).set_requires_grad(true);
        let w = Tensor::from_slice(&[0.3f64, -0.7, 1.5, 0.2]).reshape([2, 2]).set_requires_grad(true);
        let unused = Tensor::from_slice(&[7.0f64]).set_requires_grad(true);
        let a = Tensor::from_slice(&[1.0f64, 3.0, 10.0]);
        let params = [x.shallow_clone(), w.shallow_clone(), unused.shallow_clone()];
        let mut sgd = Sgd::new(3, 5e-4);
        for &(lr, mu) in &hyper {
            x.shallow_clone().zero_grad();
            w.shallow_clone().zero_grad();
            let loss = (&x * &x * &a).sum(Kind::Double) * 0.5 + w.pow_tensor_scalar(3).sum(Kind::Double);
            loss.backward();
            sgd.step(&params, lr, mu);
        }
        let mut got = to_vec(&x);
        got.extend(to_vec(&w));
        assert_close(&got, &want, "x and w after five steps");
        assert_eq!(to_vec(&unused), [7.0], "a parameter without a gradient is not touched");
        let names: Vec<String> = sgd.state_tensors().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["step", "momentum_buffer.0", "momentum_buffer.1"]);
    }
}
