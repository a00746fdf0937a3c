//! The `[finetune]` table: transfer of an image zoo's models to a second dataset
//! (`phasezoo apply finetune`, issue 18; SPEC §5.4 names CIFAR-10 → STL-10). Absent (default):
//! the application is refused with the table to add, and specs without it serialize as before.

use serde::{Deserialize, Serialize};

/// How a model is transferred: its classifier head re-initialised for the target's classes,
/// then either only the head trained on the frozen network (`probe`, BatchNorm statistics kept)
/// or every parameter (`full`), by SGD with momentum for `epochs` epochs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FinetuneConfig {
    /// The target dataset (`phasezoo data list`), e.g. `mnist` for a Fashion-MNIST zoo or
    /// `stl10` for a CIFAR-10 zoo (its images resized to the zoo's side).
    pub dataset: String,
    /// Which transfers: `probe` and/or `full`. Default both.
    pub modes: Vec<String>,
    /// Epochs over the target's training images. Default 3.
    pub epochs: u32,
    /// Batch size. Default 128.
    pub batch_size: u32,
    /// Learning rate of full fine-tuning. Default 0.01.
    pub lr: f64,
    /// Learning rate of the linear probe. Default 0.1.
    pub probe_lr: f64,
    /// SGD momentum. Default 0.9.
    pub momentum: f64,
    /// Weight decay (L2 in the gradient, PyTorch SGD's). Default 5e-4.
    pub weight_decay: f64,
    /// Use the first n target training images only (0: all).
    pub train_subset: usize,
    /// Score on the first n target test images only (0: all).
    pub test_subset: usize,
    /// The target's train-time augmentation. Default off.
    pub augment: bool,
    /// Seed of the data order (with each model's own seed).
    pub seed: u64,
}

impl Default for FinetuneConfig {
    fn default() -> Self {
        Self {
            dataset: String::new(),
            modes: vec!["probe".into(), "full".into()],
            epochs: 3,
            batch_size: 128,
            lr: 0.01,
            probe_lr: 0.1,
            momentum: 0.9,
            weight_decay: 5e-4,
            train_subset: 0,
            test_subset: 0,
            augment: false,
            seed: 0,
        }
    }
}

/// The transfers `modes` may name.
pub const FINETUNE_MODES: [&str; 2] = ["probe", "full"];

impl FinetuneConfig {
    /// Checks every setting, naming the first bad one and its fix.
    ///
    /// # Errors
    /// A message `finetune.<key> = <value>: <what it must be>`.
    pub fn validate(&self) -> Result<(), String> {
        let bad =
            |key: &str, value: String, expected: &str| Err(format!("finetune.{key} = {value}: {expected}"));
        if self.dataset.is_empty() {
            return bad("dataset", "\"\"".into(), "name the target dataset, e.g. \"mnist\" or \"stl10\"");
        }
        if self.modes.is_empty() || self.modes.iter().any(|m| !FINETUNE_MODES.contains(&m.as_str())) {
            return bad("modes", format!("{:?}", self.modes), "one or both of \"probe\" and \"full\"");
        }
        if self.epochs == 0 {
            return bad("epochs", "0".into(), "at least 1 (e.g. 3)");
        }
        if self.batch_size == 0 {
            return bad("batch_size", "0".into(), "at least 1 (e.g. 128)");
        }
        for (key, v) in [("lr", self.lr), ("probe_lr", self.probe_lr)] {
            if !(v.is_finite() && v > 0.0) {
                return bad(key, v.to_string(), "finite and > 0");
            }
        }
        for (key, v) in [("momentum", self.momentum), ("weight_decay", self.weight_decay)] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(key, v.to_string(), "finite and >= 0");
            }
        }
        Ok(())
    }
}

/// `[finetune]` read and checked ([`FinetuneConfig::validate`]).
pub(crate) fn valid<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<FinetuneConfig>, D::Error> {
    let cfg = FinetuneConfig::deserialize(d)?;
    cfg.validate().map_err(serde::de::Error::custom)?;
    Ok(Some(cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_needs_a_dataset_and_bad_settings_name_their_key() {
        assert_eq!(
            FinetuneConfig::default().validate().unwrap_err(),
            "finetune.dataset = \"\": name the target dataset, e.g. \"mnist\" or \"stl10\""
        );
        let ok = FinetuneConfig { dataset: "mnist".into(), ..FinetuneConfig::default() };
        assert_eq!(ok.validate(), Ok(()));
        let modes = FinetuneConfig { modes: vec!["linear".into()], ..ok.clone() };
        assert!(modes.validate().unwrap_err().starts_with("finetune.modes = [\"linear\"]"));
        let lr = FinetuneConfig { lr: 0.0, ..ok.clone() };
        assert!(lr.validate().unwrap_err().starts_with("finetune.lr = 0: finite and > 0"));
        let epochs = FinetuneConfig { epochs: 0, ..ok };
        assert!(epochs.validate().unwrap_err().starts_with("finetune.epochs = 0"));
    }
}
