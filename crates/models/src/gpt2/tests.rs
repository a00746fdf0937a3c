//! Behaviour of the GPT-2 model on tiny configs: shapes, causality, the tied head, seeded init,
//! the two attention kernels, double backward, and the state dict in and out. Each device test
//! runs on the CPU, and on CUDA too where there is one.

use rand::Rng;
use tch::{Device, Kind, Tensor};

use super::layout::{draw, Init};
use super::{Gpt2, Gpt2Config, LM_HEAD};
use crate::{member_rng, AttentionKernel, Error, Stream};

fn tiny() -> Gpt2Config {
    Gpt2Config { vocab_size: 101, context: 16, model_dim: 32, depth: 2, heads: 4 }
}

fn devices() -> Vec<Device> {
    let mut out = vec![Device::Cpu];
    if tch::Cuda::is_available() {
        out.push(Device::Cuda(0));
    }
    out
}

/// `[n, t]` token ids below `below`, from a seeded stream (not libtorch's global generator,
/// which parallel tests share).
fn tokens(n: i64, t: i64, below: i64, seed: u64, device: Device) -> Tensor {
    let mut rng = member_rng(seed, Stream::Data);
    let ids: Vec<i64> = (0..n * t).map(|_| rng.gen_range(0..below)).collect();
    Tensor::from_slice(&ids).view([n, t]).to_device(device)
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

#[test]
fn logits_hidden_states_and_loss_have_their_documented_shapes() {
    for device in devices() {
        let model = Gpt2::new(&tiny(), device, 0).unwrap();
        let x = tokens(3, 16, 101, 1, device);
        assert_eq!(model.forward(&x).size(), [3, 16, 101]);
        assert_eq!(model.hidden(&x).size(), [3, 16, 32]);
        let head = model.hidden(&x).matmul(&model.parameters()[0].tr());
        assert!(max_abs_diff(&model.forward(&x), &head) < 1e-5, "logits = hidden states × wteᵀ");
        assert_eq!(model.forward(&x.narrow(1, 0, 5)).size(), [3, 5, 101], "shorter than the context");
        // N(0, 0.02) weights give nearly uniform predictions at init: loss ≈ ln V.
        let loss = model.loss(&x, &tokens(3, 16, 101, 2, device));
        assert_eq!(loss.size(), Vec::<i64>::new());
        let loss = loss.double_value(&[]);
        assert!((loss - 101f64.ln()).abs() < 0.1, "initial loss {loss}, ln V {}", 101f64.ln());
        assert_eq!(model.parameter_count(), tiny().parameter_count());
    }
}

#[test]
#[should_panic(expected = "17 tokens per row for a context of 16")]
fn inputs_longer_than_the_context_are_refused() {
    let model = Gpt2::new(&tiny(), Device::Cpu, 0).unwrap();
    let _ = model.forward(&tokens(1, 17, 101, 0, Device::Cpu));
}

#[test]
fn building_an_invalid_config_names_the_problem() {
    let e = Gpt2::new(&Gpt2Config { heads: 3, ..tiny() }, Device::Cpu, 0).unwrap_err();
    assert!(e.to_string().contains("heads = 3 does not divide model_dim = 32"), "{e}");
}

#[test]
fn changing_a_future_token_leaves_earlier_logits_unchanged() {
    for device in devices() {
        for kernel in [AttentionKernel::Fused, AttentionKernel::Explicit] {
            let mut model = Gpt2::new(&tiny(), device, 3).unwrap();
            model.set_attention_kernel(kernel);
            let x = tokens(2, 16, 101, 4, device);
            let y = x.copy();
            y.narrow(1, 9, 1).copy_(&(x.narrow(1, 9, 1) + 1).remainder(101));
            let (a, b) = (model.forward(&x), model.forward(&y));
            let before = max_abs_diff(&a.narrow(1, 0, 9), &b.narrow(1, 0, 9));
            assert!(before < 1e-6, "{kernel:?} on {device:?}: positions < 9 moved by {before}");
            for pos in 9..16 {
                let after = max_abs_diff(&a.narrow(1, pos, 1), &b.narrow(1, pos, 1));
                assert!(after > 1e-4, "{kernel:?} on {device:?}: position {pos} moved only {after}");
            }
        }
    }
}

#[test]
fn fused_and_explicit_attention_agree_in_value_and_gradient() {
    for device in devices() {
        for (kind, tol) in [(Kind::Float, 1e-5), (Kind::Double, 1e-12)] {
            let mut model = Gpt2::new(&tiny(), device, 5).unwrap();
            model.set_kind(kind);
            let (x, y) = (tokens(4, 16, 101, 6, device), tokens(4, 16, 101, 7, device));
            let mut out = Vec::new();
            for kernel in [AttentionKernel::Fused, AttentionKernel::Explicit] {
                model.set_attention_kernel(kernel);
                let logits = model.forward(&x);
                let loss = model.loss(&x, &y);
                let grads = Tensor::run_backward(&[&loss], &model.parameters(), false, false);
                out.push((logits, grads));
            }
            let logits = max_abs_diff(&out[0].0, &out[1].0);
            assert!(logits < tol, "{kind:?} on {device:?}: logits differ by {logits}");
            for (i, (f, e)) in out[0].1.iter().zip(&out[1].1).enumerate() {
                let d = max_abs_diff(f, e) / (1.0 + e.abs().max().double_value(&[]));
                assert!(d < tol * 10.0, "{kind:?} on {device:?}: gradient {i} differs by {d}");
            }
        }
    }
}

/// The padded head (vocabulary 101 run as 128 rows, as CUDA does for GPT-2's 50,257) gives the
/// unpadded logits, loss and gradients in float64 to rounding, the padding's rows add nothing,
/// and the tied embedding's gradient keeps its shape.
#[test]
fn padding_the_heads_vocabulary_changes_no_number() {
    for device in devices() {
        let mut model = Gpt2::new(&tiny(), device, 8).unwrap();
        model.set_kind(Kind::Double);
        let (x, y) = (tokens(3, 16, 101, 9, device), tokens(3, 16, 101, 10, device));
        let mut out = Vec::new();
        for pad in [false, true] {
            model.set_head_padding(Some(pad));
            let logits = model.forward(&x);
            assert_eq!(logits.size(), [3, 16, 101]);
            let loss = model.loss(&x, &y);
            let grads = Tensor::run_backward(&[&loss], &model.parameters(), false, false);
            out.push((logits, loss, grads));
        }
        assert!(max_abs_diff(&out[0].0, &out[1].0) < 1e-12, "logits on {device:?}");
        assert!(max_abs_diff(&out[0].1, &out[1].1) < 1e-12, "loss on {device:?}");
        for (i, (a, b)) in out[0].2.iter().zip(&out[1].2).enumerate() {
            assert_eq!(a.size(), b.size(), "gradient {i}");
            assert!(max_abs_diff(a, b) < 1e-12, "gradient {i} on {device:?}");
        }
    }
}

/// On a GPU (PZ_TEST_CUDA=1): under bf16 autocast, the fused cross-entropy's loss and gradients
/// equal PyTorch's float32 cross-entropy of the same bf16 logits (the model's, widened), on a
/// vocabulary that the head pads (101 → 128 rows): both round the float32 gradient of the logits
/// to bf16, so the weights' gradients agree to bf16 rounding. PyTorch's own autocast path
/// (`cross_entropy` of the bf16 logits) is not that reference: it runs `log_softmax` in the
/// logits' dtype, so each row's loss is rounded to bf16 (half an ulp: 2⁻⁹ of it); on an H100 its
/// mean was 2.3e-4 from the fused one here (4.6 nats a row), within that rounding.
#[test]
fn the_fused_cross_entropy_trains_as_float32_cross_entropy_under_autocast() {
    if std::env::var_os("PZ_TEST_CUDA").is_none() || !tch::Cuda::is_available() {
        return;
    }
    let device = Device::Cuda(0);
    let mut model = Gpt2::new(&tiny(), device, 8).unwrap();
    let (x, y) = (tokens(4, 16, 101, 9, device), tokens(4, 16, 101, 10, device));
    let run = |model: &Gpt2, loss: &dyn Fn(&Gpt2) -> Tensor| {
        pz_device::with_bf16_autocast(|| {
            let loss = loss(model);
            let grads = Tensor::run_backward(&[&loss], &model.parameters(), false, false);
            (loss.to_kind(Kind::Float), grads)
        })
    };
    model.set_fused_loss(Some(false));
    let float32 = |m: &Gpt2| {
        let logits = m.forward(&x);
        assert_eq!(logits.kind(), Kind::BFloat16, "autocast's logits");
        logits.to_kind(Kind::Float).reshape([-1, 101]).cross_entropy_loss::<Tensor>(
            &y.reshape([-1]),
            None,
            tch::Reduction::Mean,
            -100,
            0.0,
        )
    };
    let (reference, reference_grads) = run(&model, &float32);
    let (cast, _) = run(&model, &|m: &Gpt2| m.loss(&x, &y));
    model.set_fused_loss(Some(true));
    let (fused, fused_grads) = run(&model, &|m: &Gpt2| m.loss(&x, &y));
    let (r, f, c) = (reference.double_value(&[]), fused.double_value(&[]), cast.double_value(&[]));
    // float32 sums of 64 rows in another order.
    assert!((f - r).abs() < 2e-5, "fused loss {f} against float32 {r}");
    assert!(
        (c - r).abs() <= r * 2f64.powi(-8),
        "autocast's loss {c} against float32 {r}: beyond bf16 rounding"
    );
    for (i, (a, b)) in reference_grads.iter().zip(&fused_grads).enumerate() {
        let scale = a.abs().max().double_value(&[]).max(1e-6);
        let diff = max_abs_diff(a, b);
        assert!(diff <= 2e-2 * scale, "gradient {i}: {diff} against largest {scale}");
    }
}

/// The Hessian-vector product of the explicit kernel (autograd twice, as landscape's HVP) equals
/// the central difference of gradients (g(θ + εv) − g(θ − εv)) / 2ε in float64 along a unit v.
/// The difference's error is O(ε²) (measured: 100× smaller per 10× smaller ε); at ε = 1e-5 it
/// measured 7e-9 relative, while rounding adds about 1e-16/ε ≈ 1e-11.
#[test]
fn explicit_attention_supports_double_backward() {
    let cfg = Gpt2Config { vocab_size: 13, context: 6, model_dim: 8, depth: 2, heads: 2 };
    let mut model = Gpt2::new(&cfg, Device::Cpu, 9).unwrap();
    model.set_kind(Kind::Double);
    model.set_attention_kernel(AttentionKernel::Explicit);
    let (x, y) = (tokens(3, 6, 13, 10, Device::Cpu), tokens(3, 6, 13, 11, Device::Cpu));
    let params = model.parameters();
    let mut rng = member_rng(12, Stream::Data);
    let v: Vec<Tensor> =
        params.iter().map(|p| draw(Init::Normal(1.0), &p.size(), &mut rng).to_kind(Kind::Double)).collect();
    let v_norm = v.iter().map(|v| v.square().sum(Kind::Double).double_value(&[])).sum::<f64>().sqrt();
    let v: Vec<Tensor> = v.iter().map(|v| v / v_norm).collect();

    let loss = model.loss(&x, &y);
    let g = Tensor::run_backward(&[&loss], &params, true, true);
    let gv =
        g.iter().zip(&v).map(|(g, v)| (g * v).sum(Kind::Double)).reduce(|a, b| a + b).expect("parameters");
    let hv = Tensor::run_backward(&[&gv], &params, false, false);

    let eps = 1e-5;
    let shift = |scale: f64| {
        tch::no_grad(|| {
            for (p, v) in params.iter().zip(&v) {
                let _ = p.shallow_clone().g_add_(&(v * scale));
            }
        });
    };
    shift(eps);
    let plus = Tensor::run_backward(&[&model.loss(&x, &y)], &params, false, false);
    shift(-2.0 * eps);
    let minus = Tensor::run_backward(&[&model.loss(&x, &y)], &params, false, false);
    shift(eps);
    let (mut err, mut norm) = (0.0, 0.0);
    for ((hv, plus), minus) in hv.iter().zip(&plus).zip(&minus) {
        let fd = (plus - minus) / (2.0 * eps);
        err += (hv - &fd).square().sum(Kind::Double).double_value(&[]);
        norm += hv.square().sum(Kind::Double).double_value(&[]);
    }
    let rel = (err / norm).sqrt();
    assert!(norm > 0.0 && rel < 1e-7, "HVP vs finite difference: relative error {rel}, |Hv|² {norm}");
}

/// With one tensor for embedding and head, rows of tokens that never occur in the input still
/// get a gradient (through the head's softmax), and a step moves them; an untied embedding
/// would leave them at exactly zero gradient.
#[test]
fn the_output_head_is_the_token_embedding() {
    let model = Gpt2::new(&tiny(), Device::Cpu, 13).unwrap();
    let names = model.parameter_names();
    assert!(!names.iter().any(|n| n.contains("lm_head")), "no separate head parameter");
    let wte = model.parameters()[0].shallow_clone();
    assert_eq!(names[0], "transformer.wte.weight");
    let (x, y) = (tokens(2, 16, 50, 14, Device::Cpu), tokens(2, 16, 50, 15, Device::Cpu));
    let before = wte.detach().copy();
    let grad = &Tensor::run_backward(&[&model.loss(&x, &y)], &[&wte], false, false)[0];
    let unseen = grad.narrow(0, 50, 51).abs().min().double_value(&[]);
    assert!(unseen > 0.0, "rows of unseen tokens get a gradient from the head");
    tch::no_grad(|| {
        let _ = wte.shallow_clone().g_add_(&(grad * -0.1));
    });
    assert!(max_abs_diff(&wte.narrow(0, 50, 51), &before.narrow(0, 50, 51)) > 0.0);
    let state = model.state_dict();
    let head = &state.iter().find(|(k, _)| k == LM_HEAD).expect("lm_head.weight exported").1;
    assert!(head.equal(&wte), "the exported head is the stepped embedding");
    assert_eq!(state.last().map(|(k, _)| k.as_str()), Some(LM_HEAD), "last, as in GPT2LMHeadModel");
}

#[test]
fn the_same_seed_gives_the_same_bytes_on_every_device() {
    let bytes = |seed: u64, device: Device| -> Vec<Vec<u8>> {
        Gpt2::new(&tiny(), device, seed).unwrap().named_tensors().into_iter().map(|t| t.data).collect()
    };
    let reference = bytes(7, Device::Cpu);
    for device in devices() {
        assert_eq!(bytes(7, device), reference, "seed 7 on {device:?}");
    }
    let other = bytes(8, Device::Cpu);
    assert_ne!(other[0], reference[0], "another seed, another embedding");
}

#[test]
#[allow(clippy::cast_precision_loss)]
fn init_follows_gpt2() {
    let cfg = Gpt2Config { vocab_size: 257, context: 64, model_dim: 64, depth: 3, heads: 4 };
    let model = Gpt2::new(&cfg, Device::Cpu, 1).unwrap();
    let residual = 0.02 / (2.0 * 3f64).sqrt();
    for (name, t) in model.state_dict() {
        if name.ends_with(".bias") {
            assert_eq!(t.abs().max().double_value(&[]), 0.0, "{name} starts at zero");
        } else if name.contains("ln_") {
            assert!(t.equal(&t.ones_like()), "{name} starts at one");
        } else {
            let want = if name.ends_with("c_proj.weight") { residual } else { 0.02 };
            // ≥ 4096 draws each: the sample std is within 3% of the law's, and the sample
            // mean within 6 standard errors (σ/√n) of 0, with room to spare.
            let got = t.std(true).double_value(&[]);
            assert!((got / want - 1.0).abs() < 0.03, "{name}: std {got}, want {want}");
            let mean = t.mean(Kind::Double).double_value(&[]);
            assert!(mean.abs() < 6.0 * want / (t.numel() as f64).sqrt(), "{name}: mean {mean}");
        }
    }
}

#[test]
fn matrices_and_embeddings_are_decayed_biases_and_norms_are_not() {
    let model = Gpt2::new(&tiny(), Device::Cpu, 0).unwrap();
    let (decayed, rest) = (model.decayed_parameters(), model.undecayed_parameters());
    assert_eq!(decayed.len(), 2 + 4 * 2, "wte, wpe and four Conv1D weights per block");
    assert!(decayed.iter().all(|t| t.dim() == 2) && rest.iter().all(|t| t.dim() == 1));
    let numel: usize = decayed.iter().chain(&rest).map(Tensor::numel).sum();
    assert_eq!(i64::try_from(numel).unwrap(), tiny().parameter_count());
}

#[test]
fn a_state_dict_round_trips_and_bad_ones_are_refused_whole() {
    let source = Gpt2::new(&tiny(), Device::Cpu, 21).unwrap();
    let mut target = Gpt2::new(&tiny(), Device::Cpu, 22).unwrap();
    let x = tokens(2, 16, 101, 23, Device::Cpu);
    target.load_named(&source.named_tensors()).unwrap();
    assert!(source.forward(&x).equal(&target.forward(&x)));

    // Hugging Face's save_pretrained drops the tied head: still a complete model.
    let mut state = source.state_dict();
    state.retain(|(k, _)| k != LM_HEAD);
    target.load_state_dict(&state).unwrap();

    let before = target.forward(&x);
    let mut bad = source.state_dict();
    bad.retain(|(k, _)| k != "transformer.h.1.ln_2.bias");
    bad[0].1 = bad[0].1.narrow(0, 0, 100);
    bad.push(("transformer.h.9.attn.bias".into(), Tensor::zeros([1], (Kind::Float, Device::Cpu))));
    let Err(Error::Mismatch { message, .. }) = target.load_state_dict(&bad) else { panic!("accepted") };
    for part in [
        "missing key transformer.h.1.ln_2.bias",
        "transformer.wte.weight: expected shape [101, 32], got [100, 32]",
        "unexpected key transformer.h.9.attn.bias",
    ] {
        assert!(message.contains(part), "{part} not in: {message}");
    }
    let mut untied = source.state_dict();
    let head = untied.iter_mut().find(|(k, _)| k == LM_HEAD).unwrap();
    head.1 = &head.1 + 1.0;
    let Err(e) = target.load_state_dict(&untied) else { panic!("accepted an untied head") };
    assert!(e.to_string().contains("lm_head.weight differs from transformer.wte.weight"), "{e}");
    assert!(target.forward(&x).equal(&before), "a refused state dict changes nothing");
}

#[test]
fn the_loss_at_given_weights_is_the_loss_of_a_model_holding_them() {
    let (a, b) = (Gpt2::new(&tiny(), Device::Cpu, 0).unwrap(), Gpt2::new(&tiny(), Device::Cpu, 1).unwrap());
    let (x, y) = (tokens(2, 16, 101, 3, Device::Cpu), tokens(2, 16, 101, 4, Device::Cpu));
    let weights_of = |m: &Gpt2| -> std::collections::HashMap<String, Tensor> {
        m.parameter_names().into_iter().zip(m.parameters()).collect()
    };
    // Model a evaluated at b's weights is model b, bit for bit; its own weights give its loss.
    assert!(a.loss_with(&weights_of(&b), &x, &y).equal(&b.loss(&x, &y)));
    assert!(a.loss_with(&weights_of(&a), &x, &y).equal(&a.loss(&x, &y)));
    assert!(a.hidden_with(&weights_of(&b), &x).equal(&b.hidden(&x)));
    // The graph reaches the given tensors.
    let w = weights_of(&b);
    let grads =
        Tensor::run_backward(&[a.loss_with(&w, &x, &y)], &[&w["transformer.wte.weight"]], false, false);
    assert!(grads[0].abs().sum(Kind::Double).double_value(&[]) > 0.0);
}
