//! What a population needs in memory, estimated from the spec alone, so that a zoo too large for
//! its device is refused before anything is allocated or written (issue 17: a spec with
//! `collocation_points = 1e12` used to abort the process mid-allocation and leave a folder
//! behind).
//!
//! The estimates are upper-bound-minded rules of thumb, not measurements: they exist to stop
//! sizes that are off by orders of magnitude, with a message that names the key to shrink.

use crate::{DType, ModelConfig, Plan, ProblemConfig, ResolvedModel};

/// Bytes one model needs while it trains: parameters with gradient and optimizer state, its
/// data, and the activations its step keeps for the backward pass.
#[must_use]
pub fn member_bytes(model: &ResolvedModel) -> f64 {
    match (&model.model, &model.problem) {
        (ModelConfig::Mlp(mlp), ProblemConfig::Convection(c)) => {
            let bytes = if model.train.dtype == DType::Float64 { 8.0 } else { 4.0 };
            // Inputs (x, t), the hidden layers, one output.
            let widths: Vec<f64> =
                std::iter::once(2.0).chain(mlp.hidden.iter().map(|&h| h as f64)).chain([1.0]).collect();
            let params: f64 = widths.windows(2).map(|w| (w[0] + 1.0) * w[1]).sum();
            let units: f64 = widths.iter().sum();
            let widest = widths.iter().copied().fold(0.0, f64::max);
            let train_points =
                c.collocation_points as f64 + c.initial_points as f64 + 2.0 * c.boundary_points as f64;
            let eval_points = c.eval_x as f64 * c.eval_t as f64;
            // Weights, gradient and Adam's two moments; every unit of every point with its two
            // input derivatives and their adjoints (×8, the double backward's tape); the
            // evaluation grid's forward pass, which keeps two layers at a time.
            bytes * (4.0 * params + 8.0 * train_points * units + 2.0 * eval_points * widest)
        }
        (ModelConfig::Resnet18(r) | ModelConfig::Resnet50(r), _) => {
            // ResNet-18 at width 64 has 11.2M parameters, ResNet-50 23.5M, growing with width²;
            // activations of a 32×32 CIFAR image at width 64 are about 2.5M floats (×2 kept for
            // the backward), growing with width.
            let w = f64::from(r.width) / 64.0;
            let base = if matches!(model.model, ModelConfig::Resnet50(_)) { 23.5e6 } else { 11.2e6 };
            let activations = 5.0e6 * w * (if base > 20e6 { 3.0 } else { 1.0 });
            4.0 * (4.0 * base * w * w + activations * f64::from(model.train.batch_size))
        }
        (ModelConfig::Vit(v), _) => {
            let (d, depth) = (f64::from(v.width), f64::from(v.depth));
            let params = 12.0 * depth * d * d;
            // Tokens of a 64×64 image at the smallest patch, a dozen activations of width d each.
            let tokens = (64.0 / f64::from(v.patch_size.max(1))).powi(2) + 1.0;
            4.0 * (4.0 * params + 12.0 * depth * tokens * d * f64::from(model.train.batch_size))
        }
        (ModelConfig::Gpt2(g), ProblemConfig::ModArith(m)) => {
            crate::modarith::transformer_member_bytes(model, g, m)
        }
        (ModelConfig::Gpt2(g), _) => {
            // Weights, gradient and AdamW's two moments in float32. Activations kept for the
            // backward per token of a (micro-)batch: about 34·d values per block (Korthikanti
            // et al. 2022, eq. 2, whose 5·heads·T term of attention scores the fused
            // attention kernel does not keep) and three of the vocabulary (logits, their
            // softmax and its gradient), float32.
            let (d, depth, v) = (f64::from(g.model_dim), f64::from(g.depth), f64::from(g.vocab_size));
            let t = &model.train;
            let rows = if t.micro_batch > 0 { t.micro_batch.min(t.batch_size) } else { t.batch_size };
            let tokens = f64::from(rows) * f64::from(g.context);
            4.0 * (4.0 * g.parameter_count() + tokens * (34.0 * d * depth + 3.0 * v))
        }
        (ModelConfig::Mlp(mlp), ProblemConfig::ModArith(m)) => crate::modarith::member_bytes(model, mlp, m),
        // A combination validation refuses; nothing to add.
        (ModelConfig::Mlp(_), ProblemConfig::Image(_) | ProblemConfig::Text(_)) => 0.0,
    }
}

/// The largest memory any one training unit of `plan` needs: a population of up to
/// `run.max_population` PINN members (0 = all), or one image model.
#[must_use]
pub fn largest_unit_bytes(plan: &Plan, max_population: usize) -> f64 {
    let mut per_member: Vec<f64> = plan.models.iter().map(|m| member_bytes(&m.config)).collect();
    let stacked = plan
        .models
        .iter()
        .any(|m| matches!(m.config.problem, ProblemConfig::Convection(_) | ProblemConfig::ModArith(_)));
    if !stacked {
        return per_member.iter().copied().fold(0.0, f64::max);
    }
    per_member.sort_by(|a, b| b.total_cmp(a));
    let k = if max_population == 0 { per_member.len() } else { max_population.min(per_member.len()) };
    per_member[..k].iter().sum()
}

