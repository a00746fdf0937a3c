//! OpenWebText as Hugging Face's `Skylion007/openwebtext` ships it, tokenized as nanoGPT's
//! `data/openwebtext/prepare.py` does (8,013,769 documents, about 9B tokens).
//!
//! The distribution (Gokaslan & Cohen, 2019) is nested archives: `urlsf_subsetNN-M_data.xz`
//! files, each an xz-compressed tar of `.txt` documents (one web page each). The original
//! `openwebtext.tar.xz` is an xz tar of those files under `openwebtext/`; the Hugging Face
//! dataset's loader script downloads `subsets/urlsf_subset00.tar` … `urlsf_subset20.tar`,
//! 21 plain tars of the same `.xz` files, and reads archives in that order, members in archive
//! order, `.xz` members only and in them `.txt` members only, each document's text
//! `re.sub("\n\n\n+", "\n\n", text).strip()`. This reader does the same for any of these
//! layouts ([`fetch_openwebtext`]), naming each document `<xz file name>/<txt member path>`.
//!
//! The split is [`SPLIT`]: nanoGPT takes 0.05% of the documents as validation through
//! `train_test_split(test_size=0.0005, seed=2357)` of Hugging Face datasets (4,007 documents),
//! a shuffle no other code reproduces; here the same share is chosen by a hash of each
//! document's name (see [`SplitRule::HashedName`]), so it is the same for every layout, order
//! and thread count.

use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};

use liblzma::read::XzDecoder;

use super::fetch::download_notes;
use super::{
    build_corpus, corpus_dir, CorpusSource, Document, Phase, SourceFile, SplitRule, TextCorpus, TextError,
    TextFetchReport,
};
use crate::vision::{digests, download, Download, RemoteFile};

/// The Hugging Face dataset's files: `subsets/urlsf_subset{00..20}.tar` under this URL.
/// No checksum or size is published with them: downloads are kept unverified, and each
/// file's SHA-256 is recorded in `meta.json`.
pub const OPENWEBTEXT_BASE_URL: &str =
    "https://huggingface.co/datasets/Skylion007/openwebtext/resolve/main/subsets";

/// How many `urlsf_subsetNN.tar` files the Hugging Face dataset has.
pub const OPENWEBTEXT_SUBSETS: usize = 21;

/// 0.05% of the documents, by a hash of the name, are validation (nanoGPT's `test_size`).
pub const SPLIT: SplitRule = SplitRule::HashedName { val_fraction: 0.0005 };

const DESCRIPTION: &str = "OpenWebText (Skylion007/openwebtext): every .txt member of every urlsf_subset*.xz, \
    one document each, text normalised as the Hugging Face loader does \
    (re.sub(\"\\n\\n\\n+\", \"\\n\\n\", text).strip()), archives in file-name order, members in archive order";

/// One file of a layout, and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Archive {
    /// `openwebtext.tar.xz`: an xz tar of `.xz` files.
    TarXz(PathBuf),
    /// `urlsf_subsetNN.tar`: a plain tar of `.xz` files.
    Tar(PathBuf),
    /// `urlsf_subsetNN-M_data.xz`: an xz tar of `.txt` documents.
    Xz(PathBuf),
}

impl Archive {
    fn path(&self) -> &Path {
        match self {
            Self::TarXz(p) | Self::Tar(p) | Self::Xz(p) => p,
        }
    }
}

/// Downloads the 21 Hugging Face files into `<data_dir>/downloads/openwebtext/` (resuming
/// partial ones), or reads `from`, and builds `<data_dir>/openwebtext/{train.bin, val.bin,
/// meta.json}`, tokenizing on all cores. `from` may be `openwebtext.tar.xz`, one
/// `urlsf_subsetNN.tar` or `urlsf_subsetNN-M_data.xz`, or a folder holding the subset tars
/// (also under `subsets/`), `openwebtext.tar.xz`, or the extracted `.xz` files (also under
/// `openwebtext/`). The source files are hashed first (their SHA-256s are the build's
/// identity): a build from the same files is kept. `progress` reports the download in bytes,
/// then the source bytes read.
///
/// # Errors
/// Download errors (partial files resume next time), a `from` in none of these layouts, a
/// damaged archive (named), I/O errors.
pub fn fetch_openwebtext(
    data_dir: &Path,
    from: Option<&Path>,
    progress: &dyn Fn(Phase, u64, Option<u64>),
) -> Result<TextFetchReport, TextError> {
    fetch_openwebtext_with(OPENWEBTEXT_BASE_URL, data_dir, from, progress)
}

