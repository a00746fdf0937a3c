//! Averaging state dicts: over a model's last epochs (SPEC 5.1, the original's "Wise-FT") and
//! over aligned seeds (SPEC 5.2).
//!
//! Two rules. [`AveragingRule::Uniform`], phasezoo's default, averages every float tensor
//! (parameters and BatchNorm running statistics; the caller recomputes the statistics
//! afterwards) and copies integer tensors (`num_batches_tracked`) from the first dict.
//! [`AveragingRule::PtmzCompat`] reproduces the original's `average_model_checkpoints`, whose
//! skip test is `not "weight" in key or "bias" in key`: only keys containing "weight" and not
//! "bias" are averaged (conv weights, BN γ, `fc.weight`), every other entry (BN β, `fc.bias`,
//! running statistics, `num_batches_tracked`) is copied from the first dict.

use crate::tensor::{Data, StateDict, Tensor};
use crate::Error;

/// Which entries are averaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AveragingRule {
    /// Every float tensor averaged; integer tensors copied from the first dict.
    #[default]
    Uniform,
    /// The original's quirk (`ptmz_compat`): keys containing "weight" and not "bias"
    /// averaged, the rest copied from the first dict.
    PtmzCompat,
}

impl AveragingRule {
    /// Whether `name` (a tensor holding `data`) is averaged under this rule.
    #[must_use]
    pub fn averages(self, name: &str, data: &Data) -> bool {
        let float = matches!(data, Data::F32(_));
        match self {
            Self::Uniform => float,
            Self::PtmzCompat => float && name.contains("weight") && !name.contains("bias"),
        }
    }
}

/// The uniform average (weights 1/n) of `dicts` under `rule`.
///
/// # Errors
/// No dicts, or dicts that differ in names, shapes or element types.
pub fn average(dicts: &[StateDict], rule: AveragingRule) -> Result<StateDict, Error> {
    #[allow(clippy::cast_precision_loss)] // a handful of checkpoints
    let w = 1.0 / dicts.len() as f64;
    weighted_average(dicts, &vec![w; dicts.len()], rule)
}

/// Σ_k weights[k] · dicts[k] for the tensors `rule` averages (accumulated in f64, rounded to
/// f32 once, so averaging n copies of one dict gives it back bit for bit); other tensors come
/// from the first dict. Interpolation between two models is `weights = [1 − α, α]`.
///
/// # Errors
/// No dicts or a weight count that differs, or dicts that differ in names, shapes or element
/// types.
pub fn weighted_average(
    dicts: &[StateDict],
    weights: &[f64],
    rule: AveragingRule,
) -> Result<StateDict, Error> {
    let Some(first) = dicts.first().filter(|_| weights.len() == dicts.len()) else {
        return Err(Error::NothingToAverage { dicts: dicts.len(), weights: weights.len() });
    };
    check_compatible(dicts)?;
    let mut out = StateDict::new();
    for (name, t) in first {
        let value = if rule.averages(name, &t.data) {
            let mut acc = vec![0.0f64; t.shape.iter().product()];
            for (dict, &w) in dicts.iter().zip(weights) {
                let values = dict[name].as_f32().expect("checked compatible");
                for (a, &v) in acc.iter_mut().zip(values) {
                    *a += w * f64::from(v);
                }
            }
            #[allow(clippy::cast_possible_truncation)] // rounding to the stored precision
            Tensor::f32(&t.shape, acc.into_iter().map(|v| v as f32).collect())
        } else {
            t.clone()
        };
        out.insert(name.clone(), value);
    }
    Ok(out)
}

