//! Permutation specs: which axis of which tensor each permutation group acts on (Ainsworth et
//! al. 2023, "Git Re-Basin", §3 and their `permutation_spec`; github.com/samuela/git-re-basin
//! `src/weight_matching.py`).
//!
//! A group is one set of hidden units (channels, neurons, attention heads) whose order is
//! arbitrary: permuting every tensor axis listed in the group by the same permutation leaves
//! the network's function unchanged. A residual stream is one group across all blocks it
//! passes through, since the shortcut adds those channels index by index.

use std::collections::BTreeMap;

use crate::tensor::{floats, AxisView, StateDict};
use crate::Error;

/// One tensor axis a group permutes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AxisRef {
    /// State-dict name.
    pub tensor: String,
    /// The axis (PyTorch order: 0 is a weight's output axis, 1 its input axis).
    pub axis: usize,
    /// The axis is `[blocks, n, block_len]` and the group permutes `n`: 1 for plain units, 3
    /// for heads in a fused q/k/v projection.
    pub blocks: usize,
    /// Elements per unit along the axis: 1 for plain units, `head_dim` for heads.
    pub block_len: usize,
}

/// A set of interchangeable units and every tensor axis indexed by them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// A name from the state dict, e.g. `layer1.0.conv1` (that conv's output channels).
    pub name: String,
    /// Number of units.
    pub size: usize,
    /// The axes, in the order they were added.
    pub axes: Vec<AxisRef>,
}

/// All permutation groups of an architecture.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermutationSpec {
    /// The groups, in the order built (matching visits them in a seeded random order).
    pub groups: Vec<Group>,
}

/// A tensor's permuted axes: `(axis, group index, view)`.
pub(crate) type TensorAxes = Vec<(usize, usize, AxisView)>;

impl PermutationSpec {
    /// Start a group of `size` units; add its axes with [`PermutationSpec::axis`] and friends.
    pub fn group(&mut self, name: impl Into<String>, size: usize) -> &mut Group {
        self.groups.push(Group { name: name.into(), size, axes: Vec::new() });
        self.groups.last_mut().expect("just pushed")
    }

    /// The group named `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// Check the spec against a state dict: every tensor present and float, every axis of the
    /// length its group implies, no axis in two groups, no two groups of one name. Returns,
    /// per permuted tensor, its axes with their groups.
    ///
    /// # Errors
    /// The first problem found, naming tensor, axis and group.
    pub(crate) fn tensor_axes(&self, state: &StateDict) -> Result<BTreeMap<String, TensorAxes>, Error> {
        let mut seen = BTreeMap::new();
        let mut out: BTreeMap<String, TensorAxes> = BTreeMap::new();
        for (g, group) in self.groups.iter().enumerate() {
            if seen.insert(group.name.as_str(), g).is_some() {
                return Err(Error::DuplicateGroup { group: group.name.clone() });
            }
            for a in &group.axes {
                let t = floats(state, &a.tensor)?;
                let unit = a.blocks * a.block_len;
                if a.axis >= t.shape.len() || unit == 0 || t.shape[a.axis] != unit * group.size {
                    return Err(Error::AxisMismatch {
                        tensor: a.tensor.clone(),
                        axis: a.axis,
                        shape: t.shape.clone(),
                        group: group.name.clone(),
                        detail: format!("{} blocks × {} units × {}", a.blocks, group.size, a.block_len),
                    });
                }
                let axes = out.entry(a.tensor.clone()).or_default();
                if let Some(&(_, other, _)) = axes.iter().find(|(axis, _, _)| *axis == a.axis) {
                    return Err(Error::AxisClaimedTwice {
                        tensor: a.tensor.clone(),
                        axis: a.axis,
                        first: self.groups[other].name.clone(),
                        second: group.name.clone(),
                    });
                }
                axes.push((a.axis, g, AxisView::new(&t.shape, a.axis, a.blocks, a.block_len)));
            }
        }
        Ok(out)
    }
}

impl Group {
    /// Add a plain axis: index `i` of the axis is unit `i`.
    pub fn axis(&mut self, tensor: impl Into<String>, axis: usize) -> &mut Self {
        self.blocked(tensor, axis, 1, 1)
    }

    /// Add an axis read as `[blocks, size, block_len]` (attention heads).
    pub fn blocked(
        &mut self,
        tensor: impl Into<String>,
        axis: usize,
        blocks: usize,
        block_len: usize,
    ) -> &mut Self {
        self.axes.push(AxisRef { tensor: tensor.into(), axis, blocks, block_len });
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tensor;

    fn dict() -> StateDict {
        let mut s = StateDict::new();
        s.insert("a.weight".into(), Tensor::f32(&[4, 2], vec![0.0; 8]));
        s.insert("b.weight".into(), Tensor::f32(&[3, 4], vec![0.0; 12]));
        s.insert("n".into(), Tensor::i64(&[], vec![0]));
        s
    }

    #[test]
    fn a_valid_spec_lists_each_tensors_axes() {
        let mut spec = PermutationSpec::default();
        spec.group("h", 4).axis("a.weight", 0).axis("b.weight", 1);
        let axes = spec.tensor_axes(&dict()).unwrap();
        assert_eq!(axes["a.weight"][0].0, 0);
        assert_eq!(axes["b.weight"][0].0, 1);
    }

    #[test]
    fn bad_specs_are_refused_with_the_tensor_named() {
        let mut wrong_len = PermutationSpec::default();
        wrong_len.group("h", 3).axis("a.weight", 0);
        assert!(
            matches!(wrong_len.tensor_axes(&dict()), Err(Error::AxisMismatch { tensor, .. }) if tensor == "a.weight")
        );
        let mut twice = PermutationSpec::default();
        twice.group("h", 4).axis("a.weight", 0);
        twice.group("g", 4).axis("a.weight", 0);
        assert!(matches!(twice.tensor_axes(&dict()), Err(Error::AxisClaimedTwice { .. })));
        let mut int = PermutationSpec::default();
        int.group("h", 1).axis("n", 0);
        assert!(matches!(int.tensor_axes(&dict()), Err(Error::NotFloat { .. })));
        let mut missing = PermutationSpec::default();
        missing.group("h", 4).axis("c.weight", 0);
        assert!(matches!(missing.tensor_axes(&dict()), Err(Error::MissingTensor { .. })));
        let mut dup = PermutationSpec::default();
        dup.group("h", 4).axis("a.weight", 0);
        dup.group("h", 4).axis("b.weight", 1);
        assert!(matches!(dup.tensor_axes(&dict()), Err(Error::DuplicateGroup { .. })));
    }
}