/// [`fetch_openwebtext`] from a mirror (or a test server) that serves the same file names
/// under `base_url`.
///
/// # Errors
/// As [`fetch_openwebtext`].
pub fn fetch_openwebtext_with(
    base_url: &str,
    data_dir: &Path,
    from: Option<&Path>,
    progress: &dyn Fn(Phase, u64, Option<u64>),
) -> Result<TextFetchReport, TextError> {
    let Sources { archives, files, downloads, verification } = match from {
        Some(from) => local_sources(from)?,
        None => downloaded_sources(base_url, data_dir, progress)?,
    };
    let notes = download_notes(&downloads);
    let source = CorpusSource::new(TextCorpus::Openwebtext.as_str(), DESCRIPTION, files, verification);
    let dir = corpus_dir(data_dir, TextCorpus::Openwebtext);
    if let Some(meta) = super::meta::existing(&dir, &SPLIT, &source) {
        return Ok(TextFetchReport { dir, meta, downloads, reused: true, notes });
    }
    let total: u64 = source.files.iter().map(|f| f.bytes).sum();
    let read = AtomicU64::new(0);
    let build = std::thread::scope(|scope| {
        // Decompression runs on its own thread, ahead of the tokenizer threads.
        let (send, receive) = sync_channel(4096);
        let (archives, read) = (&archives, &read);
        scope.spawn(move || read_all(archives, read, &send));
        build_corpus(receive, &SPLIT, &source, &dir, &|_| {
            progress(Phase::Tokenize, read.load(Ordering::Relaxed), Some(total));
        })
    })?;
    Ok(TextFetchReport { dir, meta: build.meta, downloads, reused: build.reused, notes })
}

/// The archives to read, what the source files are, and how they were checked.
struct Sources {
    archives: Vec<Archive>,
    files: Vec<SourceFile>,
    downloads: Vec<Download>,
    verification: &'static str,
}

/// The archives of the layout at `from`, hashed.
fn local_sources(from: &Path) -> Result<Sources, TextError> {
    let archives = find_archives(from)?;
    let mut files = Vec::new();
    for archive in &archives {
        let path = archive.path();
        let (sha256, _) = digests(path)?;
        files.push(SourceFile { name: file_name(path), bytes: fs_err::metadata(path)?.len(), sha256 });
    }
    let verification = "a local copy; no checksum is published for OpenWebText";
    Ok(Sources { archives, files, downloads: Vec::new(), verification })
}

/// The 21 subset tars, downloaded into `<data_dir>/downloads/openwebtext/` (or found there).
fn downloaded_sources(
    base_url: &str,
    data_dir: &Path,
    progress: &dyn Fn(Phase, u64, Option<u64>),
) -> Result<Sources, TextError> {
    let dir = data_dir.join("downloads").join("openwebtext");
    let (mut downloads, mut before) = (Vec::new(), 0);
    for i in 0..OPENWEBTEXT_SUBSETS {
        let name = format!("urlsf_subset{i:02}.tar");
        let url = format!("{}/{name}", base_url.trim_end_matches('/'));
        let remote = RemoteFile { file_name: &name, url: &url, size: None, sha256: None, md5: None };
        tracing::info!(%url, "downloading");
        let got = download(&remote, &url, &dir, &|d, _| progress(Phase::Download, before + d, None))?;
        before += got.bytes;
        downloads.push(got);
    }
    let archives = downloads.iter().map(|d| Archive::Tar(d.path.clone())).collect();
    let files = downloads
        .iter()
        .map(|d| SourceFile { name: file_name(&d.path), bytes: d.bytes, sha256: d.sha256.clone() })
        .collect();
    let verification = "unverified: no checksum is published; SHA-256 recorded after download";
    Ok(Sources { archives, files, downloads, verification })
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}

/// The archives of the layout at `from`, in file-name order.
fn find_archives(from: &Path) -> Result<Vec<Archive>, TextError> {
    let kind = |path: PathBuf| {
        let name = file_name(&path);
        if name.ends_with(".tar.xz") {
            Some(Archive::TarXz(path))
        } else if name.starts_with("urlsf_subset") && name.ends_with(".tar") {
            Some(Archive::Tar(path))
        } else if name.starts_with("urlsf_subset") && name.ends_with(".xz") {
            Some(Archive::Xz(path))
        } else {
            None
        }
    };
    let expected = "expected openwebtext.tar.xz, urlsf_subsetNN.tar files (Hugging Face's subsets/) \
        or urlsf_subsetNN-M_data.xz files (the extracted archive)";
    if from.is_file() {
        let archive = kind(from.to_path_buf());
        return archive.map(|a| vec![a]).ok_or_else(|| TextError::wrong_source(from, expected));
    }
    let mut found = Vec::new();
    for dir in [from.to_path_buf(), from.join("subsets"), from.join("openwebtext")] {
        if dir.is_dir() {
            for entry in fs_err::read_dir(&dir)? {
                // In a folder, only the original's own name counts as the whole archive.
                let archive = kind(entry?.path()).filter(|a| {
                    a.path().is_file()
                        && (!matches!(a, Archive::TarXz(_)) || file_name(a.path()) == "openwebtext.tar.xz")
                });
                found.extend(archive);
            }
        }
    }
    // One layout only: the subset tars if there are any, else the whole archive, else the
    // extracted files (a folder may hold a layout and what was extracted from it).
    let rank = |a: &Archive| match a {
        Archive::Tar(_) => 0,
        Archive::TarXz(_) => 1,
        Archive::Xz(_) => 2,
    };
    let Some(best) = found.iter().map(rank).min() else {
        return Err(TextError::wrong_source(from, format!("no OpenWebText files here: {expected}")));
    };
    found.retain(|a| rank(a) == best);
    found.sort_by_key(|a| file_name(a.path()));
    Ok(found)
}

