//! Reading a spec: TOML text → raw table → overrides → typed [`ZooSpec`] → validation.
//!
//! Overrides are applied to the raw table, before typing, so `--set` values pass exactly the
//! same checks as values written in the file (one seam, no second config path).

use std::path::Path;

use toml::{Table, Value};

use crate::error::{Problem, SpecError};
use crate::types::ZooSpec;

/// The embedded default spec (the small PINN zoo), `examples/convection-small.toml`.
pub const EMBEDDED_DEFAULT: &str = include_str!("../../../examples/convection-small.toml");
/// How the embedded default is named in messages.
pub const EMBEDDED_DEFAULT_NAME: &str = "<embedded default: examples/convection-small.toml>";

impl ZooSpec {
    /// The embedded default spec.
    ///
    /// # Errors
    /// Never for the shipped file (a test parses it); the signature matches [`ZooSpec::parse`].
    pub fn embedded_default() -> Result<Self, SpecError> {
        Self::parse(EMBEDDED_DEFAULT, EMBEDDED_DEFAULT_NAME, &[])
    }

    /// Read and validate a spec file, applying `key=value` overrides.
    ///
    /// # Errors
    /// The file is unreadable, not TOML, an override is malformed, or the spec is invalid.
    pub fn from_file(path: &Path, overrides: &[String]) -> Result<Self, SpecError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| SpecError::Read { path: path.to_owned(), source })?;
        Self::parse(&text, &path.display().to_string(), overrides)
    }

    /// The spec file at `path`, or the embedded default when there is none (what `train` and
    /// `submit` read), with `key=value` overrides applied.
    ///
    /// # Errors
    /// See [`ZooSpec::from_file`].
    pub fn from_file_or_default(path: Option<&Path>, overrides: &[String]) -> Result<Self, SpecError> {
        match path {
            Some(path) => Self::from_file(path, overrides),
            None => Self::parse(EMBEDDED_DEFAULT, EMBEDDED_DEFAULT_NAME, overrides),
        }
    }

    /// Parse and validate spec text; `origin` names it in errors.
    ///
    /// # Errors
    /// See [`ZooSpec::from_file`].
    pub fn parse(text: &str, origin: &str, overrides: &[String]) -> Result<Self, SpecError> {
        let mut table: Table = text.parse().map_err(|e: toml::de::Error| SpecError::Syntax {
            origin: origin.into(),
            message: e.to_string(),
        })?;
        for arg in overrides {
            let (key, value) = parse_override(arg)?;
            set_key(&mut table, &key, value)
                .map_err(|message| SpecError::Override { arg: arg.clone(), message })?;
        }
        Self::from_table(table, origin)
    }

    /// Type and validate a raw table.
    ///
    /// # Errors
    /// [`SpecError::Invalid`] with every problem found.
    pub fn from_table(mut table: Table, origin: &str) -> Result<Self, SpecError> {
        crate::family_defaults::fill_family_defaults(&mut table);
        let invalid = |problems| SpecError::Invalid { origin: origin.into(), problems };
        let spec = type_table(table.clone()).map_err(|p| invalid(vec![p]))?;
        let problems = validate(&spec, &table);
        if problems.is_empty() {
            Ok(spec)
        } else {
            Err(invalid(problems))
        }
    }

    /// The spec as TOML text (the resolved `zoo.toml` of a zoo directory).
    ///
    /// # Panics
    /// Never: every field serializes to TOML.
    #[must_use]
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a ZooSpec always serializes")
    }
}

/// Deserialize a table, turning serde's error into a [`Problem`] that names the key.
pub(crate) fn type_table(table: Table) -> Result<ZooSpec, Problem> {
    serde_path_to_error::deserialize(Value::Table(table)).map_err(|e| {
        let key = e.path().to_string();
        let key = if key == "." { String::new() } else { key };
        let message = e.into_inner().message().to_string();
        let hint = if message.starts_with("unknown field") {
            Some("check the spelling; docs/FORMAT.md lists every key".to_string())
        } else if message.starts_with("invalid type") || message.starts_with("invalid value") {
            Some("write a value of the type named after `expected`".to_string())
        } else if message.starts_with("missing field") {
            Some("add the key; examples/convection-small.toml shows every section".to_string())
        } else {
            None
        };
        Problem { key, message, hint }
    })
}

/// Split `a.b.c=value` into its key and TOML value (a bare word is taken as a string).
///
/// # Errors
/// No `=`, or an empty key.
pub fn parse_override(arg: &str) -> Result<(String, Value), SpecError> {
    let err = |message: &str| SpecError::Override { arg: arg.into(), message: message.into() };
    let (key, raw) = arg.split_once('=').ok_or_else(|| err("expected key=value"))?;
    let key = key.trim();
    if key.is_empty() || key.split('.').any(str::is_empty) {
        return Err(err("the key is empty or has an empty segment"));
    }
    let raw = raw.trim();
    let value = format!("v = {raw}")
        .parse::<Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(raw.to_string()));
    Ok((key.to_string(), value))
}

