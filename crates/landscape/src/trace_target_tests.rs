//! Tests of the target rule against exact traces (float64, CPU).

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor};

use super::*;
use crate::hvp::LossHvp;
use crate::testkit::{explicit_hessian, quadratic, randn, traces, Tiny};
use crate::trace::hutchinson_trace;

/// phasezoo's default estimator (`[metrics.hessian]` defaults), member k on stream `keys[k]`.
fn default_rule(keys: &[u64]) -> Hutchinson {
    Hutchinson::from_config(&pz_spec::HessianConfig::default(), keys)
}

/// K symmetric n × n matrices U diag(λ) Uᵀ with Haar-random U and λ from `spectrum(member)`,
/// and their traces Σλ.
fn with_spectrum(
    k: i64,
    n: i64,
    rng: &mut ChaCha8Rng,
    spectrum: impl Fn(i64) -> Vec<f64>,
) -> (Tensor, Vec<f64>) {
    let (u, _) = Tensor::linalg_qr(&randn(&[k, n, n], rng), "reduced");
    let lambdas: Vec<Vec<f64>> = (0..k).map(spectrum).collect();
    let exact = lambdas.iter().map(|l| l.iter().sum()).collect();
    let d = Tensor::from_slice(&lambdas.concat()).reshape([k, 1, n]);
    ((&u * d).bmm(&u.transpose(1, 2)), exact)
}

/// A spectrum like a trained network's Hessian: a few outliers over a wide bulk of both signs
/// (mean 0.5, deviation 3), so that Hutchinson alone would need thousands of probes for 2 %.
fn outliers_and_bulk(n: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let bulk = randn(&[i64::try_from(n - 5).unwrap()], rng) * 3.0 + 0.5;
    let mut l = vec![200.0, 60.0, 20.0, 8.0, 4.0];
    l.extend(Vec::<f64>::try_from(bulk).unwrap());
    l
}

/// A population of 2 → 12 → 12 → 1 tanh MLPs (205 parameters each), fitted by 1,500 steps of
/// gradient descent to 64 samples of a smooth target (a trained model's Hessian: a few large
/// eigenvalues over a decaying bulk, as a network's after training), with the mean squared
/// error as loss; `copies` members with the same values.
fn mlp(copies: i64, seed: u64) -> (Vec<Tensor>, LossHvp) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let shapes: [&[i64]; 6] = [&[1, 2, 12], &[1, 1, 12], &[1, 12, 12], &[1, 1, 12], &[1, 12, 1], &[1, 1, 1]];
    let mut params: Vec<Tensor> =
        shapes.iter().map(|s| (randn(s, &mut rng) * 0.5).set_requires_grad(true)).collect();
    let x = randn(&[1, 64, 2], &mut rng);
    let y = (x.sum_dim_intlist(2, true, Kind::Double) * 1.5).sin();
    let loss_of = |p: &[Tensor], x: &Tensor, y: &Tensor| {
        let h = p[1].baddbmm(x, &p[0], 1.0, 1.0).tanh();
        let h = p[3].baddbmm(&h, &p[2], 1.0, 1.0).tanh();
        let out = p[5].baddbmm(&h, &p[4], 1.0, 1.0);
        (out - y).square().mean_dim([1, 2].as_slice(), false, Kind::Double)
    };
    for _ in 0..1500 {
        let grads =
            Tensor::run_backward(&[loss_of(&params, &x, &y).sum(Kind::Double)], &params, false, false);
        params =
            params.iter().zip(&grads).map(|(p, g)| (p.detach() - g * 0.2).set_requires_grad(true)).collect();
    }
    let params: Vec<Tensor> =
        params.iter().map(|p| p.detach().repeat([copies, 1, 1]).set_requires_grad(true)).collect();
    let (x, y) = (x.repeat([copies, 1, 1]), y.repeat([copies, 1, 1]));
    let op = LossHvp::new(&params, vec![(1.0, loss_of(&params, &x, &y))]);
    (params, op)
}

/// |estimate − exact| ≤ ci95 (the reported 95 % interval) and ≤ std_err, counted.
fn covered(est: &[TraceEstimate], exact: &[f64]) -> (usize, usize) {
    let ci = est.iter().zip(exact).filter(|(e, t)| (e.mean - *t).abs() <= e.ci95).count();
    let se = est.iter().zip(exact).filter(|(e, t)| (e.mean - *t).abs() <= e.std_err).count();
    (ci, se)
}

