//! The local learning coefficient (LLC) of a population of models, estimated by SGLD as
//! devinterp estimates it (Lau et al. 2023, "Quantifying degeneracy in singular models via the
//! learning coefficient"; devinterp 1.3.2 `optim/sgld.py`, `slt/llc.py`, `slt/sampler.py`).
//!
//! # The estimator
//! Around a trained point w*, SGLD samples the localised tempered posterior
//! p(w) ∝ exp(−nβ L(w) − γ/2 ‖w − w*‖²) with the update (devinterp's `SGLD.step`, noise
//! level 1, no weight decay)
//!
//! w ← w − ε/2 · (nβ ∇L_m(w) + γ (w − w*)) + N(0, ε),
//!
//! where L_m is the mean loss on the step's minibatch. Every chain starts at w*; the first
//! `burn_in` steps are discarded and each of the next `draws` steps records L_m(w) at the
//! weights *before* that step's update (devinterp records the loss its gradient came from).
//! Per chain, λ̂ = nβ · (mean recorded loss − L(w*)); the estimate is the mean over chains, with
//! the standard deviation over chains (n − 1 in the denominator, as `torch.std`). For a
//! nondegenerate quadratic loss in d parameters the exact posterior gives λ̂ = d/2 at γ = 0.
//!
//! # Where it differs from devinterp, and why
//! - **Rows.** A population of R models of equal shapes (`[R, …]` per parameter tensor, as
//!   everywhere in this crate) is sampled at once: one loss call and one backward per step for
//!   all R rows. Chains run one after the other, as devinterp's `cores = 1`.
//! - **Noise.** Row r's chain c draws its noise from its own ChaCha8 stream
//!   (`replica_stream(key_r, c)` of `seed`), so a row's estimate depends on (seed, its key, its
//!   data) only: not on R, on the other rows, on the device or on threads (issue 17's rule for
//!   published values). devinterp draws `torch.normal` from the global generator.
//! - **L(w*).** devinterp averages the first min(chains, batches) minibatch losses at w*;
//!   here L(w*) is the mean, over the draws, of the draw's own minibatch loss at w*, so
//!   minibatch differences cancel in the difference. With one batch (full batch) both are L(w*).
//! - **nβ.** `None` is devinterp's `default_nbeta`: b / ln b with b the *batch size* (not the
//!   data set size); b < 2 is an error here (devinterp falls back to 1 with a warning).
//! - **Convergence.** Each row gets split-R̂ of its loss trace ([`split_r_hat`]), which devinterp
//!   leaves to the user's plots.

use serde::Serialize;
use tch::{Device, Kind, Tensor};

use crate::probe::{replica_stream, MemberStreams};

pub use pz_spec::{LlcConfig, LlcError};

/// R models (rows) of equal shapes and their minibatch losses, as SGLD needs them.
pub trait SgldProblem {
    /// The trained weights w*, `[R, …]` per parameter tensor, detached.
    fn init(&self) -> &[Tensor];
    /// Minibatches per pass over the data; step t uses batch t mod `batches()`.
    fn batches(&self) -> usize;
    /// Samples per minibatch (b of the default nβ = b / ln b).
    fn batch_size(&self) -> usize;
    /// Samples per minibatch of each row when rows differ (models trained on different
    /// fractions of a data set: each row gets its own default nβ); empty (default): every
    /// row has [`Self::batch_size`]. Unused when nβ is set.
    fn row_batch_sizes(&self) -> Vec<usize> {
        Vec::new()
    }
    /// Per-row mean loss `[R]` at `w` (shaped as `init()`, requiring grad) on minibatch
    /// `batch`, with its graph: row r must depend on slice r of `w` only.
    fn loss(&self, w: &[Tensor], batch: usize) -> Tensor;
    /// Each row's noise stream (e.g. [`crate::model_stream`] of its id); empty (default): its
    /// position.
    fn streams(&self) -> Vec<u64> {
        Vec::new()
    }
}