/// Set a dotted key in a table, creating intermediate tables.
pub(crate) fn set_key(table: &mut Table, key: &str, value: Value) -> Result<(), String> {
    let mut segments: Vec<&str> = key.split('.').collect();
    let last = segments.pop().ok_or("empty key")?;
    let mut current = table;
    for (i, seg) in segments.iter().enumerate() {
        let entry = current.entry((*seg).to_string()).or_insert_with(|| Value::Table(Table::new()));
        current =
            entry.as_table_mut().ok_or_else(|| format!("`{}` is not a table", segments[..=i].join(".")))?;
    }
    current.insert(last.to_string(), value);
    Ok(())
}

/// Read a dotted key from a table.
pub(crate) fn get_key<'a>(table: &'a Table, key: &str) -> Option<&'a Value> {
    let mut segments = key.split('.');
    let mut value = table.get(segments.next()?)?;
    for seg in segments {
        value = value.as_table()?.get(seg)?;
    }
    Some(value)
}

/// Checks serde cannot express. Returns every problem found.
fn validate(spec: &ZooSpec, table: &Table) -> Vec<Problem> {
    let mut problems = validate_fields(spec);
    for (section, axis) in [("grid.load", &spec.grid.load), ("grid.temperature", &spec.grid.temperature)] {
        problems.extend(validate_axis(section, axis, table));
    }
    if spec.grid.load.key == spec.grid.temperature.key {
        problems.push(Problem::new("grid.temperature.key", "the two axes set the same key"));
    }
    if spec.grid.seeds.is_empty() {
        problems.push(Problem::new("grid.seeds", "is empty").hint("e.g. seeds = [0, 1, 2]"));
    }
    let mut seeds = spec.grid.seeds.clone();
    seeds.sort_unstable();
    seeds.dedup();
    if seeds.len() != spec.grid.seeds.len() {
        problems.push(Problem::new("grid.seeds", "lists a seed twice"));
    }
    problems
}

/// Checks of single fields (everything but the grid).
fn validate_fields(spec: &ZooSpec) -> Vec<Problem> {
    let mut problems = Vec::new();
    if spec.name.trim().is_empty()
        || !spec.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        problems.push(
            Problem::new("name", format!("`{}` is not a usable folder name", spec.name))
                .hint("use letters, digits, '-', '_' and '.', e.g. name = \"convection-small\""),
        );
    }
    let t = &spec.train;
    if t.epochs == 0 {
        problems.push(Problem::new("train.epochs", "must be at least 1").hint("e.g. epochs = 20"));
    }
    if t.steps_per_epoch == 0 {
        problems.push(Problem::new("train.steps_per_epoch", "must be at least 1"));
    }
    if !(t.lr.is_finite() && t.lr > 0.0) {
        problems.push(
            Problem::new("train.lr", format!("{} is not a learning rate: it must be > 0", t.lr))
                .hint("use a positive value, e.g. lr = 1e-3"),
        );
    }
    if !(t.weight_decay.is_finite() && t.weight_decay >= 0.0) {
        problems.push(Problem::new("train.weight_decay", "must be >= 0"));
    }
    if t.adam_betas.iter().any(|b| !(0.0..1.0).contains(b)) {
        problems.push(Problem::new("train.adam_betas", "each beta must be in [0, 1)"));
    }
    if t.adam_eps.is_nan() || t.adam_eps <= 0.0 {
        problems.push(Problem::new("train.adam_eps", "must be > 0"));
    }
    problems.extend(crate::model_checks::validate_model(spec));
    problems.extend(validate_problem(spec));
    let m = &spec.metrics;
    if m.hessian.top_n == 0 || m.hessian.max_iter == 0 || m.hessian.trace_max_iter == 0 {
        problems
            .push(Problem::new("metrics.hessian", "top_n, max_iter and trace_max_iter must be at least 1"));
    }
    if m.curve.points < 3 {
        problems.push(
            Problem::new("metrics.curve.points", "needs at least 3 points (two ends and one inside)")
                .hint("PTMZ used points = 5"),
        );
    }
    if !(m.curve.lr.is_finite() && m.curve.lr > 0.0) {
        problems.push(Problem::new("metrics.curve.lr", "must be > 0"));
    }
    if m.epochs.iter().any(|&e| e > spec.train.epochs) {
        problems.push(Problem::new(
            "metrics.epochs",
            format!("lists an epoch after the last ({})", spec.train.epochs),
        ));
    }
    if let Err(message) = crate::DeviceRequest::parse(&spec.run.device) {
        problems.push(Problem::new("run.device", message).hint("use auto, cpu, cuda or cuda:N"));
    }
    problems
}

