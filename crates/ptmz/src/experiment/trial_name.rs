//! Ray Tune trial folder names (SPEC §2.1):
//! `{trainable}_{trial_id}_{index}_{tags}_{date}`, e.g.
//! `NN_tune_trainable_bf0b6_00005_5_model_width=64,optim_lr=0.1000,optim_wd=0.0005,seed=0,training_batchsize=1024_2024-05-22_11-30-52`,
//! where the trial id is five hex digits and a five-digit index, the tags are the grid values
//! Ray formatted (floats to 4 decimals, so `params.json` stays the authority), and the date is
//! when the trial started.

/// A parsed trial folder name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrialName {
    /// The trainable, e.g. `NN_tune_trainable`.
    pub trainable: String,
    /// Ray's trial id, e.g. `bf0b6_00005`.
    pub trial_id: String,
    /// The trial's index in the experiment (the number after the id; SPEC §2.1 gives its order:
    /// width fastest, then seed, then batch size).
    pub index: u32,
    /// `key=value` grid tags in folder order, keys as Ray spells them (`model_width`).
    pub tags: Vec<(String, String)>,
    /// `YYYY-MM-DD_HH-MM-SS`, when present.
    pub date: Option<String>,
}

impl TrialName {
    /// Parse a folder name; `None` if it is not a Ray trial folder.
    #[must_use]
    pub fn parse(folder: &str) -> Option<TrialName> {
        let (rest, date) = match folder.len().checked_sub(20).map(|i| folder.split_at(i)) {
            Some((rest, tail)) if tail.starts_with('_') && is_date(&tail[1..]) => {
                (rest, Some(tail[1..].to_owned()))
            }
            _ => (folder, None),
        };
        let tokens: Vec<&str> = rest.split('_').collect();
        let at = (1..tokens.len().saturating_sub(2)).find(|&i| {
            let hex = tokens[i].len() == 5 && tokens[i].bytes().all(|b| b.is_ascii_hexdigit());
            let number = tokens[i + 1].len() == 5 && tokens[i + 1].bytes().all(|b| b.is_ascii_digit());
            hex && number && !tokens[i + 2].is_empty() && tokens[i + 2].bytes().all(|b| b.is_ascii_digit())
        })?;
        let tag_text = tokens[at + 3..].join("_");
        let tags = tag_text
            .split(',')
            .filter_map(|part| part.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
            .collect();
        Some(TrialName {
            trainable: tokens[..at].join("_"),
            trial_id: format!("{}_{}", tokens[at], tokens[at + 1]),
            index: tokens[at + 2].parse().ok()?,
            tags,
            date,
        })
    }

    /// The tag for a `params.json` key (`model::width` is tagged `model_width`).
    #[must_use]
    pub fn tag(&self, param_key: &str) -> Option<&str> {
        let wanted = tag_key(param_key);
        self.tags.iter().find(|(k, _)| *k == wanted).map(|(_, v)| v.as_str())
    }
}

/// How Ray spells a config key in a tag: each run of characters other than letters, digits,
/// `.` and `-` becomes one `_`.
pub(crate) fn tag_key(param_key: &str) -> String {
    let mut out = String::with_capacity(param_key.len());
    for c in param_key.chars() {
        if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 19
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 | 13 | 16 => c == b'-',
            10 => c == b'_',
            _ => c.is_ascii_digit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_published_example_parses() {
        let name = TrialName::parse(
            "NN_tune_trainable_bf0b6_00005_5_model_width=64,optim_lr=0.1000,optim_wd=0.0005,seed=0,training_batchsize=1024_2024-05-22_11-30-52",
        )
        .unwrap();
        assert_eq!(name.trainable, "NN_tune_trainable");
        assert_eq!((name.trial_id.as_str(), name.index), ("bf0b6_00005", 5));
        assert_eq!(name.date.as_deref(), Some("2024-05-22_11-30-52"));
        assert_eq!(name.tag("model::width"), Some("64"));
        assert_eq!(name.tag("training::batchsize"), Some("1024"));
        assert_eq!(name.tag("optim::lr"), Some("0.1000"));
        assert_eq!(name.tag("seed"), Some("0"));
    }

    #[test]
    fn names_without_a_date_or_with_a_cut_tag_still_parse() {
        let name = TrialName::parse("NN_tune_trainable_0a1b2_00017_17_model_width=8,seed=1,training_batchs")
            .unwrap();
        assert_eq!(name.date, None);
        assert_eq!(name.tags.len(), 2);
    }

    #[test]
    fn other_folders_are_not_trials() {
        for folder in [
            "config.json",
            "hessian_cifar10_Resnet18_width_kaiming_uniform_115eps_width_2-256",
            "NN_tune_trainable",
            "",
        ] {
            assert_eq!(TrialName::parse(folder), None, "{folder}");
        }
    }
}
