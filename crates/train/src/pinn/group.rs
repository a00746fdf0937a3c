//! Which planned models train together: same shapes and recipe, differing only in what a
//! population carries per member (seed, β, learning rate).

use pz_spec::{PlannedModel, ProblemConfig, ResolvedModel};

/// Split models into populations of at most `max_population` members (0 = no limit), keeping
/// plan order. Deterministic: the same models give the same populations.
#[must_use]
pub fn group_populations(models: &[PlannedModel], max_population: usize) -> Vec<Vec<PlannedModel>> {
    crate::grouping::group_by_key(models, max_population, |m| shape_key(&m.config))
}

/// The resolved config with the per-member quantities blanked.
pub(crate) fn shape_key(config: &ResolvedModel) -> String {
    let mut blanked = config.clone();
    blanked.train.lr = 0.0;
    if let ProblemConfig::Convection(c) = &mut blanked.problem {
        c.beta = 0.0;
    }
    crate::family::default_population_key(&blanked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pinn_grid_is_one_population_and_chunks_keep_order() {
        let spec = pz_spec::ZooSpec::embedded_default().unwrap();
        let plan = pz_spec::Plan::new(&spec).unwrap();
        let all = group_populations(&plan.models, 0);
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].len(), plan.models.len());
        let chunks = group_populations(&plan.models, 5);
        assert_eq!(chunks.len(), plan.models.len().div_ceil(5));
        let flat: Vec<_> = chunks.concat();
        assert_eq!(flat, plan.models);
    }

    #[test]
    fn different_widths_do_not_share_a_population() {
        let spec = pz_spec::ZooSpec::parse(
            pz_spec::EMBEDDED_DEFAULT,
            "t",
            &["grid.load.key=\"train.epochs\"".into(), "grid.load.values=[1, 2]".into()],
        )
        .unwrap();
        let plan = pz_spec::Plan::new(&spec).unwrap();
        assert_eq!(group_populations(&plan.models, 0).len(), 2);
    }
}
