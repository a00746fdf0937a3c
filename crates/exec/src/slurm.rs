//! Slurm job arrays of `phasezoo work` (docs/CLUSTER.md): the sbatch script, its chunking under
//! the cluster's `MaxArraySize`, and the submission. Each task is one worker; workers claim
//! units on the shared zoo folder, so the number of tasks is how many GPUs the zoo uses at once,
//! not how the work is split.

use std::path::{Path, PathBuf};
use std::process::Command;

/// What goes wrong submitting.
#[derive(Debug, thiserror::Error)]
pub enum SlurmError {
    /// Writing the script failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The script.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// `sbatch` could not run or refused the script.
    #[error(
        "sbatch {script}: {message}\n  hint: run `phasezoo submit --dry-run` and try the script by hand"
    )]
    Sbatch {
        /// The script.
        script: PathBuf,
        /// sbatch's stderr, or why it did not start.
        message: String,
    },
}

/// A job array of workers for one zoo.
#[derive(Debug, Clone)]
pub struct SlurmJob {
    /// The zoo folder, absolute (tasks start elsewhere).
    pub zoo: PathBuf,
    /// The `phasezoo` binary the tasks run, absolute.
    pub phasezoo: PathBuf,
    /// Job name.
    pub name: String,
    /// Workers (array tasks) in all.
    pub tasks: u32,
    /// At most this many tasks run at once (`%K`).
    pub array_throttle: Option<u32>,
    /// Whole GPUs per task (`--gres=gpu:N`); 0: none.
    pub gpus_per_task: u32,
    /// GPU shards per task instead (`--gres=shard:N`, several workers on one GPU).
    pub gpu_shards: Option<u32>,
    /// `--partition`.
    pub partition: Option<String>,
    /// `--time`.
    pub time: Option<String>,
    /// `--device` of each worker (default: the zoo's run.device).
    pub device: Option<String>,
    /// `--lease-secs` of each worker.
    pub lease_secs: Option<u64>,
    /// A worker killed by a signal requeues its task at most this many times.
    pub max_restarts: u32,
    /// What the workers do (`work`, `metrics`, `apply`): names the scripts.
    pub kind: String,
    /// More arguments of each worker (`--metrics --epochs 5`, `--apply ensemble`, …).
    pub work_args: Vec<String>,
}

/// One script written (and submitted).
#[derive(Debug, Clone)]
pub struct Submitted {
    /// The sbatch script, under `<zoo>/slurm/`.
    pub script: PathBuf,
    /// Array indexes it covers.
    pub tasks: u32,
    /// The job id sbatch printed; `None` for a dry run.
    pub job_id: Option<String>,
}

/// Array sizes, in order, that cover `tasks` with each array under `max_array_size`
/// (Slurm's `MaxArraySize`: indexes must be below it, so an array holds at most that many).
#[must_use]
pub fn array_chunks(tasks: u32, max_array_size: u32) -> Vec<u32> {
    let max = max_array_size.max(1);
    let mut left = tasks;
    let mut out = Vec::new();
    while left > 0 {
        let n = left.min(max);
        out.push(n);
        left -= n;
    }
    out
}

/// `MaxArraySize` from `scontrol show config`, when scontrol runs.
#[must_use]
pub fn max_array_size() -> Option<u32> {
    let out = Command::new("scontrol").args(["show", "config"]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().find_map(|l| {
        let (key, value) = l.split_once('=')?;
        (key.trim() == "MaxArraySize").then(|| value.trim().parse().ok()).flatten()
    })
}

/// Single-quote `s` for bash.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The sbatch script of chunk `chunk`, an array of `size` tasks.
#[must_use]
pub fn sbatch_script(job: &SlurmJob, chunk: usize, size: u32) -> String {
    let zoo = job.zoo.display().to_string();
    let mut s = String::from("#!/bin/bash\n");
    let mut directive = |d: String| {
        s.push_str("#SBATCH ");
        s.push_str(&d);
        s.push('\n');
    };
    directive(format!("--job-name={}", job.name));
    let throttle = job.array_throttle.map(|k| format!("%{k}")).unwrap_or_default();
    directive(format!("--array=0-{}{throttle}", size.saturating_sub(1)));
    directive("--requeue".into());
    directive("--ntasks=1".into());
    if let Some(shards) = job.gpu_shards {
        directive(format!("--gres=shard:{shards}"));
    } else if job.gpus_per_task > 0 {
        directive(format!("--gres=gpu:{}", job.gpus_per_task));
    }
    if let Some(p) = &job.partition {
        directive(format!("--partition={p}"));
    }
    if let Some(t) = &job.time {
        directive(format!("--time={t}"));
    }
    directive(format!("--output={zoo}/slurm/%x-{chunk}-%A_%a.out"));
    directive("--open-mode=append".into());
    let mut work = format!("{} work {}", quote(&job.phasezoo.display().to_string()), quote(&zoo));
    if let Some(d) = &job.device {
        work.push_str(&format!(" --device {}", quote(d)));
    }
    if let Some(l) = job.lease_secs {
        work.push_str(&format!(" --lease-secs {l}"));
    }
    for a in &job.work_args {
        work.push(' ');
        work.push_str(&quote(a));
    }
    s.push_str(&format!(
        r#"# Written by `phasezoo submit`: each task is one worker claiming units of the zoo.
task="${{SLURM_ARRAY_JOB_ID}}_${{SLURM_ARRAY_TASK_ID}}"
restarts="${{SLURM_RESTART_COUNT:-0}}"
echo "phasezoo: task $task (job $SLURM_JOB_ID) start $restarts on $(hostname)"
# The worker runs as a job step, so a step killed on its own (scancel --signal=KILL JOB) leaves
# this script alive to requeue the task; its units are taken over once their leases run out.
srun --ntasks=1 {work} --worker-id "slurm-$task-r$restarts"
rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 130 ] && [ "$restarts" -lt {max} ]; then
    echo "phasezoo: worker ended with $rc; requeueing task $task"
    scontrol requeue "$SLURM_JOB_ID"
    sleep 600 # requeue ends this script; never report the failure first
fi
exit "$rc"
"#,
        max = job.max_restarts
    ));
    s
}

