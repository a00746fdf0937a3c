//! Defaults that depend on the problem's family, filled into the raw document before it is typed,
//! so that the resolved `zoo.toml` states them and a key the user wrote always wins.
//!
//! serde's per-field defaults cannot see `problem.kind`; the metrics and phase rules of an image
//! zoo differ from a PINN's (SPEC §3.3, §4): Bézier curves are trained with PTMZ's SGD lr 0.1 and
//! weight decay 5e-4 (the PINN's 1e-2 and 0 leave an image curve's bend where it started), and the
//! phase rule reads mc of train error in percentage points with a dead zone of 1.5 points (SPEC §4
//! "ε ≈ 1–2 percentage points"), where a PINN reads mc of train loss with a dead zone of 10 % of
//! the cell's loss (its losses span 7e-5 … 0.5: no absolute ε fits every cell). A PINN's CKA
//! compares its last hidden layer: linear CKA of its one-dimensional output is the squared
//! correlation of the two seeds' predictions, which two seeds collapsed onto the same wrong
//! function share (issue 23), so it cannot split IV-A from IV-B. A language model's losses are
//! nats per token (2 … 11 for GPT-2 on text): its high-loss threshold is 1.25 × the zoo's best
//! cell and its dead zone 5 % of a cell's loss.

use toml::{Table, Value};

use crate::load::{get_key, set_key};

/// `(key, value)` defaults of each `problem.kind` that has its own.
fn defaults_of(kind: &str) -> &'static [(&'static str, FamilyDefault)] {
    match kind {
        "image" => &[
            ("metrics.curve.lr", FamilyDefault::Float(0.1)),
            ("metrics.curve.weight_decay", FamilyDefault::Float(5e-4)),
            ("phases.mc_metric", FamilyDefault::Str("mc_train_error")),
            ("phases.mc_epsilon", FamilyDefault::Float(1.5)),
        ],
        "convection" => &[
            ("phases.mc_epsilon_relative", FamilyDefault::Float(0.1)),
            ("metrics.cka.layer", FamilyDefault::Str("hidden")),
        ],
        // A language model's loss is nats per token, never near the absolute 1e-3: "high" is
        // relative to the zoo's best cell, and a barrier must exceed 5 % of the endpoints' loss.
        "text" => &[
            ("phases.train_loss_relative", FamilyDefault::Float(1.25)),
            ("phases.mc_epsilon_relative", FamilyDefault::Float(0.05)),
        ],
        _ => &[],
    }
}

/// A default value (TOML values are not const-constructible).
#[derive(Debug, Clone, Copy)]
enum FamilyDefault {
    Float(f64),
    Str(&'static str),
}

impl FamilyDefault {
    fn value(self) -> Value {
        match self {
            Self::Float(x) => Value::Float(x),
            Self::Str(s) => Value::String(s.to_string()),
        }
    }
}

/// Fill the family's defaults into `table` where the key is absent. A malformed document (say
/// `metrics = 3`) is left as it is: typing it reports the problem with its key.
pub(crate) fn fill_family_defaults(table: &mut Table) {
    let Some(kind) = get_key(table, "problem.kind").and_then(Value::as_str).map(str::to_string) else {
        return;
    };
    for (key, default) in defaults_of(&kind) {
        if get_key(table, key).is_none() {
            let _ = set_key(table, key, default.value());
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{CkaLayer, ZooSpec};

    const IMAGE: &str = include_str!("../../../examples/fashion-resnet18-small.toml");

    #[test]
    fn an_image_zoo_gets_ptmz_curves_and_the_train_error_rule_unless_it_says_otherwise() {
        let spec = ZooSpec::parse(IMAGE, "t", &[]).unwrap();
        assert_eq!((spec.metrics.curve.lr, spec.metrics.curve.weight_decay), (0.1, 5e-4));
        assert_eq!((spec.phases.mc_metric.as_str(), spec.phases.mc_epsilon), ("mc_train_error", 1.5));
        let own = ["metrics.curve.lr=0.05".to_string(), "phases.mc_epsilon=2.0".to_string()];
        let spec = ZooSpec::parse(IMAGE, "t", &own).unwrap();
        assert_eq!((spec.metrics.curve.lr, spec.phases.mc_epsilon), (0.05, 2.0));
        // The resolved text states the defaults, so a zoo keeps them if the defaults change.
        let again = ZooSpec::parse(&spec.to_toml(), "zoo.toml", &[]).unwrap();
        assert_eq!(again.metrics.curve.weight_decay, 5e-4);
    }

    #[test]
    fn a_pinn_zoo_keeps_its_own_defaults() {
        let spec = ZooSpec::embedded_default().unwrap();
        assert_eq!((spec.metrics.curve.lr, spec.metrics.curve.weight_decay), (1e-2, 0.0));
        assert_eq!(spec.phases.mc_metric, "mc_train_loss");
        assert_eq!(spec.phases.mc_epsilon_relative, Some(0.1));
    }

    #[test]
    fn a_language_model_zoo_judges_its_losses_relative_to_their_scale() {
        let text = include_str!("../../../examples/shakespeare-gpt2-small.toml");
        let spec = ZooSpec::parse(text, "t", &[]).unwrap();
        assert_eq!(spec.phases.train_loss_relative, Some(1.25));
        assert_eq!(
            (spec.phases.mc_metric.as_str(), spec.phases.mc_epsilon_relative),
            ("mc_train_loss", Some(0.05))
        );
        let own = ["phases.train_loss_relative=2.0".to_string()];
        assert_eq!(ZooSpec::parse(text, "t", &own).unwrap().phases.train_loss_relative, Some(2.0));
    }

    #[test]
    fn a_pinn_compares_hidden_layers_unless_its_spec_names_the_output() {
        let spec = ZooSpec::embedded_default().unwrap();
        assert_eq!(spec.metrics.cka.layer, CkaLayer::Hidden);
        let own = ["metrics.cka.layer=\"output\"".to_string()];
        let spec = ZooSpec::parse(crate::EMBEDDED_DEFAULT, "t", &own).unwrap();
        assert_eq!(spec.metrics.cka.layer, CkaLayer::Output);
        // A zoo.toml written before the default changed states `output` and keeps it.
        let again = ZooSpec::parse(&spec.to_toml(), "zoo.toml", &[]).unwrap();
        assert_eq!(again.metrics.cka.layer, CkaLayer::Output);
        let image = ZooSpec::parse(IMAGE, "t", &[]).unwrap();
        assert_eq!(image.metrics.cka.layer, CkaLayer::Output);
    }
}
