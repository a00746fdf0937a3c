//! Which planned models train together as one stacked population: the families that stack
//! members (PINN, modular arithmetic) differ only in what a member may carry alone, given here
//! as a key that blanks those quantities.

use std::collections::BTreeMap;

use pz_spec::PlannedModel;

/// Split models into populations of at most `max_population` members (0 = no limit), one run
/// per distinct `key` (first appearance first), keeping plan order inside each. Deterministic:
/// the same models give the same populations.
pub(crate) fn group_by_key(
    models: &[PlannedModel],
    max_population: usize,
    key: impl Fn(&PlannedModel) -> String,
) -> Vec<Vec<PlannedModel>> {
    let mut groups: BTreeMap<String, Vec<PlannedModel>> = BTreeMap::new();
    let mut order = Vec::new();
    for m in models {
        let k = key(m);
        if !groups.contains_key(&k) {
            order.push(k.clone());
        }
        groups.entry(k).or_default().push(m.clone());
    }
    let limit = if max_population == 0 { usize::MAX } else { max_population };
    order
        .into_iter()
        .flat_map(|k| {
            let members = groups.remove(&k).unwrap_or_default();
            members.chunks(limit).map(<[PlannedModel]>::to_vec).collect::<Vec<_>>()
        })
        .collect()
}
