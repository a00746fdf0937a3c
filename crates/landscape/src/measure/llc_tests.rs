//! The LLC adapter against the estimator on the same problem written in w directly.

use pz_spec::CkaConfig;
use pz_train::{CurveProblem, LossGraph, MeasuredPopulation};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::testkit::randn;

/// R linear regressions y_r ≈ X w_r, float64, the loss the mean squared error over two
/// batches weighted by their sizes (as families weight theirs). Stacked: one `[R, d]` leaf;
/// else one model's `[d]` leaf (R = 1) whose loss is a scalar.
struct Regressions {
    w: Tensor,
    x: Tensor,
    y: Tensor,
    stacked: bool,
    /// What `loss_samples` says (empty: the default, unknown).
    samples: Vec<usize>,
}

/// Per-row losses `[R]` of `w` (`[R, d]`) on the two batches, with their weights.
fn batch_losses(w: &Tensor, x: &Tensor, y: &Tensor) -> Vec<(f64, Tensor)> {
    let n = x.size()[0];
    let split = n / 4; // unequal batches: the weights matter
    [(0, split), (split, n)]
        .into_iter()
        .map(|(a, b)| {
            let pred = x.narrow(0, a, b - a).matmul(&w.transpose(0, 1)).transpose(0, 1); // [R, b]
            let err = pred - y.narrow(1, a, b - a);
            #[allow(clippy::cast_precision_loss)]
            let weight = (b - a) as f64 / n as f64;
            (weight, err.square().mean_dim(1, false, Kind::Double))
        })
        .collect()
}

/// Σ_b w_b L_b as the adapter sums it.
fn weighted(losses: &[(f64, Tensor)], rows: i64) -> Tensor {
    losses.iter().map(|(wb, l)| l.reshape([rows]) * *wb).reduce(|a, b| a + b).expect("batches")
}

impl Regressions {
    fn new(rows: i64, d: i64, n: i64, seed: u64, stacked: bool) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let x = randn(&[n, d], &mut rng);
        let truth = randn(&[rows, d], &mut rng);
        let y = truth.matmul(&x.transpose(0, 1)) + randn(&[rows, n], &mut rng) * 0.1;
        // w* = the least-squares fit, so that the estimate is near d/2 (a regular model).
        let fit = x.linalg_lstsq(&y.transpose(0, 1), None, "gelsd").0.transpose(0, 1);
        let w = if stacked { fit } else { fit.get(0) };
        Self { w: w.set_requires_grad(true), x, y, stacked, samples: Vec::new() }
    }
}

impl MeasuredPopulation for Regressions {
    fn members(&self) -> usize {
        if self.stacked {
            usize::try_from(self.w.size()[0]).expect("rows")
        } else {
            1
        }
    }

    fn hessian_groups(&self) -> Vec<Vec<usize>> {
        vec![(0..self.members()).collect()]
    }

    fn loss_graph(&self, _group: usize, _set: usize) -> Result<LossGraph, pz_train::Error> {
        let params = vec![self.w.shallow_clone()];
        let losses = if self.stacked {
            batch_losses(&self.w, &self.x, &self.y)
        } else {
            let y = self.y.narrow(0, 0, 1);
            batch_losses(&self.w.unsqueeze(0), &self.x, &y)
                .into_iter()
                .map(|(b, l)| (b, l.reshape([])))
                .collect()
        };
        Ok(LossGraph { params, stacked: self.stacked, losses })
    }

    fn loss_samples(&self, _group: usize, _set: usize) -> Vec<usize> {
        self.samples.clone()
    }

    fn representations(&self, _cka: &CkaConfig) -> Result<Vec<Vec<Tensor>>, pz_train::Error> {
        Ok(Vec::new())
    }

    fn curves(&self, _pairs: &[(usize, usize)]) -> Result<Box<dyn CurveProblem + '_>, pz_train::Error> {
        Err(pz_train::Error::Config("no curves".into()))
    }
}

/// The same regressions written in w directly, as `estimate_llc`'s own tests write problems.
struct InW {
    init: Vec<Tensor>,
    x: Tensor,
    y: Tensor,
    streams: Vec<u64>,
}

impl SgldProblem for InW {
    fn init(&self) -> &[Tensor] {
        &self.init
    }
    fn batches(&self) -> usize {
        1
    }
    fn batch_size(&self) -> usize {
        0
    }
    fn loss(&self, w: &[Tensor], _batch: usize) -> Tensor {
        weighted(&batch_losses(&w[0], &self.x, &self.y), w[0].size()[0])
    }
    fn streams(&self) -> Vec<u64> {
        self.streams.clone()
    }
}

/// The largest relative difference between the numbers of two JSON values of one structure
/// (infinite where the structures differ).
fn max_relative_difference(a: &serde_json::Value, b: &serde_json::Value) -> f64 {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
            if x == y {
                0.0
            } else {
                (x - y).abs() / x.abs().max(y.abs())
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            x.iter().zip(y).map(|(x, y)| max_relative_difference(x, y)).fold(0.0, f64::max)
        }
        (Value::Object(x), Value::Object(y)) if x.keys().eq(y.keys()) => {
            x.iter().map(|(k, v)| max_relative_difference(v, &y[k])).fold(0.0, f64::max)
        }
        _ if a == b => 0.0,
        _ => f64::INFINITY,
    }
}