/// One row's estimate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LlcRow {
    /// λ̂: the mean of `llc_per_chain`.
    pub llc_mean: f64,
    /// Standard deviation of `llc_per_chain` (n − 1; NaN with one chain).
    pub llc_std: f64,
    /// nβ · (mean recorded loss − `init_loss`), per chain.
    pub llc_per_chain: Vec<f64>,
    /// L(w*): the mean over the draws of each draw's minibatch loss at w*.
    pub init_loss: f64,
    /// Recorded minibatch losses, `[chains][draws]`.
    pub loss_trace: Vec<Vec<f64>>,
    /// Split-R̂ of `loss_trace` ([`split_r_hat`]); near 1 when the chains agree and are stationary.
    pub r_hat: f64,
    /// The row's nβ.
    pub nbeta: f64,
}

/// The estimate for every row of a problem, in row order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LlcEstimate {
    /// The nβ of the first row (every row's unless [`SgldProblem::row_batch_sizes`] differ).
    pub nbeta: f64,
    /// One entry per row.
    pub rows: Vec<LlcRow>,
}

/// Estimates the LLC of every row of `problem` by SGLD on `device` (w* is moved there; the
/// problem's data must already be there). Kinds follow w*; float64 works on any device.
/// A row whose loss turns non-finite gets NaN numbers; the other rows are unaffected.
///
/// # Errors
/// A bad `cfg` ([`LlcConfig::validate`]), an undefined default nβ, or a problem that breaks
/// the [`SgldProblem`] contract.
pub fn estimate_llc<P: SgldProblem + ?Sized>(
    problem: &P,
    cfg: &LlcConfig,
    device: Device,
) -> Result<LlcEstimate, LlcError> {
    cfg.validate()?;
    let w_star: Vec<Tensor> = problem.init().iter().map(|t| t.detach().to_device(device)).collect();
    let rows = check_rows(&w_star, problem.batches())?;
    let nbetas = row_nbetas(problem, cfg, rows)?;
    let keys = match problem.streams() {
        keys if keys.is_empty() => (0..rows as u64).collect(),
        keys if keys.len() == rows => keys,
        keys => return Err(LlcError::Problem(format!("{} stream keys for {rows} rows", keys.len()))),
    };
    let init = init_losses(problem, &w_star, cfg, rows)?;
    // [chains, draws, rows] on the host, one transfer per chain.
    let traces: Vec<Vec<f64>> = (0..cfg.chains)
        .map(|c| {
            let chain_keys: Vec<u64> = keys.iter().map(|&k| replica_stream(k, c as u64)).collect();
            run_chain(problem, &w_star, cfg, &nbetas, &chain_keys)
        })
        .collect::<Result<_, _>>()?;
    let estimates: Vec<LlcRow> = (0..rows)
        .map(|r| {
            let loss_trace: Vec<Vec<f64>> =
                traces.iter().map(|t| t.iter().skip(r).step_by(rows).copied().collect()).collect();
            summarize(loss_trace, init[r], nbetas[r])
        })
        .collect();
    tracing::debug!(rows, nbeta = nbetas[0], chains = cfg.chains, draws = cfg.draws, "llc estimated");
    Ok(LlcEstimate { nbeta: nbetas[0], rows: estimates })
}

/// nβ per row: the set value, else b / ln b of each row's batch size.
fn row_nbetas<P: SgldProblem + ?Sized>(
    problem: &P,
    cfg: &LlcConfig,
    rows: usize,
) -> Result<Vec<f64>, LlcError> {
    match problem.row_batch_sizes() {
        sizes if sizes.is_empty() => Ok(vec![cfg.nbeta_for(problem.batch_size())?; rows]),
        sizes if sizes.len() == rows => sizes.into_iter().map(|b| cfg.nbeta_for(b)).collect(),
        sizes => Err(LlcError::Problem(format!("{} row batch sizes for {rows} rows", sizes.len()))),
    }
}

/// nβ as SGLD's drift multiplies it: a number when the rows share it (the same bits as a
/// single-row estimate), else a `[R, 1, …]` column broadcast over each parameter tensor.
enum DriftScale {
    Shared(f64),
    PerRow(Tensor),
}

impl DriftScale {
    fn new(nbetas: &[f64], device: Device) -> Self {
        if nbetas.iter().all(|b| b.to_bits() == nbetas[0].to_bits()) {
            Self::Shared(nbetas[0])
        } else {
            Self::PerRow(Tensor::from_slice(nbetas).to_device(device))
        }
    }

