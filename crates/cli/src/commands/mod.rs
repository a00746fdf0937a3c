//! One file per subcommand.

pub mod apply;
pub mod apply_args;
pub mod bench;
pub mod bench_resnet;
pub mod data;
pub mod engine_args;
pub mod export;
pub mod import;
pub mod metrics;
pub mod phases;
pub mod plot;
pub mod report;
pub mod status;
pub mod submit;
pub mod train;
pub mod work;
pub mod work_args;
pub mod worker_args;
