//! Loss-landscape numerics over model *populations*: Hessian spectra (power iteration, Lanczos,
//! Hutchinson trace, stochastic Lanczos quadrature), representation similarity (CKA) and
//! mode connectivity along Bézier curves, each as SPEC §3 ("Loss-landscape metrics, exactly
//! as computed") defines it for the Phase Transition Model Zoo.
//!
//! # Populations
//! K models of identical shapes are stored as stacked leaf tensors `[K, …]` (population axis
//! first; see `pz_models::MlpPopulation`), and their per-member losses come as one `[K]`
//! tensor whose member k depends only on slice k. The Hessian of Σ_k L_k is then
//! block-diagonal, so one double backward gives all K Hessian-vector products
//! ([`LossHvp`]), and every algorithm here runs on all members at once with per-member inner
//! products ([`member_dot`]) and per-member convergence. A single model is a population of one.
//!
//! # What it owns, what it must not know
//! It owns the numerics, and [`measure_zoo`], which runs them on a trained zoo's checkpoints
//! and stores the values (docs/METRICS.md). The numerics themselves: Hessian-vector products, eigen/trace/density estimators and their
//! stopping rules (PyHessian, Yao et al. 2020), CKA (Kornblith et al. 2019), the Bézier curve,
//! its training step, schedule and the mc score (Garipov et al. 2018). The numerics know
//! nothing of files, zoo specs, datasets, model architectures or training loops: callers hand
//! in parameters, loss tensors and closures, and get numbers back; only `measure` connects them
//! to a zoo. It never prints; it logs with
//! `tracing` at debug level.
//!
//! # Example
//! ```no_run
//! use pz_landscape::{hutchinson_trace, top_eigenvalues, Hutchinson, LossHvp, PowerIteration};
//! use tch::{Device, Kind, Tensor};
//!
//! // Three members of a linear least-squares model with 4 weights each.
//! let w = Tensor::randn([3, 4, 1], (Kind::Double, Device::Cpu)).set_requires_grad(true);
//! let x = Tensor::randn([3, 64, 4], (Kind::Double, Device::Cpu));
//! let y = Tensor::randn([3, 64, 1], (Kind::Double, Device::Cpu));
//! let loss = (x.bmm(&w) - &y).square().mean_dim([1, 2].as_slice(), false, Kind::Double); // [3]
//! let params = [w];
//! let op = LossHvp::new(&params, vec![(1.0, loss)]);
//! let lambda_max = top_eigenvalues(&op, &params, 1, &PowerIteration::default()); // [[λ]; 3]
//! let trace = hutchinson_trace(&op, &params, &Hutchinson::default());
//! # let _ = (lambda_max, trace);
//! ```
#![deny(missing_docs)]

mod bench;
mod cka;
mod curve;
mod curve_converged;
mod curve_fit;
mod density;
mod eigen;
mod graph_hvp;
mod hvp;
mod lanczos;
mod llc;
mod measure;
mod probe;
mod trace;
mod trace_target;
mod tridiagonal;
mod vector;

#[cfg(test)]
mod testkit;

pub use bench::{run_hessian_bench, HessianBench, HessianBenchReport};
pub use cka::{
    center_gram, cka_from_grams, feature_space_linear_cka, gram_linear, gram_rbf, linear_cka, rbf_cka, Hsic,
};
pub use curve::{bezier_point, bezier_point_per_member, curve_lr, garipov_lr_factor, mode_connectivity};
pub use curve_converged::{
    converged_under_schedule, stopped_falling, stopped_falling_at_the_end, EpochLoss, CONVERGED_FALL,
};
pub use curve_fit::{evaluate_curve, straight_middle, train_bezier_middle, CurveFit, CurveTraining};
pub use density::{slq_density, Slq, SpectralDensity};
pub use eigen::{power_iteration, rayleigh_quotients, top_eigenvalues, PowerIteration, TopEigen};
pub use graph_hvp::GraphedHvp;
pub use hvp::{HvpOperator, LossHvp};
pub use lanczos::{lanczos, lanczos_top_eigenvalues};
pub use llc::{estimate_llc, split_r_hat, LlcConfig, LlcError, LlcEstimate, LlcRow, SgldProblem};
pub use measure::{
    epochs_to_measure, measure_asked, measure_zoo, measuring_units, measuring_units_left, what_to_measure,
    MeasureError, MeasureReporter, MeasureRequest, MeasureSummary, Measurers, MeasuringUnit, MetricsAsk,
    NoMeasureReporter, Selection, SkippedModel,
};
pub use probe::{model_stream, pair_stream};
pub use trace::{hutchinson_trace, hutchinson_trace_replicated, Hutchinson, TraceEstimate, TraceTarget};
pub use tridiagonal::Tridiagonal;
pub use vector::{
    axpy_members, detach_members, flatten_members, from_f64s, member_dot, member_norm, member_numel,
    members_of, normalize_members, orthogonalize_members, scale_members, select_members, shallow, to_f64s,
    unflatten_members, zeros_like_members,
};
