//! The `[metrics]` section: which loss-landscape metrics `phasezoo metrics` computes and how.

use serde::{Deserialize, Serialize};

use crate::recipe::d100u32;
use crate::types::d100;
use crate::LlcConfig;

/// Loss-landscape metrics and their settings (docs/METRICS.md). Defaults follow the original
/// PTMZ scripts (PyHessian settings) where those apply to a model; PINN-specific choices are
/// marked.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Epochs to measure (empty = the last epoch). PTMZ used one "analysis epoch" per zoo.
    #[serde(default)]
    pub epochs: Vec<u32>,
    /// Hessian top eigenvalues and trace.
    #[serde(default)]
    pub hessian: HessianConfig,
    /// CKA between the seeds of a cell.
    #[serde(default)]
    pub cka: CkaConfig,
    /// Bezier mode connectivity between the seeds of a cell.
    #[serde(default)]
    pub curve: CurveConfig,
    /// The local learning coefficient by SGLD (`[metrics.llc]`); absent (default): not
    /// measured, and not written back, so specs without it serialize as before.
    #[serde(default, deserialize_with = "valid_llc", skip_serializing_if = "Option::is_none")]
    pub llc: Option<LlcConfig>,
}

/// Hessian settings (PyHessian defaults as used by PTMZ, SPEC §3.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HessianConfig {
    /// Top eigenvalues reported (PTMZ: 1).
    #[serde(default = "one_usize")]
    pub top_n: usize,
    /// Power-iteration cap (PyHessian: 100).
    #[serde(default = "d100")]
    pub max_iter: usize,
    /// Power-iteration relative tolerance (PyHessian: 1e-3).
    #[serde(default = "d1e_3")]
    pub tol: f64,
    /// Most trace probes per model (PyHessian: 100): the cap of PyHessian's rule, and of the
    /// target rule's residual probes (its sketch's 2 × `trace_sketch` products come on top).
    #[serde(default = "d100")]
    pub trace_max_iter: usize,
    /// PyHessian's trace tolerance, the relative change of the running mean that stops
    /// sampling (1e-3); used with `ptmz_compat` only.
    #[serde(default = "d1e_3")]
    pub trace_tol: f64,
    /// The trace's target accuracy: probes go on until the standard error is at most this
    /// fraction of |trace| (or `trace_max_iter` is reached). In (0, 1); default 0.02.
    #[serde(default = "d0_02", deserialize_with = "fraction")]
    pub trace_rel_std_err: f64,
    /// Residual probes before the target rule may stop (at least 2; default 30): with fewer,
    /// the standard error is too rough to stop on and the 95 % interval covers less than 95 %
    /// (docs/METRICS.md, "Trace").
    #[serde(default = "d30", deserialize_with = "at_least_two")]
    pub trace_min_probes: usize,
    /// Hutch++ sketch size: the trace on the span of H·S for this many probes S is taken
    /// exactly (2 × this many products) and only the rest is sampled; 0 = plain Hutchinson.
    /// Default 10 (docs/METRICS.md, "Trace"); each costs one parameter-sized vector of memory.
    #[serde(default = "d10usize")]
    pub trace_sketch: usize,
    /// Probe vectors of the stochastic Lanczos quadrature density (0 = no density).
    #[serde(default)]
    pub density_probes: usize,
    /// Lanczos steps per density probe.
    #[serde(default = "d30")]
    pub density_steps: usize,
    /// `true`: the trace by PyHessian's rule (`trace_tol`, `trace_max_iter`) as the PTMZ copy
    /// of PyHessian ran it, without abs() in the tolerance; the trace then has no stated
    /// accuracy. `false` (default): the target rule (`trace_rel_std_err`).
    #[serde(default)]
    pub ptmz_compat: bool,
    /// Seed of the random start and probe vectors.
    #[serde(default)]
    pub seed: u64,
}

fn one_usize() -> usize {
    1
}
fn d1e_3() -> f64 {
    1e-3
}
fn d30() -> usize {
    30
}
fn d0_02() -> f64 {
    0.02
}
fn d10usize() -> usize {
    10
}

