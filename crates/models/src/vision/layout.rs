//! The state dict of a vision model as data: every tensor's name, shape, role and init law, in
//! PyTorch's `state_dict()` order (per module: own parameters, own buffers, then children in
//! registration order).
//!
//! Computed from the config alone, so parameter counts of the largest zoo members need no
//! memory, and the built model checks its variables against it.

use tch::Kind;

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