/// Issue 23's acceptance: on a model small enough for the exact Hessian, the default trace is
/// within its reported error (the 95 % interval `ci95`, docs/METRICS.md) of the exact trace in
/// at least 19 of 20 seeds; checked on two models chosen before any was run (3 and 4). An honest
/// 95 % interval meets "19 of 20" only with probability 0.74 (0.95²⁰ + 20 · 0.05 · 0.95¹⁹), so
/// the claim behind it is checked over all 16 models: 320 runs, the interval covering at least
/// 93 % of them and the standard error bar 60-76 % (binomial spread ±1.2 % and ±2.6 %).
#[test]
fn the_default_trace_is_within_its_reported_interval_in_19_of_20_seeds() {
    let (mut ci_all, mut se_all) = (0, 0);
    for model in 0..16 {
        let (params, op) = mlp(20, model);
        let exact = traces(&explicit_hessian(&op, &params));
        let est = hutchinson_trace(&op, &params, &default_rule(&(0..20).collect::<Vec<_>>()));
        let (ci, se) = covered(&est, &exact);
        assert!(est.iter().all(|e| e.converged && e.std_err <= 0.02 * e.mean.abs()), "mlp {model}: {est:?}");
        if [3, 4].contains(&model) {
            assert!(ci >= 19, "mlp {model}: only {ci} of 20 seeds within their 95 % interval");
        }
        ci_all += ci;
        se_all += se;
    }
    assert!(ci_all >= 298, "the 95 % interval holds in {ci_all} of 320 runs");
    assert!((192..=243).contains(&se_all), "the std err bar holds in {se_all} of 320 runs");
}

/// The reported errors are honest, not merely wide: over 400 runs on exact quadratics whose
/// residual needs more than the minimum of probes, the 95 % interval holds the trace about 95 %
/// of the time and the standard error bar about 68 % (binomial spread ±0.011 and ±0.023):
/// Hutch++ on outliers over a wide bulk, and plain Hutchinson (no sketch) with the same
/// sequential stop on a bulk alone.
#[test]
fn reported_errors_have_their_nominal_coverage_on_exact_hessians() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for sketch in [10, 0] {
        let spectrum = |_| {
            let mut l = outliers_and_bulk(300, &mut ChaCha8Rng::seed_from_u64(7));
            if sketch == 0 {
                l[..5].iter_mut().for_each(|v| *v = 1.0);
            }
            l
        };
        let (a, exact) = with_spectrum(400, 300, &mut rng, spectrum);
        let (params, op) = quadratic(&a, &mut rng);
        let target = Some(TraceTarget { sketch, ..TraceTarget::default() });
        let est = hutchinson_trace(&op, &params, &Hutchinson { max_iter: 2000, target, ..default_rule(&[]) });
        let (ci, se) = covered(&est, &exact);
        #[allow(clippy::cast_precision_loss)]
        let (ci, se) = (ci as f64 / 400.0, se as f64 / 400.0);
        let mut probes: Vec<usize> = est.iter().map(|e| e.samples.len()).collect();
        probes.sort_unstable();
        assert!(
            probes[200] > TraceTarget::default().min_probes,
            "the rule, not the minimum, stops most: {probes:?}"
        );
        assert!((0.92..=0.98).contains(&ci), "sketch {sketch}: the 95 % interval covers {ci}");
        assert!((0.61..=0.75).contains(&se), "sketch {sketch}: the std err bar covers {se}");
        assert!(est.iter().all(|e| e.converged), "a cap of 2000 is never reached here");
    }
}

/// The rule stops once the reported relative standard error is at most the target, unless the
/// cap comes first, and then says so.
#[test]
fn the_target_is_reached_unless_the_cap_stops_the_probes() {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let (a, _) =
        with_spectrum(6, 120, &mut rng, |_| outliers_and_bulk(120, &mut ChaCha8Rng::seed_from_u64(8)));
    let (params, op) = quadratic(&a, &mut rng);
    let target = TraceTarget::default();
    let mut capped = 0;
    for cap in [1000, target.min_probes + 5] {
        let cfg = Hutchinson { max_iter: cap, ..default_rule(&[]) };
        for e in hutchinson_trace(&op, &params, &cfg) {
            assert_eq!(e.products, 2 * target.sketch + e.samples.len());
            assert!(e.samples.len() >= target.min_probes && e.samples.len() <= cap, "{e:?}");
            if e.converged {
                assert!(e.std_err <= target.rel_std_err * e.mean.abs(), "{e:?}");
            } else {
                assert_eq!(e.samples.len(), cap, "{e:?}");
                assert!(e.std_err > target.rel_std_err * e.mean.abs());
            }
            capped += usize::from(!e.converged);
        }
    }
    assert!(capped > 0, "the low cap stops some members");
}

