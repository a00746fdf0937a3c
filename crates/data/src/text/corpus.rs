//! Documents in, `train.bin` + `val.bin` + `meta.json` out, the way nanoGPT prepares data.
//!
//! The convention (nanoGPT's `data/openwebtext/prepare.py`): each document is encoded with
//! `encode_ordinary` (a literal `<|endoftext|>` in the text is just text), then
//! `<|endoftext|>` (50256) is appended, and the documents of a split are concatenated in
//! source order into one uint16 file. nanoGPT's Shakespeare script instead splits one text
//! at 90% of its characters and appends no EOT; here every corpus follows the first rule, and
//! [`SplitRule::Tail`] is that 90/10 cut taken inside each document.
//!
//! Documents are tokenized in parallel (one contiguous slice of each chunk per core) and
//! written in their order, so the output does not depend on the thread count.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::meta::{existing, new_meta, unigram_cross_entropy, write_meta};
use super::token_file::write_ids;
use super::{CorpusMeta, CorpusSource, Gpt2Tokenizer, SplitStats, TextError, EOT, VOCAB_SIZE};

/// One document: a play, a web page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// A name unique in its corpus (what a [`SplitRule::HashedName`] split hashes).
    pub name: String,
    /// Its text.
    pub text: String,
}

/// Which documents, or which part of each, are validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum SplitRule {
    /// The last `val_fraction` of each document is validation, from the first line start at
    /// or after byte `ceil((1 - val_fraction) · len)`; the part before is training. Each part
    /// gets its own EOT. Validation so holds a piece of every document.
    Tail {
        /// About this share of each document's bytes.
        val_fraction: f64,
    },
    /// A whole document is validation when the first 8 bytes of SHA-256 of its name, read
    /// big-endian, are below `val_fraction · 2^64`: about that share of the documents, chosen
    /// by name alone (not by order, thread count or which copy of the source was read).
    HashedName {
        /// About this share of the documents.
        val_fraction: f64,
    },
}

impl SplitRule {
    /// The rule in words, for `meta.json`.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::Tail { val_fraction } => format!(
                "the last {val_fraction} of each document's bytes, from the first line start at or after \
                 byte ceil((1 - {val_fraction}) * len), is validation and the rest training (nanoGPT's \
                 shakespeare split, last 10% to val, taken per document so that validation covers every \
                 document); each part is followed by <|endoftext|>"
            ),
            Self::HashedName { val_fraction } => format!(
                "a whole document is validation when the first 8 bytes of SHA-256(name), big-endian, are \
                 below {val_fraction} * 2^64; nanoGPT draws its validation documents with Hugging Face \
                 datasets' train_test_split(test_size={val_fraction}, seed=2357), whose shuffle cannot be \
                 reproduced outside that library, so this deterministic rule of the same size stands in"
            ),
        }
    }

    /// The training and the validation part of the document `name` with `text`.
    pub(crate) fn parts<'a>(&self, name: &str, text: &'a str) -> (Option<&'a str>, Option<&'a str>) {
        match *self {
            Self::Tail { val_fraction } => {
                let target = (((1.0 - val_fraction) * text.len() as f64).ceil() as usize).min(text.len());
                // The first p >= target that starts a line (follows a '\n', so a char boundary).
                let cut = match target {
                    0 => 0,
                    _ => text.as_bytes()[target - 1..]
                        .iter()
                        .position(|&b| b == b'\n')
                        .map_or(text.len(), |q| target + q),
                };
                // The training part is there even when empty: an empty document is one EOT.
                (Some(&text[..cut]), (cut < text.len()).then(|| &text[cut..]))
            }
            Self::HashedName { val_fraction } => {
                let digest = Sha256::digest(name.as_bytes());
                let key = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
                // 2^64 is exact as f64; rounding the product moves the threshold by a few
                // units in 2^64, nothing a share of documents can see.
                if (key as f64) < val_fraction * 18_446_744_073_709_551_616.0 {
                    (None, Some(text))
                } else {
                    (Some(text), None)
                }
            }
        }
    }
}

