//! The one resumable training loop, for a population of any family ([`Population`]).
//!
//! Order of writes per epoch: every member's `result.json` first, then (on checkpoint epochs)
//! every member's checkpoint. A crash anywhere therefore leaves results that run at most to a
//! point the next run recomputes identically: on resume, results are cut back to the
//! checkpoint the population restarts from.

use std::sync::atomic::AtomicBool;

use pz_spec::{CheckpointPolicy, DeviceRequest, Layout, PlannedModel};
use pz_store::{Checkpoint, CheckpointLayout, EpochRecord, ModelDir, ModelState, ModelStatus, ZooDir};
use tch::Device;

use crate::epochs::{run_epochs, AfterEpoch, EpochsEnd};
use crate::population::{MemberEpoch, Population};
use crate::resume::{resume_point, Resume};
use crate::{Error, Reporter};

/// How a population's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every member reached its last epoch (done or failed).
    Finished,
    /// Stopped on request; rerun to resume from the last checkpoint.
    Interrupted,
}

/// The libtorch device for a request (`auto` = CUDA 0 when present). Multi-GPU requests are
/// spread by the caller; here `cuda` means the first GPU.
#[must_use]
pub fn resolve_device(request: DeviceRequest) -> Device {
    match request {
        DeviceRequest::Auto => Device::cuda_if_available(),
        DeviceRequest::Cpu => Device::Cpu,
        DeviceRequest::Cuda(n) => Device::Cuda(n.unwrap_or(0)),
    }
}

struct Member<'a> {
    plan: &'a PlannedModel,
    dir: ModelDir,
    records: Vec<EpochRecord>,
    failed: Option<String>,
}

/// What every training of one `train` run shares: where results go, the checkpoint policy, the
/// device, whether steps may run as CUDA graphs, the image layout, progress callbacks and the
/// stop flag.
#[derive(Clone, Copy)]
pub struct Run<'a> {
    /// The zoo written to.
    pub zoo: &'a ZooDir,
    /// Which epochs keep a checkpoint.
    pub policy: &'a CheckpointPolicy,
    /// The device trained on.
    pub device: Device,
    /// On CUDA, steps after the first replay one captured CUDA graph (`run.graph`).
    pub cuda_graphs: bool,
    /// On CUDA, PINN populations use phasezoo's fused kernels: Adam's, and in forward mode the
    /// sweep's (`run.fused_kernels`).
    pub fused_kernels: bool,
    /// On CUDA, the memory layout of image models (`run.layout`).
    pub layout: Layout,
    /// Progress callbacks.
    pub reporter: &'a dyn Reporter,
    /// Raised to stop at the next step (Ctrl-C).
    pub stop: &'a AtomicBool,
}

