//! The architecture's checks: its own fields, and that it fits the problem (which
//! architectures each problem kind trains).

use crate::error::Problem;
use crate::{ModelConfig, ProblemConfig, ZooSpec};

/// The architecture: its own fields, and that it fits the problem.
pub(crate) fn validate_model(spec: &ZooSpec) -> Vec<Problem> {
    let mut problems = Vec::new();
    match &spec.model {
        ModelConfig::Mlp(m) => {
            if m.hidden.is_empty() || m.hidden.contains(&0) {
                problems.push(
                    Problem::new("model.hidden", "needs at least one layer, each of width >= 1")
                        .hint("e.g. hidden = [50, 50, 50, 50]"),
                );
            }
        }
        ModelConfig::Resnet18(r) | ModelConfig::Resnet50(r) => {
            if r.width == 0 {
                problems.push(Problem::new("model.width", "must be at least 1").hint("e.g. width = 64"));
            }
        }
        ModelConfig::Gpt2(g) => problems.extend(match &spec.problem {
            // The task fixes the sequence and the vocabulary: the checks of a language model's
            // context and vocabulary do not apply.
            ProblemConfig::ModArith(m) => crate::modarith::validate_transformer(g, m),
            _ => crate::lm::validate_gpt2(g),
        }),
        ModelConfig::Vit(v) => {
            if v.width == 0 || v.head_dim == 0 || v.width % v.head_dim != 0 {
                problems.push(
                    Problem::new(
                        "model.width",
                        format!("{} is not a positive multiple of model.head_dim = {}", v.width, v.head_dim),
                    )
                    .hint("heads = width / head_dim: e.g. width = 128 with head_dim = 16"),
                );
            }
            for (key, n) in [("depth", v.depth), ("patch_size", v.patch_size), ("mlp_ratio", v.mlp_ratio)] {
                if n == 0 {
                    problems.push(Problem::new(format!("model.{key}"), "must be at least 1"));
                }
            }
        }
    }
    let fits = matches!(
        (&spec.model, &spec.problem),
        (ModelConfig::Mlp(_), ProblemConfig::Convection(_))
            | (
                ModelConfig::Resnet18(_) | ModelConfig::Resnet50(_) | ModelConfig::Vit(_),
                ProblemConfig::Image(_)
            )
            | (ModelConfig::Gpt2(_), ProblemConfig::Text(_))
            | (ModelConfig::Mlp(_) | ModelConfig::Gpt2(_), ProblemConfig::ModArith(_))
    );
    if !fits {
        problems.push(
            Problem::new(
                "model.architecture",
                format!("`{}` cannot be trained on problem.kind = {}", spec.model.architecture(), problem_kind(spec)),
            )
            .hint("the convection PINN uses architecture = \"mlp\"; image problems use resnet18, resnet50 or vit; text problems use gpt2; modular arithmetic uses mlp or gpt2"),
        );
    }
    problems
}

fn problem_kind(spec: &ZooSpec) -> &'static str {
    match spec.problem {
        crate::ProblemConfig::Convection(_) => "\"convection\"",
        crate::ProblemConfig::Image(_) => "\"image\"",
        crate::ProblemConfig::Text(_) => "\"text\"",
        crate::ProblemConfig::ModArith(_) => "\"modarith\"",
    }
}
