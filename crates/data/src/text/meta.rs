//! A built corpus on disk: `<data_dir>/<name>/{train.bin, val.bin, meta.json}`, what
//! `meta.json` records, and [`Corpus::open`], which checks the three agree.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{SplitRule, TextError, TokenFile, EOT, VOCAB_SIZE};

/// `meta.json`'s `format`.
pub(crate) const FORMAT: &str = "phasezoo-text";
/// Bumped when what a build writes changes (convention, normalisation, split): an older
/// corpus is then built again instead of being reused.
pub(crate) const FORMAT_VERSION: u32 = 1;
/// The tokenizer, as `meta.json` names it.
pub(crate) const TOKENIZER: &str = "gpt2 (tiktoken r50k_base)";

/// One source file a corpus was built from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFile {
    /// Its file name.
    pub name: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its SHA-256 (hex).
    pub sha256: String,
}

/// What a corpus was built from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorpusSource {
    /// The corpus name: `shakespeare`, `openwebtext`, or a caller's own.
    pub corpus: String,
    /// Which files were read and how they became documents.
    pub description: String,
    /// The files read.
    pub files: Vec<SourceFile>,
    /// How they were checked: `pinned SHA-256`, or why they could not be.
    pub verification: String,
    /// The source's identity: SHA-256 of the `sha256sum`-style lines `"<sha256>  <name>\n"` of
    /// [`files`](Self::files) in order. A build is reused only for the same identity.
    pub sha256: String,
}

impl CorpusSource {
    /// A source of `files`, with its identity computed from them.
    #[must_use]
    pub fn new(corpus: &str, description: &str, files: Vec<SourceFile>, verification: &str) -> Self {
        let mut hasher = Sha256::new();
        for file in &files {
            hasher.update(format!("{}  {}\n", file.sha256, file.name));
        }
        Self {
            corpus: corpus.to_owned(),
            description: description.to_owned(),
            files,
            verification: verification.to_owned(),
            sha256: hex::encode(hasher.finalize()),
        }
    }
}

/// One split's file and counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitStats {
    /// The token file, relative to the corpus folder.
    pub file: String,
    /// Tokens in it, the [`EOT`]s included.
    pub tokens: u64,
    /// Documents (or pieces of documents, for a [`SplitRule::Tail`] split) in it.
    pub documents: u64,
}

/// `meta.json`: what a corpus folder holds and how it was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorpusMeta {
    /// `phasezoo-text`.
    pub format: String,
    /// The build convention's version.
    pub format_version: u32,
    /// `gpt2 (tiktoken r50k_base)`.
    pub tokenizer: String,
    /// 50257.
    pub vocab_size: usize,
    /// 50256, `<|endoftext|>`.
    pub eot: u32,
    /// `uint16 little-endian`.
    pub token_dtype: String,
    /// How documents become tokens.
    pub convention: String,
    /// Which documents (or parts) are validation.
    pub split: SplitRule,
    /// [`split`](Self::split) in words.
    pub split_description: String,
    /// What the corpus was built from.
    pub source: CorpusSource,
    /// `train.bin`.
    pub train: SplitStats,
    /// `val.bin`.
    pub val: SplitStats,
    /// The cross-entropy, in nats per token, of the validation tokens under the unigram
    /// distribution of the training tokens with add-one smoothing over all 50,257 ids:
    /// `-(1/N_val) Σ_val ln((c_train(t) + 1) / (N_train + 50257))`. A language model whose
    /// validation loss is not clearly below this has learnt no more than token frequencies.
    pub val_unigram_nats: f64,
}

/// A built corpus, opened: its meta and both token files, memory-mapped.
#[derive(Debug)]
pub struct Corpus {
    /// Its folder.
    pub dir: PathBuf,
    /// `meta.json`.
    pub meta: CorpusMeta,
    /// `train.bin`.
    pub train: TokenFile,
    /// `val.bin`.
    pub val: TokenFile,
}

impl Corpus {
    /// Opens the corpus in `dir` (as [`corpus_dir`](super::corpus_dir) names it), checking that
    /// the token files have the lengths `meta.json` records.
    ///
    /// # Errors
    /// A missing or foreign `meta.json` or token file, or lengths that disagree.
    pub fn open(dir: &Path) -> Result<Self, TextError> {
        let name = dir.file_name().map_or_else(|| "NAME".to_owned(), |n| n.to_string_lossy().into_owned());
        let meta_path = dir.join("meta.json");
        let problem = |path: &Path, message: String| TextError::Corpus {
            path: path.to_path_buf(),
            name: name.clone(),
            message,
        };
        if !meta_path.is_file() {
            return Err(problem(&meta_path, "no corpus here: meta.json does not exist".to_owned()));
        }
        let meta = read_meta(&meta_path).map_err(|message| problem(&meta_path, message))?;
        let open = |stats: &SplitStats| -> Result<TokenFile, TextError> {
            let path = dir.join(&stats.file);
            let file = TokenFile::open(&path)?;
            if file.len() as u64 != stats.tokens {
                return Err(problem(
                    &path,
                    format!("{} tokens, but meta.json records {}", file.len(), stats.tokens),
                ));
            }
            Ok(file)
        };
        let train = open(&meta.train)?;
        let val = open(&meta.val)?;
        Ok(Self { dir: dir.to_path_buf(), meta, train, val })
    }
}

