//! A zoo on disk (docs/FORMAT.md): the layout, atomic writes, safetensors checkpoints that
//! detect truncation and corruption, per-model results as JSON lines, status, and the index.
//!
//! Principal types: [`ZooDir`] (one zoo folder), [`ModelDir`] (one model's folder),
//! [`EpochRecord`] (one line of `result.json`), [`Checkpoint`] (one `checkpoint_<epoch>`).
//!
//! This crate knows bytes, names, shapes and dtypes; it does not link libtorch. Every write
//! goes to a temporary file in the destination's folder and is renamed into place, so a crash
//! at any moment leaves either the old file or the new one, never half of one.
#![deny(missing_docs)]

mod application_values;
mod atomic;
mod checkpoint;
mod checkpoint_layout;
mod checkpoint_search;
mod checkpoint_write;
mod claims;
mod density_summary;
mod epoch_index;
mod error;
mod index;
mod jsonl;
mod metric_keys;
mod metrics;
mod model_dir;
mod ptmz;
mod results;
mod status;
mod tensor_buffer;
mod tensors;
mod work_units;
mod zoo_dir;

pub use application_values::APPLICATION_COLUMNS;
pub use atomic::{atomic_write, atomic_write_with};
pub use checkpoint::{Checkpoint, CheckpointState, LoadedCheckpoint};
pub use checkpoint_layout::{CheckpointLayout, FileLayout, TensorLayout};
pub use checkpoint_search::{common_resume_epoch, error_chain, newest_intact_checkpoint, CheckpointSearch};
pub use claims::{now_unix_ms, ClaimRecord, Claims, WorkerIdentity};
pub use density_summary::{stored_density, summarize_density, DensitySummary, NEGATIVE_CUT};
pub use epoch_index::{
    collect_epoch_rows, write_epoch_index, EpochIndexRow, DENSITY_COLUMNS, METRIC_COLUMNS, RESULT_COLUMNS,
};
pub use error::{Error, Result};
pub use index::{collect_rows, write_index, IndexRow, INDEX_COLUMNS};
pub use metric_keys::{MetricKey, UnknownMetricKey, TEST_SET_SUFFIX};
pub use metrics::MetricsRecord;
pub use model_dir::ModelDir;
pub use ptmz::{read_ptmz_summary, PtmzSummaryRow};
pub use results::EpochRecord;
pub use status::{ModelState, ModelStatus};
pub use tensor_buffer::TensorFileBuffer;
pub use tensors::{decode_tensors, encode_tensors, Dtype, NamedTensor};
pub use work_units::{
    load_or_create_units, read_units, replace_units, unit_hash, work_status, UnitState, WorkUnit, WorkerLock,
};
pub use zoo_dir::{ZooDir, ZooLock, FORMAT_VERSION};
