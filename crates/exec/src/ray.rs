//! Ray jobs of `phasezoo work` (docs/CLUSTER.md): each worker is one job submitted with
//! `ray job submit` to a running Ray cluster, holding a fraction of a GPU
//! (`--entrypoint-num-gpus`), so several small-model workers share one GPU. Workers claim units
//! on the shared zoo folder exactly as Slurm's array tasks do; Ray only places them.
//!
//! A job runs its worker again when the worker dies on its own (killed, out of host memory), at
//! most `max_restarts` times; a job lost with its node is not rerun by Ray: submit again, and
//! the new workers take over the dead ones' units once their leases run out.

use std::path::PathBuf;
use std::process::Command;

/// What goes wrong submitting.
#[derive(Debug, thiserror::Error)]
pub enum RayError {
    /// `ray job submit` could not run or refused the job.
    #[error("{program} job submit (job {submission_id}): {message}\n  hint: is the Ray dashboard at that address (`ray status`)? Set PHASEZOO_RAY to the `ray` program if it is not on PATH; `--dry-run` prints the commands")]
    Submit {
        /// The `ray` program run.
        program: String,
        /// The job's submission id.
        submission_id: String,
        /// ray's output, or why it did not start.
        message: String,
    },
}

/// Workers of one zoo as Ray jobs.
#[derive(Debug, Clone)]
pub struct RayJob {
    /// The Ray dashboard's address (`http://127.0.0.1:8265`, or `host:port`).
    pub address: String,
    /// The zoo folder, absolute (on a filesystem every Ray node sees).
    pub zoo: PathBuf,
    /// The `phasezoo` binary the jobs run, absolute (on every node).
    pub phasezoo: PathBuf,
    /// Prefix of the jobs' submission ids.
    pub name: String,
    /// Workers (jobs) in all.
    pub tasks: u32,
    /// GPUs per worker, fractions allowed (`0.25`: four workers share a GPU); 0 for CPU workers.
    pub gpus_per_task: f64,
    /// CPUs per worker (Ray's default for a job's entrypoint is none reserved).
    pub cpus_per_task: Option<f64>,
    /// Arguments after `phasezoo work DIR` (`--device`, `--lease-secs`, `--metrics`, …).
    pub work_args: Vec<String>,
    /// A worker that dies on its own is started again at most this many times.
    pub max_restarts: u32,
}

/// One job submitted (or, for a dry run, the command that would submit it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaySubmitted {
    /// Its submission id (`<name>-<unix ms>-<k>`).
    pub submission_id: String,
    /// The `ray job submit` arguments.
    pub command: Vec<String>,
}

/// Single-quote `s` for a POSIX shell.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The shell script a job runs (`sh -c`): the worker,
/// started again after a death of its own, at most `max_restarts` times. Exit 0 (no unit
/// left) and 130 (stopped: `ray job stop`) end it.
#[must_use]
pub fn entrypoint(job: &RayJob, submission_id: &str) -> String {
    let mut work = format!(
        "{} work {}",
        quote(&job.phasezoo.display().to_string()),
        quote(&job.zoo.display().to_string())
    );
    for a in &job.work_args {
        work.push(' ');
        work.push_str(&quote(a));
    }
    let restarts: Vec<String> = (0..=job.max_restarts).map(|r| r.to_string()).collect();
    format!(
        "for r in {}; do {work} --worker-id \"{}-r$r\"; rc=$?; if [ $rc -eq 0 ] || [ $rc -eq 130 ]; then exit $rc; fi; echo \"phasezoo: worker ended with $rc\" >&2; done; exit $rc",
        restarts.join(" "),
        submission_id
    )
}

/// The `ray job submit` arguments of job `k`.
#[must_use]
pub fn submit_args(job: &RayJob, submission_id: &str) -> Vec<String> {
    let mut a: Vec<String> =
        ["job", "submit", "--address", &job.address, "--submission-id", submission_id, "--no-wait"]
            .iter()
            .map(ToString::to_string)
            .collect();
    if job.gpus_per_task > 0.0 {
        a.extend(["--entrypoint-num-gpus".to_string(), job.gpus_per_task.to_string()]);
    }
    if let Some(c) = job.cpus_per_task {
        a.extend(["--entrypoint-num-cpus".to_string(), c.to_string()]);
    }
    // `ray job submit` quotes the words after `--` into one shell line (as shlex.join), so the
    // script goes as one word of `sh -c`.
    a.extend(["--".to_string(), "sh".to_string(), "-c".to_string(), entrypoint(job, submission_id)]);
    a
}

