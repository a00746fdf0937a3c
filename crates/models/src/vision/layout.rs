//! The state dict of a vision model as data: every tensor's name, shape, role and init law, in
//! PyTorch's `state_dict()` order (per module: own parameters, own buffers, then children in
//! registration order).
//!
//! Computed from the config alone, so parameter counts of the largest zoo members need no
//! memory, and the built model checks its variables against it.

use std::collections::HashMap;

use tch::Kind;

use super::batch_norm::BatchNormAt;
use super::init::Init;

/// What a state-dict entry is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Role {
    /// A trainable parameter and how it starts.
    Param(Init),
    /// BatchNorm `running_mean` buffer (starts at 0).
    RunningMean,
    /// BatchNorm `running_var` buffer (starts at 1).
    RunningVar,
    /// BatchNorm `num_batches_tracked` buffer: an int64 scalar counting training forwards.
    BatchCount,
}

/// One state-dict entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Slot {
    pub name: String,
    pub shape: Vec<i64>,
    pub role: Role,
}

impl Slot {
    pub fn trainable(&self) -> bool {
        matches!(self.role, Role::Param(_))
    }

    pub fn kind(&self) -> Kind {
        if self.role == Role::BatchCount {
            Kind::Int64
        } else {
            Kind::Float
        }
    }

    pub fn numel(&self) -> usize {
        usize::try_from(self.shape.iter().product::<i64>()).expect("non-negative shape")
    }
}

/// The entries of one model, appended in state-dict order.
#[derive(Debug, Default)]
pub(crate) struct Layout {
    pub slots: Vec<Slot>,
}

impl Layout {
    pub fn param(&mut self, name: impl Into<String>, shape: &[i64], init: Init) {
        self.push(name.into(), shape, Role::Param(init));
    }

    fn push(&mut self, name: String, shape: &[i64], role: Role) {
        self.slots.push(Slot { name, shape: shape.to_vec(), role });
    }

    /// `nn.BatchNorm2d(c)` at `prefix`: γ = 1, β = 0, running stats, batch counter.
    pub fn batch_norm(&mut self, prefix: &str, c: i64) {
        self.param(format!("{prefix}.weight"), &[c], Init::Const(1.0));
        self.param(format!("{prefix}.bias"), &[c], Init::Const(0.0));
        self.push(format!("{prefix}.running_mean"), &[c], Role::RunningMean);
        self.push(format!("{prefix}.running_var"), &[c], Role::RunningVar);
        self.push(format!("{prefix}.num_batches_tracked"), &[], Role::BatchCount);
    }

    /// `nn.LayerNorm(d)` at `prefix`: weight 1, bias 0.
    pub fn layer_norm(&mut self, prefix: &str, d: i64) {
        self.param(format!("{prefix}.weight"), &[d], Init::Const(1.0));
        self.param(format!("{prefix}.bias"), &[d], Init::Const(0.0));
    }

    /// `nn.Linear(d_in, d_out)` at `prefix`.
    pub fn linear(&mut self, prefix: &str, d_in: i64, d_out: i64, weight: Init, bias: Init) {
        self.param(format!("{prefix}.weight"), &[d_out, d_in], weight);
        self.param(format!("{prefix}.bias"), &[d_out], bias);
    }

    /// Number of trainable scalars.
    pub fn parameter_count(&self) -> usize {
        self.slots.iter().filter(|s| s.trainable()).map(Slot::numel).sum()
    }
}

/// Where a built network finds its tensors: each trainable parameter by its place in the
/// trainable list (state-dict order without the buffers: the order of
/// `VisionModel::trainable` and of the parameters `VisionModel::forward_with` takes), each
/// BatchNorm layer by its place among the model's BatchNorm layers. Resolved once when the
/// network is built, so a forward pass indexes instead of looking up names.
#[derive(Debug)]
pub(crate) struct Positions {
    params: HashMap<String, usize>,
    batch_norms: HashMap<String, usize>,
}

impl Positions {
    pub fn of(layout: &Layout) -> Self {
        let params =
            layout.slots.iter().filter(|s| s.trainable()).enumerate().map(|(i, s)| (s.name.clone(), i));
        let batch_norms = layout
            .slots
            .iter()
            .filter_map(|s| s.name.strip_suffix(".running_mean").filter(|_| s.role == Role::RunningMean))
            .enumerate()
            .map(|(i, prefix)| (prefix.to_string(), i));
        Self { params: params.collect(), batch_norms: batch_norms.collect() }
    }

    /// The place of trainable parameter `name`.
    ///
    /// # Panics
    /// If the layout has no such parameter: a bug in resnet.rs/vit.rs.
    pub fn param(&self, name: &str) -> usize {
        *self.params.get(name).unwrap_or_else(|| panic!("the layout has no parameter {name}"))
    }

    /// The BatchNorm layer at `prefix` (`bn1`, `layer1.0.downsample.1`, …).
    ///
    /// # Panics
    /// If the layout has no BatchNorm there: a bug in resnet.rs.
    pub fn batch_norm(&self, prefix: &str) -> BatchNormAt {
        let layer =
            *self.batch_norms.get(prefix).unwrap_or_else(|| panic!("the layout has no BatchNorm {prefix}"));
        BatchNormAt {
            weight: self.param(&format!("{prefix}.weight")),
            bias: self.param(&format!("{prefix}.bias")),
            layer,
        }
    }
}
