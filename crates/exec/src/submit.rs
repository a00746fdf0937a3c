//! One submission of `phasezoo work` workers to a cluster engine (`phasezoo submit`): the
//! workers' common settings, the engine's own ([`Engine`]), and the lines that tell the user
//! what was submitted (or, on a dry run, what would be).

use std::path::PathBuf;

use crate::ray::{self, RayError, RayJob};
use crate::slurm::{self, SlurmError, SlurmJob};

/// Workers of one zoo, whichever engine starts them.
#[derive(Debug, Clone)]
pub struct Submission {
    /// The zoo folder, absolute (workers start elsewhere).
    pub zoo: PathBuf,
    /// The phasezoo binary the workers run.
    pub phasezoo: PathBuf,
    /// The job's name.
    pub name: String,
    /// Workers in all.
    pub tasks: u32,
    /// GPUs per worker: Slurm whole GPUs, Ray fractions too; 0 for CPU workers.
    pub gpus_per_task: f64,
    /// Each worker's `--device`.
    pub device: Option<String>,
    /// Each worker's `--lease-secs`.
    pub lease_secs: Option<u64>,
    /// Restarts of a worker that died on its own.
    pub max_restarts: u32,
    /// What the workers do: "work", "metrics" or "apply" (Slurm names its script by it).
    pub kind: String,
    /// The rest of each worker's `phasezoo work` arguments.
    pub work_args: Vec<String>,
}

/// The engine and its own settings.
#[derive(Debug, Clone)]
pub enum Engine {
    /// A Slurm job array (`sbatch`).
    Slurm {
        /// At most this many tasks at once.
        array_throttle: Option<u32>,
        /// GPU shards per task instead of whole GPUs.
        gpu_shards: Option<u32>,
        /// The partition.
        partition: Option<String>,
        /// Time limit per task.
        time: Option<String>,
    },
    /// Ray jobs (`ray job submit`).
    Ray {
        /// The dashboard's address.
        address: String,
        /// CPUs reserved per worker.
        cpus_per_task: Option<f64>,
        /// The `ray` program.
        program: String,
    },
}

/// A submission refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// Slurm gives whole GPUs.
    #[error("--gpus-per-task {0}: Slurm gives whole GPUs\n  hint: use --gpu-shards N for part of a GPU (where the cluster configures shards)")]
    WholeGpus(f64),
    /// The Slurm backend failed.
    #[error(transparent)]
    Slurm(#[from] SlurmError),
    /// The Ray backend failed.
    #[error(transparent)]
    Ray(#[from] RayError),
    /// The dry run's script, written, could not be read back.
    #[error("cannot read {path}: {source}")]
    ReadScript {
        /// The script.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Submit `sub` to `engine` (or, with `dry_run`, only write the script / build the commands);
/// the text to show, each piece ending in a newline: job ids, or on a dry run the Slurm script
/// or the `ray job submit` command lines.
///
/// # Errors
/// Fractional GPUs for Slurm, or the backend's failure.
pub fn submit(sub: &Submission, engine: &Engine, dry_run: bool) -> Result<Vec<String>, SubmitError> {
    match engine {
        Engine::Ray { address, cpus_per_task, program } => {
            // Ray passes every worker flag on the command line.
            let mut work_args: Vec<String> = [
                sub.device.as_ref().map(|d| ["--device".to_string(), d.clone()]),
                sub.lease_secs.map(|l| ["--lease-secs".to_string(), l.to_string()]),
            ]
            .into_iter()
            .flatten()
            .flatten()
            .collect();
            work_args.extend(sub.work_args.iter().cloned());
            let job = RayJob {
                address: address.clone(),
                zoo: sub.zoo.clone(),
                phasezoo: sub.phasezoo.clone(),
                name: sub.name.clone(),
                tasks: sub.tasks,
                gpus_per_task: sub.gpus_per_task,
                cpus_per_task: *cpus_per_task,
                work_args,
                max_restarts: sub.max_restarts,
            };
            Ok(ray::submit(&job, program, dry_run)?
                .into_iter()
                .map(|s| {
                    if dry_run {
                        let words: Vec<String> = s.command.iter().map(|w| format!("{w:?}")).collect();
                        format!("{program} {}\n", words.join(" "))
                    } else {
                        format!("submitted ray job {}\n", s.submission_id)
                    }
                })
                .collect())
        }
        Engine::Slurm { array_throttle, gpu_shards, partition, time } => {
            if sub.gpus_per_task.fract() != 0.0 || sub.gpus_per_task < 0.0 {
                return Err(SubmitError::WholeGpus(sub.gpus_per_task));
            }
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // whole and not negative
            let gpus_per_task = sub.gpus_per_task as u32;
            let job = SlurmJob {
                zoo: sub.zoo.clone(),
                phasezoo: sub.phasezoo.clone(),
                name: sub.name.clone(),
                tasks: sub.tasks,
                array_throttle: *array_throttle,
                gpus_per_task,
                gpu_shards: *gpu_shards,
                partition: partition.clone(),
                time: time.clone(),
                device: sub.device.clone(),
                lease_secs: sub.lease_secs,
                max_restarts: sub.max_restarts,
                kind: sub.kind.clone(),
                work_args: sub.work_args.clone(),
            };
            let mut out = Vec::new();
            for s in slurm::submit(&job, None, dry_run)? {
                out.push(match &s.job_id {
                    Some(id) => format!("submitted job {id}: {} tasks ({})\n", s.tasks, s.script.display()),
                    None => std::fs::read_to_string(&s.script)
                        .map_err(|source| SubmitError::ReadScript { path: s.script.clone(), source })?,
                });
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn submission(gpus: f64) -> Submission {
        Submission {
            zoo: PathBuf::from("/zoos/z"),
            phasezoo: PathBuf::from("/bin/phasezoo"),
            name: "pz-z".into(),
            tasks: 2,
            gpus_per_task: gpus,
            device: Some("cuda".into()),
            lease_secs: Some(60),
            max_restarts: 3,
            kind: "metrics".into(),
            work_args: vec!["--metrics".into()],
        }
    }

    #[test]
    fn slurm_refuses_part_of_a_gpu_with_the_fix() {
        let engine = Engine::Slurm { array_throttle: None, gpu_shards: None, partition: None, time: None };
        let err = submit(&submission(0.5), &engine, true).unwrap_err().to_string();
        assert!(err.contains("--gpus-per-task 0.5") && err.contains("--gpu-shards"), "{err}");
    }

    #[test]
    fn a_ray_dry_run_prints_one_command_per_worker_with_every_worker_flag() {
        let engine =
            Engine::Ray { address: "http://head:8265".into(), cpus_per_task: None, program: "ray".into() };
        let lines = submit(&submission(0.25), &engine, true).unwrap();
        assert_eq!(lines.len(), 2, "{lines:?}");
        for line in &lines {
            assert!(line.starts_with("ray ") && line.ends_with('\n'), "{line}");
            // The worker's command line, shell-quoted inside the entrypoint.
            for word in ["'--device' 'cuda'", "'--lease-secs' '60'", "'--metrics'", "'/zoos/z'", "\"0.25\""] {
                assert!(line.contains(word), "{word} missing in {line}");
            }
        }
    }
}
