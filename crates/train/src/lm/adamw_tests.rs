//! AdamW and gradient clipping against hand computations, `torch.optim.AdamW` and a resume.

use std::process::Command;

use tch::{Device, Kind, Tensor};

use super::*;

/// f = ½·Σ a_i x_i² + Σ w_j³: ∇ = a ⊙ x for x (a vector, not decayed) and 3w² for w (a
/// matrix, decayed).
fn gradients(x: &Tensor, w: &Tensor, a: &Tensor) -> Vec<Tensor> {
    let loss = (x * x * a).sum(Kind::Double) * 0.5 + w.pow_tensor_scalar(3).sum(Kind::Double);
    Tensor::run_backward(&[loss], &[x, w], false, false)
}

fn to_vec(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.detach().flatten(0, -1).to_kind(Kind::Double)).unwrap()
}

fn assert_close(got: &[f64], want: &[f64], what: &str) {
    // Float64 throughout; the same operations in another order differ in the last bits only.
    assert_eq!(got.len(), want.len(), "{what}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= 1e-12 * w.abs().max(1e-12), "{what}: got {got:?}, want {want:?}");
    }
}

const LRS: [f64; 3] = [0.1, 0.05, 0.02];
const BETAS: [f64; 2] = [0.9, 0.95];
const EPS: f64 = 1e-8;
const WD: f64 = 0.1;

fn params() -> (Tensor, Tensor) {
    let x = Tensor::from_slice(&[1.0f64, -2.0, 0.5]).set_requires_grad(true);
    let w = Tensor::from_slice(&[0.3f64, -0.7, 1.5, 0.2]).reshape([2, 2]).set_requires_grad(true);
    (x, w)
}

fn adamw(x: &Tensor, w: &Tensor) -> AdamW {
    AdamW::new(
        &[x.shallow_clone(), w.shallow_clone()],
        vec!["x".into(), "w".into()],
        vec![false, true],
        BETAS,
        EPS,
        WD,
    )
}

/// The update of the module docs on plain floats, one scalar at a time.
fn hand_reference(x0: &[f64], w0: &[f64], a: &[f64]) -> Vec<f64> {
    let (mut x, mut w) = (x0.to_vec(), w0.to_vec());
    let (mut m, mut v) = (vec![0.0; 7], vec![0.0; 7]);
    for (t, &lr) in LRS.iter().enumerate() {
        let t = (t + 1) as i32;
        let g: Vec<f64> = x.iter().zip(a).map(|(x, a)| a * x).chain(w.iter().map(|w| 3.0 * w * w)).collect();
        let mut p: Vec<f64> = x.iter().chain(&w).copied().collect();
        for i in 0..7 {
            if i >= 3 {
                p[i] *= 1.0 - lr * WD; // w decays, x does not
            }
            m[i] = BETAS[0] * m[i] + (1.0 - BETAS[0]) * g[i];
            v[i] = BETAS[1] * v[i] + (1.0 - BETAS[1]) * g[i] * g[i];
            let m_hat = m[i] / (1.0 - BETAS[0].powi(t));
            let v_hat = v[i] / (1.0 - BETAS[1].powi(t));
            p[i] -= lr * m_hat / (v_hat.sqrt() + EPS);
        }
        x = p[..3].to_vec();
        w = p[3..].to_vec();
    }
    x.into_iter().chain(w).collect()
}

#[test]
fn follows_the_adamw_update_with_decay_on_matrices_only() {
    let (x, w) = params();
    let a = Tensor::from_slice(&[1.0f64, 3.0, 10.0]);
    let mut opt = adamw(&x, &w);
    for lr in LRS {
        let g = gradients(&x, &w, &a);
        opt.step(&[x.shallow_clone(), w.shallow_clone()], &g, lr).unwrap();
    }
    let mut got = to_vec(&x);
    got.extend(to_vec(&w));
    let want = hand_reference(&[1.0, -2.0, 0.5], &[0.3, -0.7, 1.5, 0.2], &[1.0, 3.0, 10.0]);
    assert_close(&got, &want, "x and w after three steps");
    assert_eq!(opt.steps(), 3);
}