/// Reads `meta.json`, refusing another format or version.
fn read_meta(path: &Path) -> Result<CorpusMeta, String> {
    let bytes = fs_err::read(path).map_err(|e| e.to_string())?;
    let meta: CorpusMeta =
        serde_json::from_slice(&bytes).map_err(|e| format!("not a phasezoo corpus meta.json: {e}"))?;
    if meta.format != FORMAT || meta.format_version != FORMAT_VERSION {
        return Err(format!(
            "format `{}` version {}, expected `{FORMAT}` version {FORMAT_VERSION}",
            meta.format, meta.format_version
        ));
    }
    Ok(meta)
}

/// The meta of the corpus already built in `dir` from `source` with `split`, if there is one
/// and its token files still have the recorded lengths: building it again would change nothing.
pub(crate) fn existing(dir: &Path, split: &SplitRule, source: &CorpusSource) -> Option<CorpusMeta> {
    let meta = read_meta(&dir.join("meta.json")).ok()?;
    let same = meta.tokenizer == TOKENIZER && meta.split == *split && meta.source.sha256 == source.sha256;
    let intact = |stats: &SplitStats| {
        fs_err::metadata(dir.join(&stats.file)).is_ok_and(|m| m.len() == 2 * stats.tokens)
    };
    (same && intact(&meta.train) && intact(&meta.val)).then_some(meta)
}

/// The meta of a corpus just built.
pub(crate) fn new_meta(
    split: &SplitRule,
    source: &CorpusSource,
    train: SplitStats,
    val: SplitStats,
    val_unigram_nats: f64,
) -> CorpusMeta {
    CorpusMeta {
        format: FORMAT.to_owned(),
        format_version: FORMAT_VERSION,
        tokenizer: TOKENIZER.to_owned(),
        vocab_size: VOCAB_SIZE,
        eot: EOT,
        token_dtype: "uint16 little-endian".to_owned(),
        convention: "each document (for a tail split: each part of one) is its ordinary GPT-2 BPE ids \
            (no special tokens) followed by <|endoftext|> 50256, documents concatenated in source \
            order; as nanoGPT's data/openwebtext/prepare.py"
            .to_owned(),
        split: split.clone(),
        split_description: split.describe(),
        source: source.clone(),
        train,
        val,
        val_unigram_nats,
    }
}

/// Writes `meta` to `dir/meta.json` atomically.
pub(crate) fn write_meta(dir: &Path, meta: &CorpusMeta) -> Result<(), TextError> {
    let mut json = serde_json::to_vec_pretty(meta).expect("the meta serializes");
    json.push(b'\n');
    pz_store::atomic_write(&dir.join("meta.json"), &json)?;
    Ok(())
}

/// The add-one smoothed unigram cross-entropy of `val` counts under `train` counts (nats per
/// validation token; 0 for no validation tokens). See [`CorpusMeta::val_unigram_nats`].
pub(crate) fn unigram_cross_entropy(train: &[u64], val: &[u64]) -> f64 {
    let n_train: u64 = train.iter().sum();
    let n_val: u64 = val.iter().sum();
    if n_val == 0 {
        return 0.0;
    }
    let denominator = (n_train + train.len() as u64) as f64;
    let total: f64 = train
        .iter()
        .zip(val)
        .filter(|(_, &v)| v > 0)
        .map(|(&t, &v)| v as f64 * ((t + 1) as f64 / denominator).ln())
        .sum();
    -total / n_val as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unigram_cross_entropy_is_add_one_smoothed() {
        // Vocabulary of 3; train counts 3, 1, 0 (N = 4, so p = 4/7, 2/7, 1/7); val: one of each.
        let h = unigram_cross_entropy(&[3, 1, 0], &[1, 1, 1]);
        let expected = -((4.0f64 / 7.0).ln() + (2.0f64 / 7.0).ln() + (1.0f64 / 7.0).ln()) / 3.0;
        assert!((h - expected).abs() < 1e-12, "{h} vs {expected}");
        assert_eq!(unigram_cross_entropy(&[1, 2], &[0, 0]), 0.0);
    }

    #[test]
    fn the_source_identity_hashes_the_sha256sum_lines() {
        let file = SourceFile { name: "a.tar".into(), bytes: 3, sha256: "ab".into() };
        let source = CorpusSource::new("c", "d", vec![file], "v");
        assert_eq!(source.sha256, hex::encode(Sha256::digest(b"ab  a.tar\n")));
    }
}