/// The one training loop: train the population `pop` of the models `plan` (member k is
/// `plan[k]`) to their last epoch, resuming from the newest intact checkpoint all members share
/// and their results reach (one failing a check is skipped with a warning). Members already done
/// must not be passed. Checks `run.stop` between steps.
///
/// Per epoch, every member's `result.json` is written first, then (on the policy's epochs) every
/// member's checkpoint, then the statuses. A member whose numbers turn non-finite is marked
/// failed with the epoch; once every member has failed, the epoch is checkpointed and the
/// population stops there (an image model, a population of one, stops at its divergence).
///
/// # Errors
/// I/O errors, libtorch errors.
pub fn run_population(run: &Run, plan: &[PlannedModel], pop: &mut dyn Population) -> Result<Outcome, Error> {
    let Run { zoo, policy, reporter, stop, .. } = *run;
    let mut members: Vec<Member> = plan
        .iter()
        .map(|p| Member { plan: p, dir: zoo.model(p.id()), records: Vec::new(), failed: None })
        .collect();
    let epochs = plan[0].config.train.epochs;
    let steps_per_epoch = pop.steps_per_epoch();
    // Joined on every way out, so that no background work (a kernel compile and its cache
    // write) outlives the run.
    let _background = JoinOnDrop(pop.start_background_work());
    for m in &members {
        let removed = m.dir.remove_partial_writes()?;
        if removed > 0 {
            tracing::info!(model = %m.plan.id(), removed, "removed partial writes of an interrupted run");
        }
    }

    // What each member's checkpoints must hold, known before any step.
    let layouts: Vec<CheckpointLayout> = (0..members.len()).map(|k| pop.checkpoint_layout(k)).collect();
    let dirs: Vec<&ModelDir> = members.iter().map(|m| &m.dir).collect();
    let resume = resume_point(&dirs, &layouts)?;
    let start_epoch = match resume {
        Some(Resume { epoch, checkpoints, records }) => {
            for (k, ((m, ckpt), records)) in members.iter_mut().zip(&checkpoints).zip(records).enumerate() {
                pop.restore(k, ckpt, m.plan.id().as_str())?;
                // A member that diverged before the crash stays failed.
                m.failed = records.iter().find(|r| !finite(r)).map(|r| diverged(r.epoch));
                m.records = records;
                tracing::info!(model = %m.plan.id(), epoch, "resuming from checkpoint");
            }
            epoch
        }
        None => {
            write_each(&members, |m| Ok(m.dir.write_params(&m.plan.config)?))?;
            let about = pop.describe();
            for m in &members {
                tracing::info!(model = %m.plan.id(), "starting from initialization {about}");
            }
            let initial = pop.initial();
            record_epoch(&mut members, &*pop, 0, initial)?;
            write_checkpoints(&members, &*pop, 0)?;
            0
        }
    };
    if members.iter().all(|m| m.failed.is_some()) {
        return finish(&members, reporter, start_epoch);
    }
    write_statuses(&members, |_| ModelState::Running, start_epoch)?;
    let k = members.len() as u64;
    reporter.on_population_start(members.len(), k * u64::from(start_epoch) * steps_per_epoch);

    let mut on_steps = |n| reporter.on_model_steps(n);
    let mut after_epoch = |pop: &dyn Population, epoch, train| {
        record_epoch(&mut members, pop, epoch, train)?;
        let all_failed = members.iter().all(|m| m.failed.is_some());
        if all_failed || policy.keeps(epoch, epochs) {
            write_checkpoints(&members, pop, epoch)?;
        }
        if all_failed {
            return Ok(AfterEpoch::Stop);
        }
        write_statuses(&members, |_| ModelState::Running, epoch)?;
        Ok(AfterEpoch::Continue)
    };
    let times = match run_epochs(pop, start_epoch + 1..=epochs, stop, &mut on_steps, &mut after_epoch)? {
        EpochsEnd::Interrupted => return Ok(Outcome::Interrupted),
        EpochsEnd::Stopped(epoch) => return finish(&members, reporter, epoch),
        EpochsEnd::Completed(times) => times,
    };
    #[allow(clippy::cast_precision_loss)]
    let model_steps_per_epoch = (k * steps_per_epoch) as f64;
    let epochs_run = f64::from(times.epochs);
    let (step_secs, first) = (times.step_secs, times.first_epoch_step_secs);
    let steady = (epochs_run > 1.0)
        .then(|| model_steps_per_epoch * (epochs_run - 1.0) / (step_secs - first).max(1e-9));
    tracing::info!(
        models = k,
        step_secs,
        first_epoch_step_secs = first,
        eval_and_io_secs = times.after_secs,
        model_steps_per_sec = model_steps_per_epoch * epochs_run / step_secs.max(1e-9),
        steady_model_steps_per_sec = steady.unwrap_or(f64::NAN),
        "population finished"
    );
    finish(&members, reporter, epochs)
}

/// Final statuses at `epoch`: failed with the reason, or done.
fn finish(members: &[Member], reporter: &dyn Reporter, epoch: u32) -> Result<Outcome, Error> {
    let done = |m: &Member| if m.failed.is_some() { ModelState::Failed } else { ModelState::Done };
    write_statuses(members, done, epoch)?;
    for m in members {
        reporter.on_model_done(m.plan.id(), done(m));
    }
    Ok(Outcome::Finished)
}

