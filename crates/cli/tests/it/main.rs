//! CLI integration tests: the `phasezoo` binary run as a user runs it, on tiny zoos that train in
//! well under a second per epoch on two CPU cores. One topic per module.

mod apply;
mod bench;
mod crash_remnants;
mod format;
mod golden;
mod hostile_zoo;
mod interrupt;
mod llc;
mod lm;
mod metrics;
mod metrics_determinism;
mod modarith;
mod modarith_transformer;
mod parquet;
mod phases_summary;
mod ptmz;
mod pytorch;
mod read_only;
mod report;
mod result_lines;
mod resume;
mod spec_errors;
mod status;
mod util;
mod vision;
mod workers;
mod workers_metrics;
mod workers_ray;
mod workers_train;