/// Refuse a plan whose largest training unit needs more than `available` bytes of `what` (e.g.
/// "host memory", "cuda:0"). The message names the sizes and the keys that shrink them.
///
/// # Errors
/// A message with a hint, when the estimate exceeds what is available.
pub fn check_fits(plan: &Plan, max_population: usize, available: f64, what: &str) -> Result<(), String> {
    let need = largest_unit_bytes(plan, max_population);
    if need <= available {
        return Ok(());
    }
    Err(too_large(plan, max_population, &format!("more than the {} of {what}", human(available))))
}

/// The refusal of a plan too large for a device: the estimate, `why` it does not fit, and the
/// keys that shrink it.
#[must_use]
pub fn too_large(plan: &Plan, max_population: usize, why: &str) -> String {
    let hint = match plan.models.first().map(|m| &m.config.problem) {
        Some(ProblemConfig::Convection(_)) => {
            "shrink model.hidden, problem.collocation_points or problem.eval_x × eval_t, or set \
             run.max_population to train fewer models at once"
        }
        Some(ProblemConfig::ModArith(_)) => {
            "shrink problem.p or the model (model.hidden, problem.embed_dim; model.model_dim for \
             a transformer), or set run.max_population to train fewer models at once"
        }
        Some(ProblemConfig::Text(_)) => {
            "shrink model.model_dim, model.context or train.batch_size (or set train.micro_batch)"
        }
        _ => "shrink model.width or train.batch_size (or set train.micro_batch)",
    };
    format!(
        "the zoo needs about {} at once, {why}\n  hint: {hint}",
        human(largest_unit_bytes(plan, max_population))
    )
}

/// Total memory of this machine (`MemTotal` of /proc/meminfo), if it can be read.
#[must_use]
pub fn host_memory_bytes() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0)
}

/// Bytes as GiB/TiB/… with two significant decimals.
fn human(bytes: f64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = bytes;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < units.len() {
        v /= 1024.0;
        i += 1;
    }
    format!("{v:.2} {}", units[i])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ZooSpec;

    fn plan(overrides: &[&str]) -> Plan {
        let o: Vec<String> = overrides.iter().map(|s| (*s).to_string()).collect();
        Plan::new(&ZooSpec::parse(crate::EMBEDDED_DEFAULT, "t", &o).unwrap()).unwrap()
    }

    #[test]
    fn the_embedded_zoo_fits_a_laptop_and_absurd_sizes_do_not() {
        let laptop = 8.0 * 1024.0 * 1024.0 * 1024.0;
        assert!(check_fits(&plan(&[]), 0, laptop, "host memory").is_ok());
        let err = check_fits(&plan(&["problem.collocation_points=1000000000000"]), 0, laptop, "host memory")
            .unwrap_err();
        assert!(
            err.contains("more than the 8.00 GiB of host memory") && err.contains("collocation_points"),
            "{err}"
        );
        assert!(check_fits(&plan(&["model.hidden=[1000000, 1000000]"]), 0, laptop, "host memory").is_err());
    }

    #[test]
    fn the_pinn_estimate_counts_parameters_and_points_per_member() {
        let p = plan(&[
            "model.hidden=[10]",
            "grid.seeds=[0]",
            "grid.load.values=[1]",
            "grid.temperature.values=[1e-3]",
        ]);
        let m = &p.models[0].config;
        // float32: params (2+1)·10 + (10+1)·1 = 41; units 2 + 10 + 1 = 13, the widest 10;
        // points 1000 + 256 + 200 = 1456 train, 256·100 eval.
        let want = 4.0 * (4.0 * 41.0 + 8.0 * 1456.0 * 13.0 + 2.0 * 25_600.0 * 10.0);
        assert_eq!(member_bytes(m), want);
        // A population is the sum of its members; max_population bounds it.
        let all = plan(&[]);
        let one = member_bytes(&all.models[0].config);
        assert_eq!(largest_unit_bytes(&all, 0), one * all.models.len() as f64);
        assert_eq!(largest_unit_bytes(&all, 3), one * 3.0);
    }

    #[test]
    fn the_gpt2_estimate_counts_adamw_state_and_the_micro_batch_activations() {
        let text = include_str!("../../../examples/shakespeare-gpt2-small.toml");
        let o = |v: &[&str]| v.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
        let spec = ZooSpec::parse(text, "t", &o(&["grid.load.values=[64]", "grid.temperature.values=[32]"]));
        let plan = Plan::new(&spec.unwrap()).unwrap();
        let m = &plan.models[0].config;
        let ModelConfig::Gpt2(g) = &m.model else { panic!("gpt2") };
        let tokens = 32.0 * f64::from(g.context);
        let want =
            4.0 * (4.0 * g.parameter_count() + tokens * (34.0 * 64.0 * f64::from(g.depth) + 3.0 * 50257.0));
        assert_eq!(member_bytes(m), want);
        // A micro-batch bounds the activations.
        let mut micro = m.clone();
        micro.train.micro_batch = 8;
        assert!(member_bytes(&micro) < want);
    }

    #[test]
    fn host_memory_is_read_on_linux() {
        if std::path::Path::new("/proc/meminfo").exists() {
            assert!(host_memory_bytes().unwrap() > 1e8);
        }
    }
}
