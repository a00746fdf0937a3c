//! One progress bar for the zoo: models done/total, model-steps/s, ETA.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use pz_spec::ModelId;
use pz_store::ModelState;
use pz_train::Reporter;

/// Whether bars are drawn: not with --no-progress, PHASEZOO_NO_PROGRESS, or a non-terminal.
pub fn enabled(no_progress: bool) -> bool {
    !no_progress && std::env::var_os("PHASEZOO_NO_PROGRESS").is_none() && std::io::stderr().is_terminal()
}

/// The zoo's bar; its position counts member-steps, its message the models done.
pub struct ZooProgress {
    bar: ProgressBar,
    total_models: usize,
    done: AtomicUsize,
}

impl ZooProgress {
    pub fn new(total_models: usize, already_done: usize, model_steps: u64, visible: bool) -> Self {
        let bar = styled_bar(
            Some(model_steps),
            visible,
            "{spinner} [{elapsed_precise}] {wide_bar} {msg} | {per_sec} model-steps | ETA {eta}",
        );
        let p = Self { bar, total_models, done: AtomicUsize::new(already_done) };
        p.set_message();
        p
    }

    fn set_message(&self) {
        self.bar.set_message(format!("{}/{} models", self.done.load(Ordering::Relaxed), self.total_models));
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Reporter for ZooProgress {
    fn on_population_start(&self, _models: usize, resumed_model_steps: u64) {
        // Work a resumed population does not redo counts as done (and not in steps/s).
        self.bar.set_position(self.bar.position() + resumed_model_steps);
    }
    fn on_model_steps(&self, model_steps: u64) {
        self.bar.inc(model_steps);
    }
    fn on_model_done(&self, _id: &ModelId, _state: ModelState) {
        self.done.fetch_add(1, Ordering::Relaxed);
        self.set_message();
    }
}

/// A bar over units of work of unknown total until planned (metrics).
pub struct WorkProgress {
    bar: ProgressBar,
}

impl WorkProgress {
    pub fn new(what: &str, visible: bool) -> Self {
        let bar = styled_bar(
            Some(0),
            visible,
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg} | ETA {eta}",
        );
        bar.set_message(what.to_string());
        Self { bar }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl pz_landscape::MeasureReporter for WorkProgress {
    fn on_planned(&self, units: u64) {
        self.bar.inc_length(units);
    }
    fn on_done(&self, units: u64) {
        self.bar.inc(units);
    }
}

/// A bar over bytes (downloads); its length is set once the server says it.
pub fn bytes_bar(visible: bool, what: &str) -> ProgressBar {
    let bar = styled_bar(
        None,
        visible,
        "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg} | {bytes_per_sec} | ETA {eta}",
    );
    bar.set_message(what.to_string());
    bar
}

/// A bar on stderr (or hidden) with `template`.
fn styled_bar(len: Option<u64>, visible: bool, template: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        len,
        if visible { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() },
    );
    bar.set_style(ProgressStyle::with_template(template).expect("valid template"));
    bar
}
