//! The PINN family's MLP: `torch.nn.Sequential(Linear, Tanh, …, Linear)` held as `net`, so
//! its Linear layers are `net.0`, `net.2`, … (`crates/models/src/mlp.rs`, "Names").

use super::{indices, shape_of};
use crate::spec::PermutationSpec;
use crate::tensor::StateDict;
use crate::Error;

/// One group per hidden layer, named after the Linear that produces it (`net.0`, `net.2`, …):
/// that layer's weight rows and bias, and the next layer's weight columns. Element-wise
/// activations (tanh) commute with the permutation; the input and output are not permuted.
///
/// # Errors
/// [`Error::UnknownLayout`] without `net.<i>.weight` matrices, or with consecutive layers whose
/// widths do not chain.
pub fn mlp_spec(state: &StateDict) -> Result<PermutationSpec, Error> {
    let unknown = |reason: String| Error::UnknownLayout { architecture: "MLP", reason };
    let layers = indices(state, "net.");
    if layers.is_empty() {
        return Err(unknown("no `net.<i>.weight` tensors".into()));
    }
    let mut spec = PermutationSpec::default();
    for pair in layers.windows(2) {
        let (this, next) = (format!("net.{}", pair[0]), format!("net.{}", pair[1]));
        let out = shape_of(state, &format!("{this}.weight"), "MLP")?;
        let into = shape_of(state, &format!("{next}.weight"), "MLP")?;
        if out.len() != 2 || into.len() != 2 || out[0] != into[1] {
            return Err(unknown(format!("`{this}.weight` {out:?} does not feed `{next}.weight` {into:?}")));
        }
        let group = spec.group(this.clone(), out[0]);
        group.axis(format!("{this}.weight"), 0);
        if state.contains_key(&format!("{this}.bias")) {
            group.axis(format!("{this}.bias"), 0);
        }
        group.axis(format!("{next}.weight"), 1);
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tensor;

    fn mlp(sizes: &[usize]) -> StateDict {
        let mut s = StateDict::new();
        for (l, w) in sizes.windows(2).enumerate() {
            s.insert(format!("net.{}.weight", 2 * l), Tensor::f32(&[w[1], w[0]], vec![0.0; w[0] * w[1]]));
            s.insert(format!("net.{}.bias", 2 * l), Tensor::f32(&[w[1]], vec![0.0; w[1]]));
        }
        s
    }

    #[test]
    fn an_mlp_has_one_group_per_hidden_layer() {
        // net.10 sorts before net.2 as a string: the layers must be ordered as numbers.
        let spec = mlp_spec(&mlp(&[2, 5, 4, 3, 3, 3, 1])).unwrap();
        let names: Vec<&str> = spec.groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["net.0", "net.2", "net.4", "net.6", "net.8"]);
        let g = spec.get("net.8").unwrap();
        assert_eq!(g.size, 3);
        let axes: Vec<(&str, usize)> = g.axes.iter().map(|a| (a.tensor.as_str(), a.axis)).collect();
        assert_eq!(axes, [("net.8.weight", 0), ("net.8.bias", 0), ("net.10.weight", 1)]);
        spec.tensor_axes(&mlp(&[2, 5, 4, 3, 3, 3, 1])).unwrap();
    }

    #[test]
    fn a_dict_without_an_mlp_is_refused() {
        assert!(matches!(mlp_spec(&StateDict::new()), Err(Error::UnknownLayout { .. })));
    }
}
