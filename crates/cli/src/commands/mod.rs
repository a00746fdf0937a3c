//! One file per subcommand.

pub mod bench;
pub mod bench_resnet;
pub mod data;
pub mod metrics;
pub mod phases;
pub mod plot;
pub mod report;
pub mod status;
pub mod train;