/// Write the scripts under `<zoo>/slurm/<kind>-<chunk>.sbatch` (chunked under `max_array_size`, else
/// [`max_array_size`], else 1001, Slurm's default) and, unless `dry_run`, submit each with
/// `sbatch --parsable`.
///
/// # Errors
/// A script cannot be written, or sbatch fails.
pub fn submit(job: &SlurmJob, max_array: Option<u32>, dry_run: bool) -> Result<Vec<Submitted>, SlurmError> {
    let max = max_array.or_else(max_array_size).unwrap_or(1001);
    let dir = job.zoo.join("slurm");
    let mut out = Vec::new();
    for (chunk, size) in array_chunks(job.tasks, max).into_iter().enumerate() {
        let script = dir.join(format!("{}-{chunk}.sbatch", job.kind));
        write(&script, &sbatch_script(job, chunk, size))?;
        let job_id = if dry_run { None } else { Some(sbatch(&script)?) };
        out.push(Submitted { script, tasks: size, job_id });
    }
    Ok(out)
}

fn write(path: &Path, text: &str) -> Result<(), SlurmError> {
    let err = |source| SlurmError::Write { path: path.into(), source };
    std::fs::create_dir_all(path.parent().unwrap_or(Path::new("."))).map_err(err)?;
    std::fs::write(path, text).map_err(err)
}

fn sbatch(script: &Path) -> Result<String, SlurmError> {
    let fail = |message: String| SlurmError::Sbatch { script: script.into(), message };
    let out =
        Command::new("sbatch").arg("--parsable").arg(script).output().map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        return Err(fail(String::from_utf8_lossy(&out.stderr).trim().to_string()));
    }
    // `--parsable` prints `jobid[;cluster]`.
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text.trim().split(';').next().unwrap_or_default().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> SlurmJob {
        SlurmJob {
            zoo: "/shared/zoo".into(),
            phasezoo: "/opt/bin/phasezoo".into(),
            name: "pz-zoo".into(),
            tasks: 5,
            array_throttle: Some(2),
            gpus_per_task: 1,
            gpu_shards: None,
            partition: Some("gpu".into()),
            time: None,
            device: Some("cuda".into()),
            lease_secs: None,
            max_restarts: 3,
            kind: "work".into(),
            work_args: Vec::new(),
        }
    }

    #[test]
    fn arrays_stay_under_max_array_size() {
        assert_eq!(array_chunks(5, 1001), [5]);
        assert_eq!(array_chunks(2500, 1000), [1000, 1000, 500]);
        assert_eq!(array_chunks(0, 10), Vec::<u32>::new());
    }

    #[test]
    fn the_script_is_a_throttled_requeueable_array_of_workers_on_gres() {
        let s = sbatch_script(&job(), 0, 5);
        for line in
            ["#SBATCH --array=0-4%2", "#SBATCH --requeue", "#SBATCH --gres=gpu:1", "#SBATCH --partition=gpu"]
        {
            assert!(s.contains(line), "{line} missing:\n{s}");
        }
        assert!(s.contains("srun --ntasks=1 '/opt/bin/phasezoo' work '/shared/zoo' --device 'cuda'"), "{s}");
        let shards = sbatch_script(&SlurmJob { gpu_shards: Some(2), ..job() }, 0, 5);
        assert!(shards.contains("--gres=shard:2") && !shards.contains("gpu:1"), "{shards}");
        let metrics =
            SlurmJob { work_args: vec!["--metrics".into(), "--only".into(), "hessian".into()], ..job() };
        let m = sbatch_script(&metrics, 0, 5);
        assert!(
            m.contains("work '/shared/zoo' --device 'cuda' '--metrics' '--only' 'hessian' --worker-id"),
            "{m}"
        );
    }
}
