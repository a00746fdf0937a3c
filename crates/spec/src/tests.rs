//! Spec behaviour: every preset parses, errors name the key, overrides type like the file.

use crate::{Plan, SpecError, ZooSpec};

fn parse(text: &str, overrides: &[&str]) -> Result<ZooSpec, SpecError> {
    let overrides: Vec<String> = overrides.iter().map(|s| (*s).to_string()).collect();
    ZooSpec::parse(text, "test.toml", &overrides)
}

fn default_with(overrides: &[&str]) -> Result<ZooSpec, SpecError> {
    parse(crate::EMBEDDED_DEFAULT, overrides)
}

fn problem_keys(err: &SpecError) -> Vec<String> {
    err.problems().iter().map(|p| p.key.clone()).collect()
}

#[test]
fn every_preset_parses() {
    for (name, text) in [
        ("convection-small", crate::EMBEDDED_DEFAULT),
        ("convection-paper", include_str!("../../../examples/convection-paper.toml")),
        ("fashion-resnet18-small", include_str!("../../../examples/fashion-resnet18-small.toml")),
    ] {
        let spec = parse(text, &[]).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(spec.name, name);
    }
    let paper = parse(include_str!("../../../examples/convection-paper.toml"), &[]).unwrap();
    assert_eq!(paper.grid.len(), 700, "the PTMZ PINN zoo has 700 models");
}

#[test]
fn unknown_key_is_named() {
    let err = default_with(&["train.learning_rate=0.1"]).unwrap_err();
    assert_eq!(problem_keys(&err), ["train.learning_rate"]);
    let text = err.to_string();
    assert!(text.contains("test.toml"), "{text}");
    assert!(text.contains("unknown field `learning_rate`"), "{text}");
    assert!(text.contains("hint:"), "{text}");
}

#[test]
fn unknown_key_inside_a_tagged_section_is_named() {
    let err = default_with(&["model.hiden=[3]"]).unwrap_err();
    assert!(err.to_string().contains("unknown field `hiden`"), "{err}");
    assert!(problem_keys(&err)[0].starts_with("model"), "{err}");
}

#[test]
fn wrong_type_is_named_with_its_path() {
    let err = default_with(&["train.epochs=\"many\""]).unwrap_err();
    assert_eq!(problem_keys(&err), ["train.epochs"]);
    assert!(err.to_string().contains("invalid type: string \"many\""), "{err}");
}

#[test]
fn empty_axis_is_named() {
    let err = default_with(&["grid.load.values=[]"]).unwrap_err();
    assert_eq!(problem_keys(&err), ["grid.load.values"]);
    assert!(err.to_string().contains("is empty"), "{err}");
}

#[test]
fn negative_lr_is_named_in_the_file_and_on_the_axis() {
    let err = default_with(&["train.lr=-0.1"]).unwrap_err();
    assert_eq!(problem_keys(&err), ["train.lr"]);
    assert!(err.to_string().contains("must be > 0"), "{err}");

    let err = default_with(&["grid.temperature.values=[1e-3, -1e-2]"]).unwrap_err();
    assert_eq!(problem_keys(&err), ["grid.temperature.values[1]"]);
    assert!(err.to_string().contains("hint: use a positive value"), "{err}");
}

#[test]
fn axis_key_must_exist_in_the_spec() {
    let err = default_with(&["grid.load.key=\"problem.gamma\""]).unwrap_err();
    assert_eq!(problem_keys(&err), ["grid.load.key"]);
    assert!(err.to_string().contains("unknown field `gamma`"), "{err}");
}

#[test]
fn every_problem_is_reported_at_once() {
    let err = default_with(&["train.lr=0", "grid.seeds=[]", "train.epochs=0"]).unwrap_err();
    let keys = problem_keys(&err);
    for key in ["train.lr", "grid.seeds", "train.epochs"] {
        assert!(keys.contains(&key.to_string()), "{key} missing from {keys:?}");
    }
}

#[test]
fn syntax_errors_name_the_file() {
    let err = parse("name = [", &[]).unwrap_err();
    assert!(matches!(err, SpecError::Syntax { .. }));
    assert!(err.to_string().starts_with("zoo spec test.toml: not valid TOML"), "{err}");
}

#[test]
fn malformed_override_says_how_to_write_one() {
    let err = default_with(&["train.lr"]).unwrap_err();
    assert!(err.to_string().contains("hint: write --set train.lr=1e-3"), "{err}");
}

#[test]
fn overrides_set_any_key_and_bare_words_are_strings() {
    let spec = default_with(&["train.epochs=3", "run.device=cpu", "grid.seeds=[7]"]).unwrap();
    assert_eq!(spec.train.epochs, 3);
    assert_eq!(spec.run.device, "cpu");
    assert_eq!(spec.grid.seeds, [7]);
}

#[test]
fn resolved_spec_round_trips_through_toml() {
    let spec = default_with(&[]).unwrap();
    let again = parse(&spec.to_toml(), &[]).unwrap();
    assert_eq!(spec, again);
}

#[test]
fn plan_applies_axes_and_ids_are_stable_and_distinct() {
    let spec = default_with(&[]).unwrap();
    let plan = Plan::new(&spec).unwrap();
    assert_eq!(plan.models.len(), spec.grid.len());
    let m = &plan.models[plan.models.len() - 1];
    let crate::ProblemConfig::Convection(c) = &m.config.problem else { panic!("convection") };
    assert_eq!(c.beta, *spec.grid.load.values.last().unwrap());
    assert_eq!(m.config.train.lr, *spec.grid.temperature.values.last().unwrap());
    let mut ids: Vec<_> = plan.models.iter().map(|m| m.id().clone()).collect();
    assert_eq!(Plan::new(&spec).unwrap(), plan, "planning is deterministic");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), plan.models.len(), "ids are distinct");
}