/// Against `torch.optim.AdamW` with nanoGPT's two groups, same gradients and learning rates,
/// float64 (skipped unless `PZ_PYTHON` names a python with torch, as scripts/libtorch-env.sh
/// sets it).
#[test]
fn matches_torch_optim_adamw() {
    let Ok(python) = std::env::var("PZ_PYTHON") else {
        return;
    };
    let script = format!(
        "import torch\n\
         torch.set_default_dtype(torch.float64)\n\
         x = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.5]))\n\
         w = torch.nn.Parameter(torch.tensor([[0.3, -0.7], [1.5, 0.2]]))\n\
         a = torch.tensor([1.0, 3.0, 10.0])\n\
         groups = [{{'params': [w], 'weight_decay': {WD}}}, {{'params': [x], 'weight_decay': 0.0}}]\n\
         o = torch.optim.AdamW(groups, lr=0.1, betas=({}, {}), eps={EPS}, foreach=False)\n\
         for lr in {LRS:?}:\n\
         \x20   for g in o.param_groups: g['lr'] = lr\n\
         \x20   o.zero_grad()\n\
         \x20   (0.5 * (a * x * x).sum() + (w ** 3).sum()).backward()\n\
         \x20   o.step()\n\
         print(' '.join(repr(v) for v in x.tolist() + w.flatten().tolist()))\n",
        BETAS[0], BETAS[1]
    );
    let out = Command::new(&python).args(["-W", "ignore", "-c", &script]).output().expect("run python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let want: Vec<f64> =
        String::from_utf8(out.stdout).unwrap().split_whitespace().map(|v| v.parse().unwrap()).collect();
    let (x, w) = params();
    let a = Tensor::from_slice(&[1.0f64, 3.0, 10.0]);
    let mut opt = adamw(&x, &w);
    for lr in LRS {
        let g = gradients(&x, &w, &a);
        opt.step(&[x.shallow_clone(), w.shallow_clone()], &g, lr).unwrap();
    }
    let mut got = to_vec(&x);
    got.extend(to_vec(&w));
    assert_close(&got, &want, "x and w against torch.optim.AdamW");
}

#[test]
fn resuming_from_saved_state_is_bit_identical() {
    let a = Tensor::from_slice(&[1.0f32, 3.0, 10.0]);
    let run = |resume_at: Option<usize>| {
        let x = Tensor::from_slice(&[1.0f32, -2.0, 0.5]).set_requires_grad(true);
        let w = Tensor::from_slice(&[0.3f32, -0.7, 1.5, 0.2]).reshape([2, 2]).set_requires_grad(true);
        let mut opt = adamw(&x, &w);
        for (step, lr) in [0.1, 0.05, 0.02, 0.01, 0.005].into_iter().enumerate() {
            if resume_at == Some(step) {
                let saved = opt.state_tensors();
                opt = adamw(&x, &w);
                opt.load_state(&[x.shallow_clone(), w.shallow_clone()], &saved).unwrap();
            }
            let g = gradients(&x, &w, &a);
            opt.step(&[x.shallow_clone(), w.shallow_clone()], &g, lr).unwrap();
        }
        (Vec::<f32>::try_from(x.detach()).unwrap(), Vec::<f32>::try_from(w.detach().flatten(0, -1)).unwrap())
    };
    let straight = run(None);
    for at in [0, 1, 4] {
        assert_eq!(run(Some(at)), straight, "resumed at step {at}");
    }
}

/// A fresh optimizer's state for `x` and `w`.
fn opt_state(x: &Tensor, w: &Tensor) -> Vec<(String, Tensor)> {
    adamw(x, w).state_tensors()
}

#[test]
fn the_state_is_named_by_parameter_and_a_bad_one_changes_nothing() {
    let (x, w) = params();
    let mut opt = adamw(&x, &w);
    let names: Vec<String> = opt.state_tensors().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["step", "exp_avg.x", "exp_avg.w", "exp_avg_sq.x", "exp_avg_sq.w"]);
    let list = [x.shallow_clone(), w.shallow_clone()];
    // The saved state with step 7.
    let state = || {
        let mut s = opt_state(&x, &w);
        s[0].1 = Tensor::from(7i64);
        s
    };
    let mut missing = state();
    missing.pop();
    assert!(matches!(opt.load_state(&list, &missing), Err(StateError::Missing(n)) if n == "exp_avg_sq.w"));
    let mut misshapen = state();
    misshapen[2].1 = Tensor::zeros([3], (Kind::Double, Device::Cpu));
    assert!(matches!(opt.load_state(&list, &misshapen), Err(StateError::Shape { .. })));
    let mut unknown = state();
    unknown[1].0 = "exp_avg.y".into();
    assert!(matches!(opt.load_state(&list, &unknown), Err(StateError::UnknownName(_))));
    assert_eq!(opt.steps(), 0, "a refused state changes nothing");
    opt.load_state(&list, &state()).unwrap();
    assert_eq!(opt.steps(), 7);
}

#[test]
fn clipping_scales_to_the_global_norm_and_leaves_small_gradients_alone() {
    // Norm of (3, 4) and (12) is 13.
    let grads = [Tensor::from_slice(&[3.0f64, 4.0]), Tensor::from_slice(&[12.0f64])];
    let norm = clip_grad_norm(&grads, 1.0);
    assert!((norm.double_value(&[]) - 13.0).abs() < 1e-12);
    let scale = 1.0 / (13.0 + 1e-6);
    assert_close(&to_vec(&grads[0]), &[3.0 * scale, 4.0 * scale], "clipped");
    assert_close(&to_vec(&grads[1]), &[12.0 * scale], "clipped");
    let small = [Tensor::from_slice(&[0.3f64, 0.4])];
    let _ = clip_grad_norm(&small, 1.0);
    assert_eq!(to_vec(&small[0]), [0.3, 0.4], "a norm below the limit is kept exactly");
}

/// The fused kernel (the CUDA path, which also runs on the CPU) against the per-tensor
/// operations: the same three steps, float64, agree to rounding; so do steps after restoring a
/// saved state, which must set the kernel's device step count (its bias corrections).
#[test]
fn the_fused_kernel_equals_the_per_tensor_update_also_after_a_restore() {
    let a = Tensor::from_slice(&[1.0f64, 3.0, 10.0]);
    let run = |fused: bool, restore_at: Option<usize>| {
        let (x, w) = params();
        let list = [x.shallow_clone(), w.shallow_clone()];
        let mut opt = adamw(&x, &w);
        if fused {
            opt.use_fused_kernel(Device::Cpu);
        }
        for (step, lr) in [0.1, 0.05, 0.02, 0.01, 0.005].into_iter().enumerate() {
            if restore_at == Some(step) {
                let saved = opt.state_tensors();
                opt = adamw(&x, &w);
                if fused {
                    opt.use_fused_kernel(Device::Cpu);
                }
                opt.load_state(&list, &saved).unwrap();
            }
            opt.step(&list, &gradients(&x, &w, &a), lr).unwrap();
        }
        assert_eq!(opt.steps(), 5);
        let mut all = to_vec(&x);
        all.extend(to_vec(&w));
        all
    };
    let plain = run(false, None);
    assert_close(&run(true, None), &plain, "fused against per-tensor");
    assert_close(&run(true, Some(3)), &plain, "fused, restored after 3 steps");
}