/// The problem's own fields, and the recipe each problem trains with.
fn validate_problem(spec: &ZooSpec) -> Vec<Problem> {
    let t = &spec.train;
    let mut problems = match &spec.problem {
        crate::ProblemConfig::Text(_) => Vec::new(),
        _ => crate::lm::validate_not_text(t),
    };
    match &spec.problem {
        crate::ProblemConfig::Text(text) => problems.extend(crate::lm::validate_text(spec, text)),
        crate::ProblemConfig::ModArith(m) => problems.extend(crate::modarith::validate_modarith(spec, m)),
        crate::ProblemConfig::Convection(c) => {
            if !c.beta.is_finite() || c.beta < 0.0 {
                problems.push(Problem::new("problem.beta", "must be finite and >= 0"));
            }
            for (key, n) in [
                ("collocation_points", c.collocation_points),
                ("initial_points", c.initial_points),
                ("boundary_points", c.boundary_points),
                ("eval_x", c.eval_x),
                ("eval_t", c.eval_t),
            ] {
                if n == 0 {
                    problems.push(Problem::new(format!("problem.{key}"), "must be at least 1"));
                }
            }
            if t.optimizer != crate::Optimizer::Adam || t.schedule != crate::Schedule::Constant {
                problems.push(
                    Problem::new("train.optimizer", "the PINN population trains with Adam at a constant lr")
                        .hint("remove train.optimizer and train.schedule, or set optimizer = \"adam\""),
                );
            }
        }
        crate::ProblemConfig::Image(i) => {
            if !crate::DATASETS.contains(&i.dataset.as_str()) {
                problems.push(
                    Problem::new(
                        "problem.dataset",
                        format!("`{}` is not a dataset phasezoo reads", i.dataset),
                    )
                    .hint(format!("use one of {}", crate::DATASETS.join(", "))),
                );
            }
            if t.batch_size == 0 {
                problems.push(
                    Problem::new("train.batch_size", "must be at least 1").hint("e.g. batch_size = 128"),
                );
            }
            if !(0.0..1.0).contains(&t.momentum) {
                problems.push(Problem::new("train.momentum", "must be in [0, 1)"));
            }
            if t.schedule == crate::Schedule::Cosine {
                problems.push(
                    Problem::new("train.schedule", "image models train with `constant` or `one_cycle`")
                        .hint("the cosine schedule is the language models' (problem.kind = \"text\")"),
                );
            }
            if t.optimizer != crate::Optimizer::Sgd {
                problems.push(
                    Problem::new("train.optimizer", "image models train with SGD (the PTMZ recipe)").hint(
                        "set optimizer = \"sgd\" (with momentum, weight_decay and schedule = \"one_cycle\")",
                    ),
                );
            }
            if t.dtype != crate::DType::Float32 {
                problems.push(
                    Problem::new("train.dtype", "image models train in float32")
                        .hint("use train.precision = \"bf16_autocast\" for bfloat16 on CUDA"),
                );
            }
        }
    }
    problems
}

/// An axis must be non-empty, finite, duplicate-free, and set a key that exists and types.
fn validate_axis(section: &str, axis: &crate::Axis, table: &Table) -> Vec<Problem> {
    let mut problems = Vec::new();
    if axis.values.is_empty() {
        problems.push(
            Problem::new(format!("{section}.values"), "is empty: an axis needs at least one value")
                .hint("e.g. values = [1, 10, 30]"),
        );
    }
    for (i, v) in axis.values.iter().enumerate() {
        if !v.is_finite() {
            problems.push(Problem::new(format!("{section}.values[{i}]"), "must be finite"));
        }
        if axis.values[..i].contains(v) {
            problems.push(Problem::new(format!("{section}.values[{i}]"), format!("{v} appears twice")));
        }
    }
    if !(axis.key.starts_with("model.") || axis.key.starts_with("problem.") || axis.key.starts_with("train."))
    {
        problems.push(
            Problem::new(
                format!("{section}.key"),
                format!("`{}` is not a model, problem or train key", axis.key),
            )
            .hint("an axis sets what is trained, e.g. key = \"problem.beta\" or key = \"train.lr\""),
        );
        return problems;
    }
    // Each value must produce a valid spec: this catches unknown keys, wrong types and
    // out-of-range values (a negative learning rate) and names the axis entry.
    for (i, v) in axis.values.iter().enumerate() {
        let mut t = table.clone();
        let value = crate::plan::axis_value(get_key(table, &axis.key), *v);
        if set_key(&mut t, &axis.key, value).is_err() {
            problems.push(Problem::new(format!("{section}.key"), format!("`{}` cannot be set", axis.key)));
            break;
        }
        match type_table(t.clone()) {
            Err(p) => {
                problems.push(Problem::new(
                    format!("{section}.key"),
                    format!("`{}` does not fit the spec ({}: {})", axis.key, p.key, p.message),
                ));
                break;
            }
            Ok(typed) => {
                if let Some(p) = validate_fields(&typed).into_iter().find(|p| p.key == axis.key) {
                    problems.push(
                        Problem::new(format!("{section}.values[{i}]"), p.message)
                            .hint(p.hint.unwrap_or_else(|| format!("fix the value for {}", axis.key))),
                    );
                }
            }
        }
    }
    problems
}
