//! Loading a PyTorch-named state dict into a model's own tensors, checked as a whole first: the
//! image models and GPT-2 share the rule (every entry present with its shape and kind, nothing
//! unknown, nothing copied unless all of it fits), and each adds its own checks.

use std::collections::{HashMap, HashSet};

use tch::{Kind, Tensor};

use crate::Error;

/// One entry a model expects: its state-dict name and shape, the kind it holds, and the model's
/// tensor that receives it.
pub(crate) struct Expected<'a> {
    pub name: &'a str,
    pub shape: &'a [i64],
    pub kind: Kind,
    pub tensor: &'a Tensor,
}

/// Copy `named` into `expected`'s tensors (any device; float kinds converted by `copy_`) after
/// checking all of it: every expected entry present with its shape, float entries given floats
/// and integer buffers integers, no name outside `expected` and `also_known`, and whatever
/// `more_checks` finds in the entries by name. `model` names the model in the error.
///
/// # Errors
/// [`Error::Mismatch`] naming each missing, extra or misshapen key, and `more_checks`' problems.
pub(crate) fn load_checked(
    model: &str,
    expected: &[Expected<'_>],
    named: &[(String, Tensor)],
    also_known: &[&str],
    more_checks: impl FnOnce(&HashMap<&str, &Tensor>) -> Vec<String>,
) -> Result<(), Error> {
    let by_name: HashMap<&str, &Tensor> = named.iter().map(|(k, t)| (k.as_str(), t)).collect();
    let mut problems = Vec::new();
    for e in expected {
        match by_name.get(e.name) {
            None => problems.push(format!("missing key {}", e.name)),
            Some(t) if t.size() != e.shape => {
                problems.push(format!("{}: expected shape {:?}, got {:?}", e.name, e.shape, t.size()));
            }
            Some(t) if t.is_floating_point() != (e.kind == Kind::Float) => {
                problems.push(format!("{}: expected {:?}, got {:?}", e.name, e.kind, t.kind()));
            }
            Some(_) => {}
        }
    }
    problems.extend(more_checks(&by_name));
    let known: HashSet<&str> = expected.iter().map(|e| e.name).chain(also_known.iter().copied()).collect();
    problems.extend(
        named.iter().filter(|(k, _)| !known.contains(k.as_str())).map(|(k, _)| format!("unexpected key {k}")),
    );
    if !problems.is_empty() {
        return Err(Error::Mismatch { model: model.to_string(), message: problems.join("; ") });
    }
    tch::no_grad(|| {
        for e in expected {
            e.tensor.shallow_clone().copy_(by_name[e.name]);
        }
    });
    Ok(())
}