#[test]
fn execution_settings_do_not_change_model_ids() {
    let a = Plan::new(&default_with(&[]).unwrap()).unwrap();
    let b =
        Plan::new(&default_with(&["run.device=cpu", "checkpoint.every=1", "run.max_population=3"]).unwrap())
            .unwrap();
    let c = Plan::new(&default_with(&["train.epochs=21"]).unwrap()).unwrap();
    assert_eq!(a.models[0].id(), b.models[0].id());
    assert_ne!(a.models[0].id(), c.models[0].id());
}

#[test]
fn checkpoint_policy_keeps_first_every_listed_and_last() {
    let p = crate::CheckpointPolicy { every: 5, epochs: vec![7] };
    let kept: Vec<u32> = (0..=12).filter(|&e| p.keeps(e, 12)).collect();
    assert_eq!(kept, [0, 5, 7, 10, 12]);
}

const FASHION: &str = include_str!("../../../examples/fashion-resnet18-small.toml");

#[test]
fn image_grid_sets_integer_widths_and_batch_sizes() {
    let spec = parse(FASHION, &[]).unwrap();
    let plan = Plan::new(&spec).unwrap();
    assert_eq!(plan.models.len(), 9);
    let m = &plan.models[plan.models.len() - 1];
    let crate::ModelConfig::Resnet18(r) = &m.config.model else { panic!("resnet18") };
    assert_eq!(u64::from(r.width) as f64, *spec.grid.load.values.last().unwrap());
    assert_eq!(f64::from(m.config.train.batch_size), *spec.grid.temperature.values.last().unwrap());
    // A non-integer width on the axis is named.
    let err = parse(FASHION, &["grid.load.values=[4.5]"]).unwrap_err();
    assert_eq!(problem_keys(&err)[0], "grid.load.key", "{err}");
    assert!(err.to_string().contains("floating point `4.5`, expected u32"), "{err}");
}

#[test]
fn image_spec_errors_name_the_key_and_the_fix() {
    let err = parse(FASHION, &["problem.dataset=\"mnist\""]).unwrap_err();
    assert_eq!(problem_keys(&err), ["problem.dataset"]);
    assert!(err.to_string().contains("fashion-mnist, cifar10"), "{err}");
    let err = parse(FASHION, &["model={architecture=\"mlp\"}", "grid.load.key=\"train.lr\""]).unwrap_err();
    assert_eq!(problem_keys(&err), ["model.architecture"], "{err}");
    let err = parse(FASHION, &["train.batch_size=0", "grid.temperature.key=\"train.lr\""]).unwrap_err();
    assert!(problem_keys(&err).contains(&"train.batch_size".to_string()), "{err}");
    let err = default_with(&["train.optimizer=\"sgd\""]).unwrap_err();
    assert_eq!(problem_keys(&err), ["train.optimizer"], "{err}");
    let err = parse(FASHION, &["train.optimizer=\"adam\""]).unwrap_err();
    assert_eq!(problem_keys(&err), ["train.optimizer"], "{err}");
    assert!(err.to_string().contains("optimizer = \"sgd\""), "{err}");
}

#[test]
fn vit_width_must_be_a_multiple_of_the_head_dim() {
    let err = parse(
        FASHION,
        &[
            "model.architecture=\"vit\"",
            "model.width=40",
            "grid.load.key=\"model.depth\"",
            "grid.load.values=[2]",
        ],
    )
    .unwrap_err();
    assert_eq!(problem_keys(&err), ["model.width"], "{err}");
    assert!(err.to_string().contains("head_dim = 16"), "{err}");
}

#[test]
fn keys_added_after_v1_keep_the_pinn_model_ids() {
    // New train keys at their defaults are neither written nor hashed: a PINN zoo made before
    // they existed keeps its model ids (this one was computed by the v1 code).
    let spec = default_with(&[]).unwrap();
    let plan = Plan::new(&spec).unwrap();
    let text = serde_json::to_string(&plan.models[0].config.train).unwrap();
    for key in ["momentum", "batch_size", "micro_batch", "precision", "channels_last", "ptmz_compat"] {
        assert!(!text.contains(key), "{key} in {text}");
    }
}

#[test]
fn every_paper_spec_parses_with_the_ptmz_grid_sizes() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/paper");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let spec = ZooSpec::from_file(&path, &[]).unwrap_or_else(|e| panic!("{e}"));
        let name = path.to_string_lossy();
        let expected = if name.contains("-vit") {
            147
        } else if name.contains("-gpt2") {
            264
        } else {
            192
        };
        assert_eq!(spec.grid.len(), expected, "{}", path.display());
        assert_eq!(Plan::new(&spec).unwrap().models.len(), expected);
        seen += 1;
    }
    assert_eq!(seen, 11, "R18 and R50 on four datasets, ViT on two, GPT-2 on OpenWebText");
}

#[test]
fn run_layout_parses_and_leaves_model_ids_alone() {
    let ids = |overrides: &[&str]| -> Vec<String> {
        let spec = default_with(overrides).unwrap();
        Plan::new(&spec).unwrap().models.iter().map(|m| m.id().to_string()).collect()
    };
    let spec = default_with(&["run.layout=\"contiguous\""]).unwrap();
    assert_eq!(spec.run.layout, crate::Layout::Contiguous);
    assert_eq!(default_with(&[]).unwrap().run.layout, crate::Layout::Auto);
    assert_eq!(ids(&["run.layout=\"channels_last\""]), ids(&[]));
    let err = default_with(&["run.layout=\"nhwc\""]).unwrap_err();
    assert_eq!(problem_keys(&err), ["run.layout"], "{err}");
}