    /// `g` (`[R, …]`) times each row's nβ.
    fn scale(&self, g: &Tensor) -> Tensor {
        match self {
            Self::Shared(b) => g * *b,
            Self::PerRow(b) => {
                let mut shape = vec![-1i64];
                shape.resize(g.dim(), 1);
                g * b.to_kind(g.kind()).reshape(shape.as_slice())
            }
        }
    }
}

/// R, after checking that w* has parameters, all with the same leading R ≥ 1, and batches.
fn check_rows(w_star: &[Tensor], batches: usize) -> Result<usize, LlcError> {
    let lead = |t: &Tensor| t.size().first().copied();
    let Some(Some(rows)) = w_star.first().map(lead) else {
        return Err(LlcError::Problem("init() must give at least one [R, ...] tensor".into()));
    };
    if let Some(i) = w_star.iter().position(|t| lead(t) != Some(rows)) {
        let got = w_star[i].size();
        return Err(LlcError::Problem(format!("parameter {i} has shape {got:?}, expected [{rows}, ...]")));
    }
    if rows == 0 || batches == 0 {
        return Err(LlcError::Problem(format!("{rows} rows and {batches} batches: both must be >= 1")));
    }
    Ok(usize::try_from(rows).expect("positive"))
}

/// The problem's loss at `w`, checked to be `[rows]`.
fn row_losses<P: SgldProblem + ?Sized>(
    problem: &P,
    w: &[Tensor],
    batch: usize,
    rows: usize,
) -> Result<Tensor, LlcError> {
    let loss = problem.loss(w, batch);
    if loss.size() != [i64::try_from(rows).expect("small")] {
        return Err(LlcError::Problem(format!("loss() gave shape {:?}, expected [{rows}]", loss.size())));
    }
    Ok(loss)
}

/// Minibatch of step `step` (draws and burn-in alike cycle through the batches from 0, as each
/// devinterp chain iterates its loader afresh).
fn batch_of(step: usize, batches: usize) -> usize {
    step % batches
}

/// L(w*) per row: the mean over the draws of the draw's minibatch loss at w*, so that
/// λ̂ compares each recorded loss with the same minibatch's loss at w*.
fn init_losses<P: SgldProblem + ?Sized>(
    problem: &P,
    w_star: &[Tensor],
    cfg: &LlcConfig,
    rows: usize,
) -> Result<Vec<f64>, LlcError> {
    let batches = problem.batches();
    let mut count = vec![0usize; batches];
    (cfg.burn_in..cfg.burn_in + cfg.draws).for_each(|s| count[batch_of(s, batches)] += 1);
    let mut sum = vec![0.0; rows];
    for (b, &n) in count.iter().enumerate().filter(|(_, &n)| n > 0) {
        let loss = tch::no_grad(|| row_losses(problem, w_star, b, rows))?;
        let loss =
            Vec::<f64>::try_from(loss.to_kind(Kind::Double).to_device(Device::Cpu)).expect("[R] floats");
        #[allow(clippy::cast_precision_loss)]
        sum.iter_mut().zip(loss).for_each(|(s, l)| *s += n as f64 * l);
    }
    #[allow(clippy::cast_precision_loss)]
    Ok(sum.into_iter().map(|s| s / cfg.draws as f64).collect())
}

/// One chain for all rows from w*: the recorded losses, draw-major (`[draws × rows]`).
fn run_chain<P: SgldProblem + ?Sized>(
    problem: &P,
    w_star: &[Tensor],
    cfg: &LlcConfig,
    nbetas: &[f64],
    keys: &[u64],
) -> Result<Vec<f64>, LlcError> {
    let rows = keys.len();
    let nbeta = DriftScale::new(nbetas, w_star[0].device());
    let mut streams = MemberStreams::keyed(cfg.seed, keys);
    let mut w: Vec<Tensor> = w_star.iter().map(Tensor::copy).collect();
    // Losses stay on the device until the chain ends: no host sync per step.
    let mut recorded = Vec::with_capacity(cfg.draws);
    for step in 0..cfg.burn_in + cfg.draws {
        let leaves: Vec<Tensor> = w.iter().map(|t| t.detach().set_requires_grad(true)).collect();
        let loss = row_losses(problem, &leaves, batch_of(step, problem.batches()), rows)?;
        let grads = Tensor::run_backward(&[loss.sum(loss.kind())], &leaves, false, false);
        if step >= cfg.burn_in {
            recorded.push(loss.detach());
        }
        let noise = streams.gaussian(&w);
        w = tch::no_grad(|| sgld_step(&w, &grads, w_star, &noise, cfg.epsilon, &nbeta, cfg.gamma));
    }
    let trace = Tensor::stack(&recorded, 0).to_kind(Kind::Double).to_device(Device::Cpu);
    Ok(Vec::<f64>::try_from(trace.reshape([-1])).expect("float trace"))
}

