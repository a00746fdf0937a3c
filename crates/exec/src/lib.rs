//! Execution: where and in which order work runs, without knowing what the work is. No tensors
//! and no libtorch here: a device is any `Copy` value the caller passes (`tch::Device` in the
//! binary), and its tests build and run in seconds.
//!
//! Principal items: [`Pool`] (worker threads over a list of devices, the one pool that training,
//! metrics and benchmarks share), [`PackQueue`] and [`Cost`] (which item a device takes next, by
//! expected share of a GPU and expected work). A cluster backend (Slurm arrays, a process per
//! worker) belongs beside [`Pool`]: same items, same costs, other workers.

pub mod pack;
mod pool;
pub mod slurm;

pub use pack::{Cost, PackQueue};
pub use pool::{panic_message, Error, Flow, Pool};
pub use slurm::{SlurmError, SlurmJob, Submitted};
