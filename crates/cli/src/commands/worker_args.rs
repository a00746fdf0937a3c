//! What a worker works on: the flags of `phasezoo work` that `phasezoo submit` takes too and hands
//! on to the workers it starts, declared once so that the two cannot drift apart.

use crate::commands::apply_args::{ApplicationArg, Flags};

/// What a worker works on: training units (the default), measuring units (`--metrics`) or the
/// cells of an application (`--apply NAME`).
// The help texts are `work`'s; `submit` rewords them with `mut_arg`, as it submits workers.
#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// Measure instead of training: claim measuring units (whole cells) and write their
    /// models' metrics.json, as `phasezoo metrics` does.
    #[arg(long, conflicts_with = "apply")]
    pub metrics: bool,
    /// With --metrics: checkpoint epochs to measure (as `phasezoo metrics --epochs`).
    #[arg(long, value_delimiter = ',', requires = "metrics")]
    pub epochs: Vec<u32>,
    /// With --metrics: every kept checkpoint (as `phasezoo metrics --all-epochs`).
    #[arg(long, requires = "metrics", conflicts_with = "epochs")]
    pub all_epochs: bool,
    /// With --metrics: only these metrics (as `phasezoo metrics --only`).
    #[arg(long, value_delimiter = ',', requires = "metrics")]
    pub only: Vec<String>,
    /// Apply instead of training: claim the finished cells and write applications.json, as
    /// `phasezoo apply NAME` does.
    #[arg(long, value_enum)]
    pub apply: Option<ApplicationArg>,
    #[command(flatten)]
    pub apply_flags: Flags,
}

impl WorkerArgs {
    /// What the worker does, in words: measuring, applying or training.
    pub fn activity(&self) -> &'static str {
        match (self.metrics, self.apply) {
            (true, _) => "measuring",
            (false, Some(_)) => "applying",
            (false, None) => "training",
        }
    }

    /// These flags as `phasezoo work` takes them (for `submit`'s Slurm script and Ray jobs);
    /// none for training, the default.
    pub fn to_args(&self) -> Vec<String> {
        let mut a = Vec::new();
        if self.metrics {
            a.push("--metrics".to_string());
            if !self.epochs.is_empty() {
                let list: Vec<String> = self.epochs.iter().map(u32::to_string).collect();
                a.extend(["--epochs".to_string(), list.join(",")]);
            }
            if self.all_epochs {
                a.push("--all-epochs".to_string());
            }
            if !self.only.is_empty() {
                a.extend(["--only".to_string(), self.only.join(",")]);
            }
        } else if let Some(application) = self.apply {
            a.extend(["--apply".to_string(), application.arg_name()]);
            a.extend(self.apply_flags.to_args());
        }
        a
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::WorkerArgs;

    #[derive(Parser)]
    struct Work {
        #[command(flatten)]
        work: WorkerArgs,
    }

    /// `to_args` of the flags parsed from `line`, and of those parsed again from that (a worker
    /// that `submit` started must get what `submit` was given).
    fn round_trip(line: &[&str]) -> (Vec<String>, Vec<String>) {
        let args =
            Work::try_parse_from(std::iter::once("work").chain(line.iter().copied())).unwrap().work.to_args();
        let again = Work::try_parse_from(std::iter::once("work".to_string()).chain(args.clone())).unwrap();
        (args, again.work.to_args())
    }

    #[test]
    fn to_args_gives_the_flags_back_as_work_takes_them() {
        let cases: [(&[&str], &[&str]); 6] = [
            (&[], &[]),
            (&["--metrics"], &["--metrics"]),
            (
                &["--metrics", "--epochs", "3,5", "--only=cka"],
                &["--metrics", "--epochs", "3,5", "--only", "cka"],
            ),
            (
                &["--metrics", "--all-epochs", "--only", "llc"],
                &["--metrics", "--all-epochs", "--only", "llc"],
            ),
            (&["--apply", "interpolate"], &["--apply", "interpolate", "--points", "11"]),
            (
                &["--apply", "average-seeds", "--no-align", "--ptmz-compat", "--points", "5"],
                &["--apply", "average-seeds", "--ptmz-compat", "--no-align", "--points", "5"],
            ),
        ];
        for (line, want) in cases {
            let (args, again) = round_trip(line);
            assert_eq!(args, want, "{line:?}");
            assert_eq!(again, args, "{line:?} parsed again");
        }
    }

    #[test]
    fn metrics_and_apply_exclude_each_other_and_epochs_needs_metrics() {
        let err =
            |line: &[&str]| Work::try_parse_from(std::iter::once("work").chain(line.iter().copied())).err();
        assert!(err(&["--metrics", "--apply", "ensemble"])
            .is_some_and(|e| e.to_string().contains("cannot be used with")));
        assert!(err(&["--epochs", "3"]).is_some_and(|e| e.to_string().contains("--metrics")));
        assert!(err(&["--only", "cka"]).is_some_and(|e| e.to_string().contains("--metrics")));
        assert!(err(&["--all-epochs"]).is_some_and(|e| e.to_string().contains("--metrics")));
        assert!(err(&["--metrics", "--all-epochs", "--epochs", "2"])
            .is_some_and(|e| e.to_string().contains("cannot be used with")));
    }
}