/// A value in (0, 1) (serde cannot say it; `ZooSpec::parse` names the key).
fn fraction<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if v > 0.0 && v < 1.0 {
        Ok(v)
    } else {
        Err(serde::de::Error::custom(format!("{v} is not a fraction in (0, 1), e.g. 0.02")))
    }
}

/// A `[metrics.llc]` table whose settings pass [`LlcConfig::validate`] (its message names the
/// setting and the fix; `ZooSpec::parse` adds the key).
fn valid_llc<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<LlcConfig>, D::Error> {
    let cfg = LlcConfig::deserialize(d)?;
    cfg.validate().map_err(serde::de::Error::custom)?;
    Ok(Some(cfg))
}

/// A count of at least 2 (a standard error needs two samples).
fn at_least_two<'de, D: serde::Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let v = usize::deserialize(d)?;
    if v >= 2 {
        Ok(v)
    } else {
        Err(serde::de::Error::custom(format!("{v} is too few: a standard error needs at least 2 probes")))
    }
}

impl Default for HessianConfig {
    fn default() -> Self {
        Self {
            top_n: 1,
            max_iter: 100,
            tol: 1e-3,
            trace_max_iter: 100,
            trace_tol: 1e-3,
            trace_rel_std_err: 0.02,
            trace_min_probes: 30,
            trace_sketch: 10,
            density_probes: 0,
            density_steps: 30,
            ptmz_compat: false,
            seed: 0,
        }
    }
}

/// CKA settings (SPEC §3.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CkaConfig {
    /// `linear` (PTMZ) or `rbf`.
    #[serde(default)]
    pub kernel: CkaKernel,
    /// HSIC estimator: biased (PTMZ) or unbiased.
    #[serde(default)]
    pub unbiased: bool,
    /// Which representation: `output` (PTMZ: the model's outputs; the default) or `hidden`
    /// (last hidden layer; the PINN's default, `family_defaults`).
    #[serde(default)]
    pub layer: CkaLayer,
}

impl Default for CkaConfig {
    fn default() -> Self {
        Self { kernel: CkaKernel::Linear, unbiased: false, layer: CkaLayer::Output }
    }
}

/// CKA kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CkaKernel {
    /// Linear kernel.
    #[default]
    Linear,
    /// Gaussian kernel, bandwidth = median distance.
    Rbf,
}

/// Representation compared by CKA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CkaLayer {
    /// The model's outputs.
    #[default]
    Output,
    /// The last hidden layer's activations.
    Hidden,
}

/// Bezier-curve training and evaluation (Garipov et al. 2018; SPEC §3.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CurveConfig {
    /// Curve-training epochs (PTMZ: 10).
    #[serde(default = "d10u32")]
    pub epochs: u32,
    /// Steps per curve epoch (PINN: full-batch steps; PINN choice).
    #[serde(default = "d100u32")]
    pub steps_per_epoch: u32,
    /// SGD learning rate of the middle point (PTMZ: 0.1 for ResNets). PINN default 1e-2, chosen
    /// on the embedded zoo: 1e-3 barely moves the middle point in 1,000 steps, 5e-2 diverges at
    /// β = 30.
    #[serde(default = "d1e_2")]
    pub lr: f64,
    /// SGD momentum (PTMZ: 0.9).
    #[serde(default = "d0_9")]
    pub momentum: f64,
    /// L2 weight decay on the curve point (PTMZ: 5e-4; PINN default 0).
    #[serde(default)]
    pub weight_decay: f64,
    /// Evaluation points along the curve, ends included (PTMZ: 5).
    #[serde(default = "d5usize")]
    pub points: usize,
    /// `true` reproduces PTMZ's compounding learning-rate schedule.
    #[serde(default)]
    pub ptmz_compat: bool,
    /// Seed of the sampled curve positions.
    #[serde(default)]
    pub seed: u64,
    /// The bend's optimizer: `"sgd"` (PTMZ's, with `momentum`; the default) or `"adam"` (β 0.9,
    /// 0.999; `momentum` unused), for stiff losses where SGD's bend stops moving with the
    /// barrier still far above the endpoints' loss (docs/METRICS.md, "Curve diagnostics").
    #[serde(default)]
    pub optimizer: CurveOptimizer,
}

/// The optimizer that trains a Bézier curve's bend (`metrics.curve.optimizer`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CurveOptimizer {
    /// SGD with momentum (PTMZ, Garipov et al.).
    #[default]
    Sgd,
    /// Adam.
    Adam,
}