/// What [`build_corpus`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct CorpusBuild {
    /// The corpus's `meta.json`.
    pub meta: CorpusMeta,
    /// Whether an identical earlier build was found and kept (nothing was read or written).
    pub reused: bool,
}

/// Text read per chunk before it is tokenized on all cores.
const CHUNK_BYTES: usize = 16 << 20;

/// Tokenizes `documents` into `out_dir/{train.bin, val.bin, meta.json}` (see the module docs),
/// all three written atomically, `meta.json` last. If `out_dir` already holds a build of the
/// same `source` (by its SHA-256 identity) with the same `split` and intact token files, it is
/// kept and `documents` is not read. `progress(documents)` is called as documents are done.
///
/// # Errors
/// The first error `documents` yields (no new token file is kept, and no `meta.json`, so the
/// next run builds again), and I/O errors naming the path.
pub fn build_corpus<I>(
    documents: I,
    split: &SplitRule,
    source: &CorpusSource,
    out_dir: &Path,
    progress: &dyn Fn(u64),
) -> Result<CorpusBuild, TextError>
where
    I: IntoIterator<Item = Result<Document, TextError>>,
{
    if let Some(meta) = existing(out_dir, split, source) {
        tracing::info!(dir = %out_dir.display(), "corpus already built from this source; kept");
        return Ok(CorpusBuild { meta, reused: true });
    }
    fs_err::create_dir_all(out_dir)?;
    // An earlier meta.json would vouch for token files about to be replaced: with it gone,
    // a build interrupted between the files is simply built again.
    let meta_path = out_dir.join("meta.json");
    if meta_path.exists() {
        fs_err::remove_file(&meta_path)?;
    }
    let tokenizer = Gpt2Tokenizer::new();
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let mut documents = documents.into_iter();
    let mut counts = [vec![0u64; VOCAB_SIZE], vec![0u64; VOCAB_SIZE]];
    let mut stats = [("train.bin", 0u64, 0u64), ("val.bin", 0, 0)];
    let mut done = 0u64;
    let mut failure = None;
    let written = pz_store::atomic_write_with(&out_dir.join("train.bin"), |train| {
        pz_store::atomic_write_with(&out_dir.join("val.bin"), |val| loop {
            let chunk = match next_chunk(&mut documents) {
                Ok(chunk) if chunk.is_empty() => return Ok(()),
                Ok(chunk) => chunk,
                Err(e) => {
                    failure = Some(e);
                    return Err(std::io::Error::other("the source failed"));
                }
            };
            // (split index, text) of each part, in document order.
            let mut parts: Vec<(usize, &str)> = Vec::with_capacity(chunk.len() + 1);
            for doc in &chunk {
                let (train_part, val_part) = split.parts(&doc.name, &doc.text);
                parts.extend(train_part.map(|t| (0, t)));
                parts.extend(val_part.map(|t| (1, t)));
            }
            let texts: Vec<&str> = parts.iter().map(|&(_, t)| t).collect();
            for (&(which, _), mut ids) in parts.iter().zip(tokenize(tokenizer, &texts, threads)) {
                ids.push(EOT);
                for &id in &ids {
                    counts[which][id as usize] += 1;
                }
                stats[which].1 += ids.len() as u64;
                stats[which].2 += 1;
                if which == 0 {
                    write_ids(train, &ids)?;
                } else {
                    write_ids(val, &ids)?;
                }
            }
            done += chunk.len() as u64;
            progress(done);
        })
        .map_err(std::io::Error::other)
    });
    if let Some(e) = failure {
        return Err(e);
    }
    written?;
    let [train, val] =
        stats.map(|(file, tokens, documents)| SplitStats { file: file.into(), tokens, documents });
    let meta = new_meta(split, source, train, val, unigram_cross_entropy(&counts[0], &counts[1]));
    write_meta(out_dir, &meta)?;
    tracing::info!(
        dir = %out_dir.display(),
        train_tokens = meta.train.tokens,
        val_tokens = meta.val.tokens,
        val_unigram_nats = meta.val_unigram_nats,
        "corpus built"
    );
    Ok(CorpusBuild { meta, reused: false })
}

