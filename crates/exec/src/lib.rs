//! Execution: where and in which order work runs, without knowing what the work is. No tensors
//! and no libtorch here: a device is any `Copy` value the caller passes (`tch::Device` in the
//! binary), and its tests build and run in seconds.
//!
//! Principal items: [`Pool`] (worker threads over a list of devices, the one pool that training,
//! metrics and benchmarks share), [`PackQueue`] and [`Cost`] (which item a device takes next, by
//! expected share of a GPU and expected work). The cluster backends ([`slurm`]: job arrays;
//! [`ray`]: Ray jobs; [`submit`] over both) start `phasezoo work` processes beside it: same units,
//! other workers.

pub mod pack;
mod pool;
pub mod ray;
pub mod slurm;
mod submit;

pub use pack::{Cost, PackQueue};
pub use pool::{panic_message, Error, Flow, Pool};
pub use ray::{RayError, RayJob, RaySubmitted};
pub use slurm::{SlurmError, SlurmJob, Submitted};
pub use submit::{submit, Engine, Submission, SubmitError};