/// Why reading stopped early.
enum Stop {
    /// The archive is damaged or unreadable.
    Failed(TextError),
    /// The builder stopped listening (it failed, or the corpus was already built).
    Closed,
}

/// Sends every document of `archives` to `send`, then ends (dropping `send`); the first
/// error is sent as the last item. `read` counts the archive bytes read so far.
fn read_all(archives: &[Archive], read: &AtomicU64, send: &SyncSender<Result<Document, TextError>>) {
    for archive in archives {
        let path = archive.path();
        let result = fs_err::File::open(path).map_err(|e| Stop::Failed(e.into())).and_then(|file| {
            let counted = Counted { inner: BufReader::with_capacity(1 << 20, file), read };
            match archive {
                Archive::TarXz(_) => read_outer(path, XzDecoder::new_multi_decoder(counted), send),
                Archive::Tar(_) => read_outer(path, counted, send),
                Archive::Xz(_) => read_inner(path, &file_name(path), counted, send),
            }
        });
        match result {
            Ok(()) => {}
            Err(Stop::Closed) => return,
            Err(Stop::Failed(e)) => {
                let _ = send.send(Err(e));
                return;
            }
        }
    }
}

/// The `.xz` members of an outer archive (plain tar or xz tar).
fn read_outer(
    path: &Path,
    reader: impl Read,
    send: &SyncSender<Result<Document, TextError>>,
) -> Result<(), Stop> {
    let damaged =
        |e: std::io::Error| Stop::Failed(TextError::wrong_source(path, format!("damaged archive: {e}")));
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(damaged)? {
        let entry = entry.map_err(damaged)?;
        let member = entry.path().map_err(damaged)?.into_owned();
        let name = file_name(&member);
        if entry.header().entry_type().is_file() && name.ends_with(".xz") {
            read_inner(&path.join(&member), &name, entry, send)?;
        }
    }
    Ok(())
}

/// The `.txt` documents of one `urlsf_subsetNN-M_data.xz` (at `path`, named `xz_name`).
fn read_inner(
    path: &Path,
    xz_name: &str,
    reader: impl Read,
    send: &SyncSender<Result<Document, TextError>>,
) -> Result<(), Stop> {
    let damaged =
        |e: std::io::Error| Stop::Failed(TextError::wrong_source(path, format!("damaged archive: {e}")));
    let mut archive = tar::Archive::new(XzDecoder::new_multi_decoder(reader));
    for entry in archive.entries().map_err(damaged)? {
        let mut entry = entry.map_err(damaged)?;
        let member = entry.path().map_err(damaged)?.to_string_lossy().into_owned();
        if !entry.header().entry_type().is_file() || !member.ends_with(".txt") {
            continue;
        }
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(damaged)?;
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => {
                // Hugging Face's loader would stop here; one page is not worth a 9B-token build.
                tracing::warn!(member = %format!("{}/{member}", path.display()), "not UTF-8; invalid bytes replaced");
                String::from_utf8_lossy(e.as_bytes()).into_owned()
            }
        };
        let doc = Document { name: format!("{xz_name}/{member}"), text: normalise(&text) };
        send.send(Ok(doc)).map_err(|_| Stop::Closed)?;
    }
    Ok(())
}

/// The Hugging Face loader's `re.sub("\n\n\n+", "\n\n", text).strip()`: runs of three or more
/// newlines become two, then whitespace is stripped from both ends as Python's `str.strip()`
/// does (Unicode White_Space, and U+001C..U+001F, which Python also counts).
pub(crate) fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut newlines = 0;
    for c in text.chars() {
        if c == '\n' {
            newlines += 1;
            if newlines <= 2 {
                out.push(c);
            }
        } else {
            newlines = 0;
            out.push(c);
        }
    }
    out.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)).to_owned()
}

/// A reader that adds the bytes it reads to a shared count (for progress).
struct Counted<'a, R> {
    inner: R,
    read: &'a AtomicU64,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

#[cfg(test)]
mod tests;
