//! `VisionModel::forward_with`: the network as a function of the tensors it is given. At the
//! model's own tensors it is the model's forward, bit for bit; at other tensors autograd reaches
//! whatever they were computed from; BatchNorm statistics come from where `Norm` says, and a
//! pass at momentum b/(n_seen + b) gives the exact size-weighted average of the batches'.

use pz_models::vision::{BatchNormStats, Norm, VisionModel, VisionModelConfig};
use tch::{Device, Kind, Tensor};

fn configs() -> Vec<VisionModelConfig> {
    vec![
        VisionModelConfig::resnet18(2, 3, 10),
        VisionModelConfig::resnet50(2, 1, 10),
        VisionModelConfig::vit(16, 1, 10, 28),
    ]
}

fn images(cfg: &VisionModelConfig, n: i64) -> Tensor {
    let side = if cfg.arch == pz_models::VisionArch::Vit { cfg.image_size } else { 12 };
    Tensor::randn([n, cfg.in_channels, side, side], (Kind::Float, Device::Cpu))
}

/// Every parameter moved off its init (the ViT head starts at zero, BN at γ = 1, β = 0).
fn perturbed(cfg: &VisionModelConfig, seed: u64) -> VisionModel {
    let mut model = VisionModel::new(cfg, Device::Cpu, seed);
    let names = model.trainable_names();
    let moved: Vec<(String, Tensor)> = model
        .state_dict()
        .into_iter()
        .map(|(k, t)| if names.contains(&k) { (k, &t + t.randn_like() * 0.05) } else { (k, t) })
        .collect();
    model.load_state_dict(&moved).expect("same shapes");
    model
}

fn same(a: &Tensor, b: &Tensor) -> bool {
    a.size() == b.size() && a.eq_tensor(b).all().int64_value(&[]) == 1
}

fn stats_of(stats: &BatchNormStats) -> Vec<Tensor> {
    (0..stats.len()).flat_map(|i| <[Tensor; 2]>::from(stats.layer(i)).map(|t| t.copy())).collect()
}

#[test]
fn at_its_own_tensors_it_is_the_models_forward_bit_for_bit() {
    tch::manual_seed(1);
    for cfg in configs() {
        let model = perturbed(&cfg, 0);
        let x = images(&cfg, 6);
        let own = model.trainable();
        let eval = model.forward_t(&x, false);
        assert!(same(&model.forward_with(&own, Norm::Running(model.batch_norm_stats()), &x), &eval), "{cfg}");
        // Batch statistics: the training forward's logits, without touching the running stats.
        let before = stats_of(model.batch_norm_stats());
        let batch = model.forward_with(&own, Norm::Batch, &x);
        assert!(before.iter().zip(stats_of(model.batch_norm_stats())).all(|(a, b)| same(a, &b)), "{cfg}");
        assert!(same(&batch, &model.forward_t(&x, true)), "{cfg}");
    }
}

#[test]
fn gradients_reach_the_tensors_the_weights_were_computed_from() {
    tch::manual_seed(2);
    for cfg in configs() {
        let model = perturbed(&cfg, 0);
        let x = images(&cfg, 4);
        // The model's parameters as row 1 of a stack, the way a curve point arrives.
        let stacked: Vec<Tensor> = model
            .trainable()
            .iter()
            .map(|p| Tensor::stack(&[p.detach() * 2.0, p.detach()], 0).set_requires_grad(true))
            .collect();
        let rows: Vec<Tensor> = stacked.iter().map(|s| s.get(1)).collect();
        let loss = model.forward_with(&rows, Norm::Batch, &x).square().sum(Kind::Float);
        let through_stack = Tensor::run_backward(&[loss], &stacked, false, false);
        let own = model.trainable();
        let loss = model.forward_with(&own, Norm::Batch, &x).square().sum(Kind::Float);
        let direct = Tensor::run_backward(&[loss], &own, false, false);
        for (g, d) in through_stack.iter().zip(&direct) {
            assert_eq!(g.get(0).abs().max().double_value(&[]), 0.0, "{cfg}: row 0 is not used");
            assert!(same(&g.get(1), d), "{cfg}");
        }
    }
}

#[test]
fn an_update_pass_at_momentum_b_over_n_averages_the_batches_exactly() {
    tch::manual_seed(3);
    let cfg = VisionModelConfig::resnet18(2, 3, 10);
    let model = perturbed(&cfg, 0);
    let own_before = stats_of(model.batch_norm_stats());
    let stats = model.new_batch_norm_stats();
    assert_eq!(stats.len(), model.batch_norm_stats().len());
    // Unequal batches: an average over batches (momentum None) would weigh them wrongly.
    let batches = [images(&cfg, 5) + 1.0, images(&cfg, 3) * 2.0, images(&cfg, 9)];
    let mut seen = 0.0;
    for x in &batches {
        #[allow(clippy::cast_precision_loss)]
        let b = x.size()[0] as f64;
        let _ =
            tch::no_grad(|| model.forward_with(&model.trainable(), Norm::Update(&stats, b / (seen + b)), x));
        seen += b;
    }
    // The first BatchNorm sees conv1's output, which no BatchNorm precedes: its exact
    // statistics are known. Mean: the mean over all images; variance: the size-weighted mean of
    // each batch's unbiased variance, as PyTorch's running update folds it in.
    let conv1 = &model.trainable()[0];
    let out = |x: &Tensor| {
        x.conv2d(conv1, None::<Tensor>, [1, 1], [1, 1], [1, 1], 1).transpose(0, 1).flatten(1, -1)
    };
    let all = Tensor::cat(&batches.iter().map(out).collect::<Vec<_>>(), 1).to_kind(Kind::Double);
    let want_mean = all.mean_dim(1, false, Kind::Double);
    let want_var = batches
        .iter()
        .map(|x| {
            let o = out(x).to_kind(Kind::Double);
            o.var_dim(1, true, false) * x.size()[0]
        })
        .fold(Tensor::zeros([2], (Kind::Double, Device::Cpu)), |a, v| a + v)
        / seen;
    let (mean, var) = stats.layer(0);
    let close = |a: &Tensor, b: &Tensor| (a.to_kind(Kind::Double) - b).abs().max().double_value(&[]);
    assert!(close(&mean, &want_mean) < 1e-5, "mean off by {}", close(&mean, &want_mean));
    assert!(
        close(&var, &want_var) < 1e-5 * want_var.abs().max().double_value(&[]),
        "var off by {}",
        close(&var, &want_var)
    );
    assert!(
        own_before.iter().zip(stats_of(model.batch_norm_stats())).all(|(a, b)| same(a, &b)),
        "own untouched"
    );
    stats.reset();
    let (mean, var) = stats.layer(3);
    assert_eq!(
        (mean.abs().max().double_value(&[]), var.min().double_value(&[]), var.max().double_value(&[])),
        (0.0, 1.0, 1.0)
    );
}
