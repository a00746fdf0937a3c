//! The original PTMZ zoos on disk (SPEC §2): `torch.save` checkpoints read without executing a
//! byte of pickle and written back, and Ray Tune experiment folders parsed into trials and a
//! grid. No libtorch: the checkpoint is bytes, the pickle is decoded by our own small machine.
//!
//! # Checkpoints
//! - [`read_state_dict`]: a `torch.save(state_dict)` file (zip container of torch ≥ 1.6, any
//!   archive folder name, or the legacy format) into [`Tensor`]s in the file's order, each
//!   contiguous little-endian bytes with a safetensors [`Dtype`] (the type `pz-store` uses).
//!   Strided views and views sharing a storage are copied out as torch would `.contiguous()`
//!   them.
//! - [`strip_module_prefix`]: drop `nn.DataParallel`'s `module.` from the names.
//! - [`write_state_dict`] / [`write_state_dict_to`]: the other way, a file that
//!   `torch.load(path, weights_only=True)` returns as an `OrderedDict` of tensors.
//!
//! **Safety.** Only these globals may be loaded: `collections.OrderedDict`,
//! `torch._utils._rebuild_tensor{,_v2,_v3}`, `torch._utils._rebuild_parameter{,_with_state}`,
//! `torch.<Name>Storage`, `torch.storage.UntypedStorage`/`TypedStorage` and `torch.<dtype>`
//! objects. Any other global (`posix.system`, `builtins.eval`, `subprocess.Popen`, ...) stops
//! decoding with [`Error::RefusedGlobal`], which names the file and the global; nothing is ever
//! called. Shapes, strides and offsets are checked against their storage's declared size, and
//! that size against the bytes really in the file, before any tensor memory is allocated.
//!
//! # Experiments
//! - [`read_experiment`]: a folder of trial folders
//!   (`NN_tune_trainable_<id>_<index>_model_width=..,seed=..,training_batchsize=.._<date>`) into
//!   an [`Experiment`]: per [`Trial`], its [`TrialName`], `params.json`, the `result.json` lines
//!   ([`EpochResult`]) and the `checkpoint_<epoch>/checkpoints` files ([`CheckpointFiles`]).
//! - [`Experiment::grid`] / [`Grid::infer`]: the load axis, temperature axis and seeds, with
//!   each [`GridCell`] pointing at its trials; [`Grid::with_keys`] names the axes explicitly.
//!
//! ```no_run
//! use std::path::Path;
//! let experiment = pz_ptmz::read_experiment(Path::new("zoos/tune_zoo_cifar10_Resnet18_width"))?;
//! let grid = experiment.grid()?; // load: model::width, temperature: training::batchsize
//! for cell in &grid.cells {
//!     for &(seed, trial) in &cell.trials {
//!         let trial = &experiment.trials[trial];
//!         if let Some(checkpoint) = trial.checkpoint(100) {
//!             let mut tensors = pz_ptmz::read_state_dict(&checkpoint.model)?;
//!             pz_ptmz::strip_module_prefix(&mut tensors)?;
//!             // ... cell.load, cell.temperature, seed, tensors
//!         }
//!     }
//! }
//! # Ok::<(), pz_ptmz::Error>(())
//! ```
//!
//! # Import and export
//! - [`import_experiment`]: a PTMZ ResNet experiment into a phasezoo zoo (spec inferred from
//!   `params.json`, safetensors checkpoints checked against phasezoo's model through
//!   [`ModelShapes`], result lines with the original's keys kept); re-running is a no-op.
//! - [`export_zoo`]: a phasezoo ResNet zoo as PTMZ trial folders with `torch.save`-loadable
//!   checkpoints.
//!
//! Neither links libtorch: the model's state-dict layout comes from the caller ([`ModelShapes`]).
#![deny(missing_docs)]

mod checkpoint;
mod dtype;
mod error;
mod experiment;
mod export;
mod import;
mod pickle;
mod tensor;

pub use checkpoint::{read_state_dict, write_state_dict, write_state_dict_to};
pub use dtype::{dtype_of_object, dtype_of_storage_class, object_name_of, storage_class_of, Dtype};
pub use error::{Error, Result};
pub use experiment::{
    read_experiment, read_results, Axis, CheckpointFiles, EpochResult, Experiment, Grid, GridCell, Trial,
    TrialName, LOAD_KEYS, RAY_KEYS, SEED_KEY, TEMPERATURE_KEYS,
};
pub use export::{export_zoo, ExportReport};
pub use import::{import_experiment, ImportReport, ModelShapes, Progress};
pub use pickle::PickleError;
pub use tensor::{strip_module_prefix, Tensor, MODULE_PREFIX};