/// Submit `job`'s workers with `program` (`ray`, or `$PHASEZOO_RAY`); a dry run only returns
/// the commands.
///
/// # Errors
/// `ray job submit` fails (the jobs submitted before it keep running).
pub fn submit(job: &RayJob, program: &str, dry_run: bool) -> Result<Vec<RaySubmitted>, RayError> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let mut out = Vec::new();
    for k in 0..job.tasks {
        let submission_id = format!("{}-{stamp}-{k}", job.name);
        let command = submit_args(job, &submission_id);
        if !dry_run {
            let fail = |message: String| RayError::Submit {
                program: program.to_string(),
                submission_id: submission_id.clone(),
                message,
            };
            let ran = Command::new(program).args(&command).output().map_err(|e| fail(e.to_string()))?;
            if !ran.status.success() {
                let text = format!(
                    "{}{}",
                    String::from_utf8_lossy(&ran.stdout),
                    String::from_utf8_lossy(&ran.stderr)
                );
                return Err(fail(text.trim().to_string()));
            }
        }
        out.push(RaySubmitted { submission_id, command });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> RayJob {
        RayJob {
            address: "http://127.0.0.1:8265".into(),
            zoo: "/shared/my zoo".into(),
            phasezoo: "/opt/bin/phasezoo".into(),
            name: "pz-zoo".into(),
            tasks: 3,
            gpus_per_task: 0.25,
            cpus_per_task: Some(1.0),
            work_args: vec!["--device".into(), "cuda".into(), "--metrics".into()],
            max_restarts: 2,
        }
    }

    #[test]
    fn a_job_asks_a_fraction_of_a_gpu_and_runs_the_quoted_worker_with_restarts() {
        let a = submit_args(&job(), "pz-zoo-1-0");
        let at = |flag: &str| a.iter().position(|x| x == flag).map(|i| a[i + 1].as_str());
        assert_eq!(at("--address"), Some("http://127.0.0.1:8265"));
        assert_eq!(at("--entrypoint-num-gpus"), Some("0.25"));
        assert_eq!(at("--entrypoint-num-cpus"), Some("1"));
        assert_eq!(at("--submission-id"), Some("pz-zoo-1-0"));
        assert!(a.contains(&"--no-wait".to_string()));
        let sep = a.iter().position(|x| x == "--").expect("--");
        assert_eq!(a[sep + 1..sep + 3], ["sh", "-c"], "{a:?}");
        assert_eq!(a.len(), sep + 4, "the script is one argument: {a:?}");
        let e = &a[sep + 3];
        assert!(
            e.contains("'/opt/bin/phasezoo' work '/shared/my zoo' '--device' 'cuda' '--metrics' --worker-id \"pz-zoo-1-0-r$r\""),
            "{e}"
        );
        assert!(e.starts_with("for r in 0 1 2; do "), "{e}");
        let cpu = submit_args(&RayJob { gpus_per_task: 0.0, cpus_per_task: None, ..job() }, "x");
        assert!(!cpu.iter().any(|x| x.starts_with("--entrypoint-num")), "{cpu:?}");
    }

    /// The entrypoint, run by sh as Ray runs it, restarts a worker that died and stops at
    /// success or at a stop (130).
    #[test]
    fn the_entrypoint_restarts_a_dying_worker_and_stops_on_success_or_stop() {
        let tmp = tempfile::tempdir().unwrap();
        let count = tmp.path().join("count");
        let fake = tmp.path().join("phasezoo");
        // Fails with 9 twice, then exits with $FINAL.
        std::fs::write(
            &fake,
            format!(
                "#!/bin/sh\necho x >> '{}'\n[ $(wc -l < '{}') -ge 3 ] && exit $FINAL\nexit 9\n",
                count.display(),
                count.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        for (restarts, last, runs, rc) in [(5, 0, 3, 0), (5, 130, 3, 130), (1, 0, 2, 9)] {
            let _ = std::fs::remove_file(&count);
            let j = RayJob { phasezoo: fake.clone(), max_restarts: restarts, ..job() };
            let status = Command::new("sh")
                .arg("-c")
                .arg(entrypoint(&j, "id"))
                .env("FINAL", last.to_string())
                .stderr(std::process::Stdio::null())
                .status()
                .unwrap();
            let ran = std::fs::read_to_string(&count).unwrap().lines().count();
            assert_eq!((ran, status.code()), (runs, Some(rc)), "restarts {restarts}, final {last}");
        }
    }
}
