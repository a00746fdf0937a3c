//! What a `metrics` request asks for: which metrics (`--only`) at which epochs (`--epochs`, else
//! the spec's `[metrics] epochs`, else the last), checked against the zoo before anything runs.

use pz_spec::ZooSpec;

/// Which metrics to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selection {
    /// Hessian top eigenvalues, trace (and density when configured).
    pub hessian: bool,
    /// CKA between seeds.
    pub cka: bool,
    /// Bezier mode connectivity between seeds.
    pub mc: bool,
    /// Heavy-tail alpha of the weight matrices (WeightWatcher's, from the checkpoint alone).
    pub alpha: bool,
    /// Local learning coefficient by SGLD; measured only for zoos with a `[metrics.llc]` table.
    pub llc: bool,
}

impl Selection {
    /// Every metric (the LLC only where the zoo has a `[metrics.llc]` table).
    #[must_use]
    pub fn all() -> Self {
        Self { hessian: true, cka: true, mc: true, alpha: true, llc: true }
    }

    /// The metrics named in `only` (`hessian`, `cka`, `mc`, `alpha`, `llc`); every metric when
    /// it is empty.
    ///
    /// # Errors
    /// An unknown name, with the names that exist.
    pub fn parse(only: &[String]) -> Result<Self, String> {
        if only.is_empty() {
            return Ok(Self::all());
        }
        let mut s = Self { hessian: false, cka: false, mc: false, alpha: false, llc: false };
        for name in only {
            match name.as_str() {
                "hessian" => s.hessian = true,
                "cka" => s.cka = true,
                "mc" => s.mc = true,
                "alpha" => s.alpha = true,
                "llc" => s.llc = true,
                other => {
                    return Err(format!(
                    "--only {other}: unknown metric\n  hint: use hessian, cka, mc or alpha (comma-separated), or llc for zoos with [metrics.llc]"
                ))
                }
            }
        }
        Ok(s)
    }
}

impl Selection {
    /// This selection for a zoo (at `dir`) of `family`: mode connectivity, which some families
    /// do not measure yet, is refused when `named` (the user asked for it with `--only`) and
    /// otherwise dropped, with the note to print.
    ///
    /// # Errors
    /// Mode connectivity named for a family that does not measure it, with what to ask instead.
    pub fn for_family(
        mut self,
        named: bool,
        family: &dyn pz_train::ZooFamily,
        dir: &std::path::Path,
    ) -> Result<(Self, Option<String>), String> {
        if !self.mc || family.measures_mode_connectivity() {
            return Ok((self, None));
        }
        let name = family.name();
        if named {
            return Err(format!(
                "{}: mode connectivity of {name} zoos is not implemented yet\n  hint: `--only hessian,cka` \
                 measures the models' Hessians and CKA",
                dir.display()
            ));
        }
        self.mc = false;
        Ok((self, Some(format!("{name} zoo: measuring Hessians and CKA (mode connectivity of {name} zoos is not implemented yet)"))))
    }
}

/// What `phasezoo metrics`, `work --metrics` and `submit --metrics` measure on the zoo of `spec`
/// at `dir`: the metrics named in `only` (every one when empty) that `family` measures, and the
/// epochs (`asked`, or every kept checkpoint with `every_kept`; see [`epochs_to_measure`]), with
/// a note to print when a metric was dropped for the family.
///
/// # Errors
/// An unknown metric name, a metric named that the family does not measure, or epochs that
/// cannot be measured, each with what to ask instead.
pub fn what_to_measure(
    spec: &ZooSpec,
    family: &dyn pz_train::ZooFamily,
    dir: &std::path::Path,
    only: &[String],
    (asked, every_kept): (&[u32], bool),
) -> Result<(Selection, Vec<u32>, Option<String>), String> {
    let (selection, note) = Selection::parse(only)?.for_family(!only.is_empty(), family, dir)?;
    Ok((selection, epochs_to_measure(spec, asked, every_kept)?, note))
}