fn d1e_2() -> f64 {
    1e-2
}
fn d10u32() -> u32 {
    10
}
fn d0_9() -> f64 {
    0.9
}
fn d5usize() -> usize {
    5
}

impl Default for CurveConfig {
    fn default() -> Self {
        Self {
            epochs: 10,
            steps_per_epoch: 100,
            lr: 1e-2,
            momentum: 0.9,
            weight_decay: 0.0,
            points: 5,
            ptmz_compat: false,
            seed: 0,
            optimizer: CurveOptimizer::Sgd,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::ZooSpec;

    fn with(overrides: &[&str]) -> Result<ZooSpec, crate::SpecError> {
        let overrides: Vec<String> = overrides.iter().map(ToString::to_string).collect();
        ZooSpec::parse(crate::load::EMBEDDED_DEFAULT, "test", &overrides)
    }

    #[test]
    fn the_curve_optimizer_defaults_to_sgd_parses_adam_and_names_a_bad_value() {
        assert_eq!(with(&[]).unwrap().metrics.curve.optimizer, super::CurveOptimizer::Sgd);
        let adam = with(&["metrics.curve.optimizer=\"adam\""]).unwrap();
        assert_eq!(adam.metrics.curve.optimizer, super::CurveOptimizer::Adam);
        let err = with(&["metrics.curve.optimizer=\"lbfgs\""]).unwrap_err().to_string();
        assert!(err.contains("lbfgs") && err.contains("adam"), "{err}");
    }

    #[test]
    fn the_trace_keys_default_to_the_target_rule_and_parse() {
        let h = with(&[]).unwrap().metrics.hessian;
        assert_eq!((h.trace_rel_std_err, h.trace_min_probes, h.trace_sketch), (0.02, 30, 10));
        assert_eq!((h.trace_max_iter, h.trace_tol, h.ptmz_compat), (100, 1e-3, false));
        let set = ["metrics.hessian.trace_rel_std_err=0.05", "metrics.hessian.trace_min_probes=2"];
        let h = with(&[set[0], set[1], "metrics.hessian.trace_sketch=0"]).unwrap().metrics.hessian;
        assert_eq!((h.trace_rel_std_err, h.trace_min_probes, h.trace_sketch), (0.05, 2, 0));
    }

    /// `[metrics.llc]` is absent unless given (and then not written back), takes `--set` keys
    /// with the estimator's defaults for the rest, and a bad setting is named with its fix.
    #[test]
    fn the_llc_table_is_optional_defaulted_and_validated() {
        let plain = with(&[]).unwrap();
        assert_eq!(plain.metrics.llc, None);
        assert!(!plain.to_toml().contains("llc"), "an absent table is not serialized");
        let spec = with(&["metrics.llc.draws=8", "metrics.llc.nbeta=50.0"]).unwrap();
        let llc = spec.metrics.llc.clone().unwrap();
        let want = crate::LlcConfig { draws: 8, nbeta: Some(50.0), ..crate::LlcConfig::default() };
        assert_eq!(llc, want);
        let back = ZooSpec::parse(&spec.to_toml(), "back", &[]).unwrap();
        assert_eq!(back.metrics.llc, Some(want), "the table round-trips");
        let err = with(&["metrics.llc.draws=3"]).unwrap_err();
        let problem = err.problems().iter().find(|p| p.key.starts_with("metrics.llc")).expect("named");
        assert!(err.to_string().contains("at least 4 draws"), "{err} / {problem:?}");
        let err = with(&["metrics.llc.eps=1e-4"]).unwrap_err();
        assert!(err.to_string().contains("eps"), "{err}");
    }

    #[test]
    fn a_trace_target_outside_its_range_is_named() {
        for bad in
            ["trace_rel_std_err=0", "trace_rel_std_err=1.5", "trace_rel_std_err=nan", "trace_min_probes=1"]
        {
            let err = with(&[&format!("metrics.hessian.{bad}")]).unwrap_err();
            let key = bad.split('=').next().unwrap();
            assert!(err.problems().iter().any(|p| p.key == format!("metrics.hessian.{key}")), "{bad}: {err}");
        }
    }
}