fn bits(t: &Tensor) -> Vec<u64> {
    Vec::<f64>::try_from(t.reshape([-1])).expect("floats").into_iter().map(f64::to_bits).collect()
}

/// Stacked and single-model groups: the adapter's estimate is the estimator's on the problem in
/// w, number for number, and the model holds w* again afterwards, bit for bit.
#[test]
fn the_adapter_estimates_as_the_problem_in_w_and_puts_w_star_back() {
    let cfg = LlcConfig {
        epsilon: 1e-3,
        gamma: 10.0,
        nbeta: Some(30.0),
        chains: 2,
        draws: 60,
        burn_in: 60,
        seed: 3,
    };
    for (stacked, rows) in [(true, 3), (false, 1)] {
        let pop = Regressions::new(rows, 4, 48, 7, stacked);
        let w_star = pop.w.detach().copy();
        let streams: Vec<u64> = (0..rows as u64).map(|r| 100 + r).collect();
        let got = estimate_group(&pop, 0, streams.clone(), &cfg, Device::Cpu).unwrap();
        let y = if stacked { pop.y.shallow_clone() } else { pop.y.narrow(0, 0, 1) };
        let init = vec![if stacked { w_star.copy() } else { w_star.unsqueeze(0) }];
        let want =
            estimate_llc(&InW { init, x: pop.x.shallow_clone(), y, streams }, &cfg, Device::Cpu).unwrap();
        // Number for number, up to the last bit a stacked product may round otherwise than the
        // estimator's on some CPUs (an AMD EPYC here: 1 ulp in a loss, carried along the chain).
        let worst = max_relative_difference(
            &serde_json::to_value(&got).unwrap(),
            &serde_json::to_value(&want).unwrap(),
        );
        assert!(worst <= 1e-12, "stacked {stacked}: differs by {worst:e} (relative)\n{got:?}\n{want:?}");
        assert_eq!(got.rows.len(), want.rows.len());
        assert_eq!(bits(&pop.w.detach()), bits(&w_star), "stacked {stacked}: w* restored bit for bit");
        assert!(pop.w.requires_grad(), "the live parameter stays a leaf");
        for row in &got.rows {
            // A regular model: λ̂ near d/2 = 2 (localisation and few draws pull it off a little).
            assert!(row.llc_mean > 1.0 && row.llc_mean < 3.0, "stacked {stacked}: {row:?}");
            assert_eq!((row.loss_trace.len(), row.loss_trace[0].len()), (2, 60));
        }
    }
}

/// Without nβ the estimate is refused with the setting to give, not sampled with a made-up n.
#[test]
fn an_unknown_sample_count_needs_nbeta() {
    let pop = Regressions::new(2, 3, 16, 1, true);
    let cfg = LlcConfig { draws: 4, burn_in: 0, ..LlcConfig::default() };
    let err = estimate_group(&pop, 0, vec![0, 1], &cfg, Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("[metrics.llc]") && err.contains("set nbeta explicitly"), "{err}");
}

/// A family's sample counts give the default nβ = n / ln n: per row when its rows' counts
/// differ (different train fractions), one for all rows when it gives one count; a row then
/// samples as with its nβ set.
#[test]
fn the_family_sample_counts_give_each_row_its_default_nbeta() {
    let cfg = LlcConfig { chains: 1, draws: 8, burn_in: 4, ..LlcConfig::default() };
    let mut pop = Regressions::new(2, 3, 16, 1, true);
    pop.samples = vec![100, 1000];
    let got = estimate_group(&pop, 0, vec![0, 1], &cfg, Device::Cpu).unwrap();
    let want = [100f64, 1000f64].map(|n| n / n.ln());
    assert_eq!(got.rows.iter().map(|r| r.nbeta).collect::<Vec<_>>(), want);
    let set = LlcConfig { nbeta: Some(want[1]), ..cfg.clone() };
    let same = estimate_group(&pop, 0, vec![0, 1], &set, Device::Cpu).unwrap();
    assert_eq!(got.rows[1].loss_trace, same.rows[1].loss_trace, "row 1 samples as with its nβ set");
    assert_ne!(got.rows[0].loss_trace, same.rows[0].loss_trace, "row 0 has another nβ");
    pop.samples = vec![100];
    let shared = estimate_group(&pop, 0, vec![0, 1], &cfg, Device::Cpu).unwrap();
    assert!(shared.rows.iter().all(|r| r.nbeta == want[0]));
}

#[test]
fn traces_keep_at_most_100_evenly_spaced_draws_the_first_included() {
    let chain: Vec<f64> = (0..250).map(f64::from).collect();
    let kept = subsample(&chain);
    assert_eq!(kept.len(), TRACE_POINTS);
    assert_eq!((kept[0], kept[1], kept[2], kept[99]), (0.0, 2.0, 5.0, 247.0));
    assert_eq!(subsample(&chain[..100]), chain[..100].to_vec());
}