/// The next documents, about [`CHUNK_BYTES`] of text; empty at the end.
fn next_chunk(
    documents: &mut impl Iterator<Item = Result<Document, TextError>>,
) -> Result<Vec<Document>, TextError> {
    let mut chunk = Vec::new();
    let mut bytes = 0;
    while bytes < CHUNK_BYTES {
        let Some(doc) = documents.next().transpose()? else { break };
        bytes += doc.text.len().max(1);
        chunk.push(doc);
    }
    Ok(chunk)
}

/// The ids of each text, in order, tokenized on up to `threads` threads, each taking one
/// contiguous run of texts of about equal bytes.
fn tokenize(tokenizer: Gpt2Tokenizer, texts: &[&str], threads: usize) -> Vec<Vec<u32>> {
    let total: usize = texts.iter().map(|t| t.len()).sum();
    if threads <= 1 || texts.len() < 2 || total < 64 << 10 {
        return texts.iter().map(|t| tokenizer.encode_document(t)).collect();
    }
    let mut runs: Vec<&[&str]> = Vec::with_capacity(threads);
    let (mut start, mut bytes) = (0, 0);
    for (i, text) in texts.iter().enumerate() {
        bytes += text.len();
        if bytes * threads >= total * (runs.len() + 1) && runs.len() + 1 < threads {
            runs.push(&texts[start..=i]);
            start = i + 1;
        }
    }
    runs.push(&texts[start..]);
    std::thread::scope(|scope| {
        let handles: Vec<_> = runs
            .into_iter()
            .map(|run| {
                scope.spawn(move || run.iter().map(|t| tokenizer.encode_document(t)).collect::<Vec<_>>())
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("a tokenizer thread panicked")).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::{Corpus, SourceFile, TokenFile};

    fn doc(name: &str, text: &str) -> Document {
        Document { name: name.to_owned(), text: text.to_owned() }
    }

    fn source(tag: &str) -> CorpusSource {
        let file = SourceFile { name: "src.tar".into(), bytes: 1, sha256: tag.into() };
        CorpusSource::new("test", "test documents", vec![file], "none")
    }

    const TAIL: SplitRule = SplitRule::Tail { val_fraction: 0.25 };

    #[test]
    fn a_tail_split_cuts_each_document_at_a_line_start() {
        // 16 bytes; the cut is at or after byte 12, at a line start.
        assert_eq!(TAIL.parts("d", "aaaa\nbbbb\ncc\ndd\n"), (Some("aaaa\nbbbb\ncc\n"), Some("dd\n")));
        // No line starts after the target: all training.
        assert_eq!(TAIL.parts("d", "one line only"), (Some("one line only"), None));
        assert_eq!(TAIL.parts("d", ""), (Some(""), None), "an empty document is one EOT in train");
        assert_eq!(SplitRule::Tail { val_fraction: 1.0 }.parts("d", "ab"), (Some(""), Some("ab")));
    }

    #[test]
    fn a_hashed_split_depends_on_the_name_alone() {
        let rule = SplitRule::HashedName { val_fraction: 0.1 };
        let val: Vec<usize> = (0..5000).filter(|i| rule.parts(&format!("doc{i}"), "x").1.is_some()).collect();
        assert!((400..600).contains(&val.len()), "{} of 5000", val.len());
        let is_val = |name: &str, text| rule.parts(name, text).1.is_some();
        assert!((0..50).all(|i| is_val(&format!("doc{i}"), "x") == is_val(&format!("doc{i}"), "other")));
        assert_eq!(SplitRule::HashedName { val_fraction: 0.0 }.parts("a", "x"), (Some("x"), None));
        assert_eq!(SplitRule::HashedName { val_fraction: 1.0 }.parts("a", "x"), (None, Some("x")));
    }

    #[test]
    fn documents_are_tokenized_each_followed_by_eot_and_the_meta_tells_all() {
        let tokenizer = Gpt2Tokenizer::new();
        let docs = [doc("a", "Hello world\nsecond line\nthird\n"), doc("b", "Goodbye moon")];
        let dir = tempfile::tempdir().unwrap();
        let last = std::cell::Cell::new(0);
        let built =
            build_corpus(docs.clone().map(Ok), &TAIL, &source("1"), dir.path(), &|d| last.set(d)).unwrap();
        assert!(!built.reused);
        assert_eq!(last.get(), 2);
        let mut train = tokenizer.encode_document("Hello world\nsecond line\n");
        train.push(EOT);
        train.extend(tokenizer.encode_document("Goodbye moon"));
        train.push(EOT);
        let mut val = tokenizer.encode_document("third\n");
        val.push(EOT);
        let corpus = Corpus::open(dir.path()).unwrap();
        let ids = |f: &TokenFile| f.tokens(0..f.len()).into_iter().map(u32::from).collect::<Vec<_>>();
        assert_eq!((ids(&corpus.train), ids(&corpus.val)), (train.clone(), val.clone()));
        let meta = &corpus.meta;
        assert_eq!((meta.vocab_size, meta.eot, meta.format_version), (50257, 50256, 1));
        assert_eq!((meta.train.tokens, meta.train.documents), (train.len() as u64, 2));
        assert_eq!((meta.val.tokens, meta.val.documents), (val.len() as u64, 1));
        assert_eq!(meta.split, TAIL);
        assert!(meta.val_unigram_nats > 0.0 && meta.val_unigram_nats.is_finite());
        let json: serde_json::Value =
            serde_json::from_slice(&fs_err::read(dir.path().join("meta.json")).unwrap()).unwrap();
        assert_eq!(json["split"], serde_json::json!({"rule": "tail", "val_fraction": 0.25}));
        assert_eq!(json["source"]["sha256"], source("1").sha256);
    }

    #[test]
    fn building_again_from_the_same_source_reads_nothing_and_another_source_rebuilds() {
        let dir = tempfile::tempdir().unwrap();
        let docs = || [doc("a", "one\ntwo\nthree\nfour\n")].map(Ok);
        build_corpus(docs(), &TAIL, &source("1"), dir.path(), &|_| {}).unwrap();
        let never = std::iter::from_fn(|| -> Option<Result<Document, TextError>> { panic!("read again") });
        let again = build_corpus(never, &TAIL, &source("1"), dir.path(), &|_| {}).unwrap();
        assert!(again.reused);
        let other = build_corpus([doc("a", "x\ny\n")].map(Ok), &TAIL, &source("2"), dir.path(), &|_| {});
        assert!(!other.unwrap().reused);
        // A token file that no longer has the recorded length is built again too.
        fs_err::write(dir.path().join("val.bin"), [1, 0]).unwrap();
        let repaired = build_corpus([doc("a", "x\ny\n")].map(Ok), &TAIL, &source("2"), dir.path(), &|_| {});
        assert!(!repaired.unwrap().reused);
    }

    #[test]
    fn a_failing_source_leaves_no_corpus_behind() {
        let dir = tempfile::tempdir().unwrap();
        build_corpus([doc("a", "one\ntwo\n")].map(Ok), &TAIL, &source("1"), dir.path(), &|_| {}).unwrap();
        let failing = [Ok(doc("a", "x")), Err(TextError::wrong_source("/src/x.tar", "damaged archive"))];
        let err = build_corpus(failing, &TAIL, &source("2"), dir.path(), &|_| {}).unwrap_err();
        assert_eq!(err.to_string(), "/src/x.tar: damaged archive");
        assert!(!dir.path().join("meta.json").exists(), "no meta vouches for the old files");
        let err = Corpus::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("meta.json does not exist"), "{err}");
        let left: Vec<_> = fs_err::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(left.iter().all(|n| n == "train.bin" || n == "val.bin"), "no temporary files: {left:?}");
    }

    #[test]
    fn tokenizing_on_several_threads_gives_the_same_ids_in_order() {
        let texts: Vec<String> =
            (0..300).map(|i| format!("Document {i}: {}", "word and another ".repeat(i % 50 + 20))).collect();
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let tokenizer = Gpt2Tokenizer::new();
        assert_eq!(tokenize(tokenizer, &texts, 4), tokenize(tokenizer, &texts, 1));
        assert_eq!(tokenize(tokenizer, &texts, 3).len(), 300);
    }
}