/// Members stop on their own, and a member's value is the same bits alone (beside a copy of
/// itself, as `measure` runs a lone model) and beside other members.
#[test]
fn members_stop_independently_with_the_same_bits_alone_and_beside_others() {
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    let scales = [0.2, 1.0, 3.0]; // bulk widths: from few probes to many
    let (a, _) = with_spectrum(3, 80, &mut rng, |m| {
        let mut l = outliers_and_bulk(80, &mut ChaCha8Rng::seed_from_u64(9));
        l[5..].iter_mut().for_each(|v| *v *= scales[usize::try_from(m).unwrap()]);
        l
    });
    let (params, op) = quadratic(&a, &mut rng);
    let together = hutchinson_trace(&op, &params, &default_rule(&[5, 9, 77]));
    let lengths: Vec<usize> = together.iter().map(|e| e.samples.len()).collect();
    assert!(lengths[0] < lengths[2], "the narrow bulk stops first: {lengths:?}");
    let last = a.narrow(0, 2, 1).repeat([2, 1, 1]);
    let x = params[0].detach().narrow(0, 2, 1).repeat([2, 1]).set_requires_grad(true);
    let loss = (x.unsqueeze(1).bmm(&last).squeeze_dim(1) * &x).sum_dim_intlist(1, false, Kind::Double) * 0.5;
    let alone_params = vec![x];
    let alone_op = LossHvp::new(&alone_params, vec![(1.0, loss)]);
    let alone = hutchinson_trace(&alone_op, &alone_params, &default_rule(&[77, 77]));
    assert_eq!(alone[0], together[2], "member 77 alone and beside others");
    assert_eq!(alone[0].mean.to_bits(), together[2].mean.to_bits());
}

/// With at least as many sketch probes as H has directions, the deflated part is the whole
/// trace and the residual is rounding, for a full-rank MLP and for a rank-3 matrix (whose
/// further sketch columns are dropped, not normalised rounding).
#[test]
fn a_sketch_spanning_the_range_gives_the_exact_trace() {
    let tiny = Tiny::new(2, 12, 31);
    let op = tiny.hvp(&[12]);
    let exact = traces(&explicit_hessian(&op, &tiny.params));
    let cfg = Hutchinson {
        target: Some(TraceTarget { sketch: 27, ..TraceTarget::default() }),
        ..default_rule(&[])
    };
    for (e, t) in hutchinson_trace(&op, &tiny.params, &cfg).iter().zip(&exact) {
        assert!((e.deflated - t).abs() < 1e-10 * t.abs().max(1.0), "{} vs {t}", e.deflated);
        assert!((e.mean - t).abs() < 1e-10 * t.abs().max(1.0));
        assert_eq!(e.samples.len(), TraceTarget::default().min_probes, "stops at the minimum");
    }
    let mut rng = ChaCha8Rng::seed_from_u64(14);
    let (a, exact) = with_spectrum(2, 40, &mut rng, |_| {
        let mut l = vec![0.0; 40];
        l[..3].copy_from_slice(&[5.0, -2.0, 0.5]);
        l
    });
    let (params, op) = quadratic(&a, &mut rng);
    for (e, t) in hutchinson_trace(&op, &params, &default_rule(&[])).iter().zip(&exact) {
        assert!((e.mean - t).abs() < 1e-9, "{} vs {t}", e.mean);
    }
}

/// `ptmz_compat` is PyHessian's rule whatever `target` says, and `from_config` maps the spec.
#[test]
fn ptmz_compat_overrides_the_target_and_from_config_maps_the_spec() {
    let tiny = Tiny::new(3, 12, 32);
    let op = tiny.hvp(&[12]);
    let pyhessian = Hutchinson { ptmz_compat: true, ..Hutchinson::default() };
    let both = Hutchinson { target: Some(TraceTarget::default()), ..pyhessian.clone() };
    assert_eq!(hutchinson_trace(&op, &tiny.params, &pyhessian), hutchinson_trace(&op, &tiny.params, &both));
    let spec =
        pz_spec::HessianConfig { ptmz_compat: true, trace_max_iter: 70, seed: 4, ..Default::default() };
    let compat = Hutchinson::from_config(&spec, &[1, 2]);
    assert_eq!(compat, Hutchinson { max_iter: 70, seed: 4, streams: vec![1, 2], ..pyhessian });
    let default = Hutchinson::from_config(&pz_spec::HessianConfig::default(), &[]);
    assert_eq!(default.target, Some(TraceTarget { rel_std_err: 0.02, min_probes: 30, sketch: 10 }));
}

#[test]
fn student_t_quantiles_match_the_tables() {
    for (dof, t) in [(1, 12.7062), (9, 2.2622), (10, 2.2281), (20, 2.0860), (30, 2.0423), (100, 1.9840)] {
        assert!((student_t975(dof) - t).abs() < 2e-4, "{dof}: {} vs {t}", student_t975(dof));
    }
    assert!(student_t975(0).is_infinite());
}