/// Every dict has the first's names, shapes and element types.
fn check_compatible(dicts: &[StateDict]) -> Result<(), Error> {
    let first = &dicts[0];
    for (index, dict) in dicts.iter().enumerate().skip(1) {
        let differ =
            |name: &str, detail: String| Error::Incompatible { index, name: name.to_string(), detail };
        if let Some(extra) = dict.keys().find(|k| !first.contains_key(*k)) {
            return Err(differ(extra, "not in the first dict".into()));
        }
        for (name, t) in first {
            let other = dict.get(name).ok_or_else(|| differ(name, "missing".into()))?;
            if other.shape != t.shape {
                return Err(differ(name, format!("shape {:?}, first {:?}", other.shape, t.shape)));
            }
            if std::mem::discriminant(&other.data) != std::mem::discriminant(&t.data) {
                return Err(differ(name, "element type differs".into()));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A constructed ResNet-like dict whose values are `base + offset`.
    fn dict(offset: f32, count: i64) -> StateDict {
        let mut s = StateDict::new();
        let mut put = |name: &str, base: f32| {
            s.insert(name.into(), Tensor::f32(&[2], vec![base + offset, base + 1.0 + offset]));
        };
        put("conv1.weight", 0.0);
        put("bn1.weight", 10.0);
        put("bn1.bias", 20.0);
        put("bn1.running_mean", 30.0);
        put("bn1.running_var", 40.0);
        put("fc.weight", 50.0);
        put("fc.bias", 60.0);
        // A key with both words: the original's test skips it ("bias" in key).
        put("extra.bias_weight", 70.0);
        s.insert("bn1.num_batches_tracked".into(), Tensor::i64(&[], vec![count]));
        s
    }

    #[test]
    fn ptmz_compat_averages_only_weight_keys_without_bias_and_copies_the_rest_from_the_first() {
        let dicts = [dict(0.0, 5), dict(3.0, 7), dict(6.0, 9)];
        let avg = average(&dicts, AveragingRule::PtmzCompat).unwrap();
        for name in ["conv1.weight", "bn1.weight", "fc.weight"] {
            let expected: Vec<f32> = dicts[0][name].as_f32().unwrap().iter().map(|v| v + 3.0).collect();
            assert_eq!(avg[name].as_f32().unwrap(), expected, "{name}");
        }
        for name in ["bn1.bias", "bn1.running_mean", "bn1.running_var", "fc.bias", "extra.bias_weight"] {
            assert_eq!(avg[name], dicts[0][name], "{name}");
        }
        assert_eq!(avg["bn1.num_batches_tracked"], Tensor::i64(&[], vec![5]));
    }

    #[test]
    fn uniform_averages_every_float_tensor_and_copies_counters() {
        let dicts = [dict(0.0, 5), dict(3.0, 7), dict(6.0, 9)];
        let avg = average(&dicts, AveragingRule::Uniform).unwrap();
        for (name, t) in &dicts[0] {
            if let Some(v) = t.as_f32() {
                let expected: Vec<f32> = v.iter().map(|v| v + 3.0).collect();
                assert_eq!(avg[name].as_f32().unwrap(), expected, "{name}");
            }
        }
        assert_eq!(avg["bn1.num_batches_tracked"], Tensor::i64(&[], vec![5]));
    }

    #[test]
    fn averaging_copies_of_one_dict_is_the_identity_bit_for_bit() {
        let awkward: Vec<f32> =
            (1..=97u16).map(|i| 1.0 / f32::from(i) + f32::EPSILON * f32::from(i)).collect();
        let mut s = dict(0.1, 3);
        s.insert("w.weight".into(), Tensor::f32(&[97], awkward));
        for n in 1..=7 {
            let copies = vec![s.clone(); n];
            for rule in [AveragingRule::Uniform, AveragingRule::PtmzCompat] {
                assert_eq!(average(&copies, rule).unwrap(), s, "{n} copies, {rule:?}");
            }
        }
    }

    #[test]
    fn interpolation_weights_give_the_endpoints() {
        let (a, b) = (dict(0.25, 1), dict(-3.5, 2));
        let at = |alpha: f64| {
            weighted_average(&[a.clone(), b.clone()], &[1.0 - alpha, alpha], AveragingRule::Uniform)
        };
        assert_eq!(at(0.0).unwrap(), a);
        let mut b_counted = b.clone();
        b_counted.insert("bn1.num_batches_tracked".into(), a["bn1.num_batches_tracked"].clone());
        assert_eq!(at(1.0).unwrap(), b_counted);
    }

    #[test]
    fn dicts_that_differ_are_refused_with_the_key_named() {
        let mut other = dict(1.0, 1);
        other.insert("fc.bias".into(), Tensor::f32(&[3], vec![0.0; 3]));
        let err = average(&[dict(0.0, 1), other], AveragingRule::Uniform).unwrap_err();
        assert!(matches!(err, Error::Incompatible { index: 1, ref name, .. } if name == "fc.bias"), "{err}");
        let mut extra = dict(1.0, 1);
        extra.insert("new".into(), Tensor::f32(&[1], vec![0.0]));
        assert!(average(&[dict(0.0, 1), extra], AveragingRule::Uniform).is_err());
        assert!(matches!(average(&[], AveragingRule::Uniform), Err(Error::NothingToAverage { .. })));
    }
}