/// The epochs to measure: with `every_kept`, every epoch whose checkpoint the spec's
/// `[checkpoint]` policy keeps (0 … E: an LLC curve over training, `--all-epochs`); else
/// `asked`, else the spec's `[metrics] epochs`, else the last epoch.
///
/// # Errors
/// An epoch after the last one the zoo trains; `every_kept` with epochs asked as well.
pub fn epochs_to_measure(spec: &ZooSpec, asked: &[u32], every_kept: bool) -> Result<Vec<u32>, String> {
    let last = spec.train.epochs;
    if every_kept {
        if !asked.is_empty() {
            return Err("--all-epochs measures every kept checkpoint: give it or --epochs, not both".into());
        }
        return Ok((0..=last).filter(|&e| spec.checkpoint.keeps(e, last)).collect());
    }
    let epochs = if !asked.is_empty() {
        asked.to_vec()
    } else if !spec.metrics.epochs.is_empty() {
        spec.metrics.epochs.clone()
    } else {
        vec![spec.train.epochs]
    };
    match epochs.iter().find(|&&e| e > last) {
        Some(e) => {
            Err(format!("--epochs {e}: the zoo trains {last} epochs\n  hint: pick epochs up to {last}"))
        }
        None => Ok(epochs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_epochs_are_the_kept_checkpoints_and_asked_epochs_stay_within_the_run() {
        let spec = |sets: &[&str]| {
            let o: Vec<String> = sets.iter().map(|s| (*s).to_string()).collect();
            ZooSpec::parse(pz_spec::EMBEDDED_DEFAULT, "t", &o).unwrap()
        };
        let s = spec(&["train.epochs=10", "checkpoint.every=4", "checkpoint.epochs=[5]"]);
        assert_eq!(epochs_to_measure(&s, &[], true), Ok(vec![0, 4, 5, 8, 10]));
        assert_eq!(epochs_to_measure(&s, &[], false), Ok(vec![10]), "the last by default");
        assert_eq!(epochs_to_measure(&s, &[3, 7], false), Ok(vec![3, 7]));
        assert!(epochs_to_measure(&s, &[3], true).unwrap_err().contains("not both"));
        let err = epochs_to_measure(&s, &[11], false).unwrap_err();
        assert!(err.contains("--epochs 11: the zoo trains 10 epochs"), "{err}");
    }

    #[test]
    fn only_names_the_metrics_and_an_unknown_one_is_refused_with_the_names() {
        let names = |v: &[&str]| v.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
        assert_eq!(Selection::parse(&[]), Ok(Selection::all()));
        assert_eq!(
            Selection::parse(&names(&["cka", "mc"])),
            Ok(Selection { hessian: false, cka: true, mc: true, alpha: false, llc: false })
        );
        let err = Selection::parse(&names(&["curvature"])).unwrap_err();
        assert!(
            err.contains("--only curvature")
                && err.contains("hint: use hessian, cka, mc or alpha")
                && err.contains("llc"),
            "{err}"
        );
    }

    #[test]
    fn epochs_default_to_the_spec_then_the_last_and_later_ones_are_refused() {
        let spec = |o: &[&str]| {
            let o: Vec<String> = o.iter().map(|s| (*s).to_string()).collect();
            ZooSpec::parse(pz_spec::EMBEDDED_DEFAULT, "t", &o).unwrap()
        };
        assert_eq!(epochs_to_measure(&spec(&[]), &[], false), Ok(vec![15]));
        assert_eq!(epochs_to_measure(&spec(&["metrics.epochs=[5]"]), &[], false), Ok(vec![5]));
        assert_eq!(epochs_to_measure(&spec(&["metrics.epochs=[5]"]), &[10, 15], false), Ok(vec![10, 15]));
        let err = epochs_to_measure(&spec(&[]), &[16], false).unwrap_err();
        assert!(err.contains("--epochs 16: the zoo trains 15 epochs"), "{err}");
    }
}