/// Whether a result line's numbers are all finite.
fn finite(r: &EpochRecord) -> bool {
    r.train_loss.is_finite() && r.test_loss.is_finite() && r.test_error.is_finite()
}

fn diverged(epoch: u32) -> String {
    format!("loss became non-finite at epoch {epoch}")
}

/// Evaluate, append each member's line to its result.json, and mark members whose numbers
/// turned non-finite as failed.
fn record_epoch(
    members: &mut [Member],
    pop: &dyn Population,
    epoch: u32,
    train: Vec<MemberEpoch>,
) -> Result<(), Error> {
    for (m, record) in members.iter_mut().zip(pop.records(epoch, train)) {
        if m.failed.is_none() && !finite(&record) {
            let message = diverged(epoch);
            tracing::warn!(model = %m.plan.id(), "{message}");
            m.failed = Some(message);
        }
        tracing::info!(
            model = %m.plan.id(),
            epoch,
            train_loss = record.train_loss,
            test_loss = record.test_loss,
            test_error = record.test_error,
            extra = ?record.extra,
            "epoch"
        );
        m.records.push(record);
    }
    write_each(members, |m| Ok(m.dir.write_results(&m.records)?))
}

fn write_checkpoints(members: &[Member], pop: &dyn Population, epoch: u32) -> Result<(), Error> {
    let state = pop.state(epoch);
    // The tensors leave the device one member at a time; the files are written in parallel.
    let exported: Vec<_> = members.iter().enumerate().map(|(k, m)| (m, pop.export(k))).collect();
    write_each(&exported, |(m, (model, optimizer))| {
        Checkpoint::write(&m.dir.path, model, optimizer, &state)?;
        Ok(())
    })
}

/// Every member's status: `state(member)` at `epoch`, with its failure if any.
fn write_statuses(
    members: &[Member],
    state: impl Fn(&Member) -> ModelState + Sync,
    epoch: u32,
) -> Result<(), Error> {
    write_each(members, |m| {
        Ok(m.dir.write_status(&ModelStatus {
            state: state(m),
            epoch: Some(epoch),
            message: m.failed.clone(),
        })?)
    })
}

/// Joins its thread when dropped.
struct JoinOnDrop(Option<std::thread::JoinHandle<()>>);

impl Drop for JoinOnDrop {
    fn drop(&mut self) {
        if let Some(handle) = self.0.take() {
            let _ = handle.join();
        }
    }
}

/// Runs `write` on every item from up to [`WRITERS`] threads and returns the first error. Each
/// member's files are its own and every write is synced to disk, so spreading them over threads
/// overlaps the sync latencies that would otherwise add up (a 700-member population makes some
/// 2,800 syncs an epoch).
fn write_each<T: Sync>(items: &[T], write: impl Fn(&T) -> Result<(), Error> + Sync) -> Result<(), Error> {
    let chunk = items.len().div_ceil(WRITERS).max(1);
    std::thread::scope(|s| {
        let writers: Vec<_> =
            items.chunks(chunk).map(|c| s.spawn(|| c.iter().try_for_each(&write))).collect();
        // The scope joins any writer left when an earlier one failed.
        writers
            .into_iter()
            .try_for_each(|w| w.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
    })
}

/// Threads writing a population's files.
const WRITERS: usize = 8;

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::{write_each, Error, WRITERS};

    #[test]
    fn write_each_visits_every_item_once_and_returns_the_first_error() {
        let seen: Vec<AtomicUsize> = (0..3 * WRITERS + 1).map(|_| AtomicUsize::new(0)).collect();
        write_each(&seen, |count| {
            count.fetch_add(1, Ordering::Relaxed);
            Ok(())
        })
        .unwrap();
        assert!(seen.iter().all(|c| c.load(Ordering::Relaxed) == 1));
        let items: Vec<usize> = (0..20).collect();
        let err =
            write_each(&items, |&i| if i == 13 { Err(Error::Config(format!("item {i}"))) } else { Ok(()) });
        assert_eq!(err.unwrap_err().to_string(), "item 13");
        write_each(&[] as &[usize], |_| unreachable!()).unwrap();
    }
}