/// devinterp's SGLD update, w − ε/2 (nβ g + γ (w − w*)) + √ε ξ, per parameter tensor; a
/// parameter the loss does not use has no gradient and feels only localisation and noise.
fn sgld_step(
    w: &[Tensor],
    grads: &[Tensor],
    w_star: &[Tensor],
    noise: &[Tensor],
    eps: f64,
    nbeta: &DriftScale,
    gamma: f64,
) -> Vec<Tensor> {
    w.iter()
        .zip(grads)
        .zip(w_star.iter().zip(noise))
        .map(|((w, g), (w0, xi))| {
            let mut drift = (w - w0) * gamma;
            if g.defined() {
                drift += nbeta.scale(g);
            }
            w - drift * (eps / 2.0) + xi * eps.sqrt()
        })
        .collect()
}

/// λ̂ per chain, their mean and deviation, and split-R̂, for one row.
fn summarize(loss_trace: Vec<Vec<f64>>, init_loss: f64, nbeta: f64) -> LlcRow {
    #[allow(clippy::cast_precision_loss)]
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let llc_per_chain: Vec<f64> = loss_trace.iter().map(|t| nbeta * (mean(t) - init_loss)).collect();
    let llc_mean = mean(&llc_per_chain);
    #[allow(clippy::cast_precision_loss)]
    let llc_std = (llc_per_chain.iter().map(|l| (l - llc_mean).powi(2)).sum::<f64>()
        / (llc_per_chain.len() as f64 - 1.0))
        .sqrt();
    let llc_std = if llc_per_chain.len() < 2 { f64::NAN } else { llc_std };
    let r_hat = split_r_hat(&loss_trace);
    LlcRow { llc_mean, llc_std, llc_per_chain, init_loss, loss_trace, r_hat, nbeta }
}

/// Split-R̂ (Gelman et al., *Bayesian Data Analysis*, 3rd ed., §11.4): every chain is cut into
/// its first and last n = ⌊len/2⌋ draws, and R̂ = √(((n−1)/n · W + B/n) / W) over these 2C
/// half-chains, with W the mean within-half variance and B/n the variance of the half means.
/// It exceeds 1 when chains disagree *or* drift within themselves (so it works with one
/// chain); values above ~1.05 ask for more burn-in or draws. NaN with fewer than 2 draws per
/// half or a non-finite trace; 1 for constant traces that agree.
#[must_use]
pub fn split_r_hat(chains: &[Vec<f64>]) -> f64 {
    let n = chains.iter().map(Vec::len).min().unwrap_or(0) / 2;
    if n < 2 {
        return f64::NAN;
    }
    let halves: Vec<&[f64]> = chains.iter().flat_map(|c| [&c[..n], &c[c.len() - n..]]).collect();
    #[allow(clippy::cast_precision_loss)]
    let (nf, m) = (n as f64, halves.len() as f64);
    let means: Vec<f64> = halves.iter().map(|h| h.iter().sum::<f64>() / nf).collect();
    let grand = means.iter().sum::<f64>() / m;
    let b_over_n = means.iter().map(|x| (x - grand).powi(2)).sum::<f64>() / (m - 1.0);
    let w = halves
        .iter()
        .zip(&means)
        .map(|(h, mu)| h.iter().map(|x| (x - mu).powi(2)).sum::<f64>() / (nf - 1.0))
        .sum::<f64>()
        / m;
    if w == 0.0 {
        return if b_over_n == 0.0 { 1.0 } else { f64::INFINITY };
    }
    (((nf - 1.0) / nf * w + b_over_n) / w).sqrt()
}

#[cfg(test)]
#[path = "llc_tests.rs"]
mod tests;
