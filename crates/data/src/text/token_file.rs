//! nanoGPT's `.bin` token files: a flat array of little-endian uint16 GPT-2 ids, no header.
//!
//! [`TokenFile`] memory-maps the file instead of reading it: OpenWebText's `train.bin` is about
//! 17 GB and a training step reads only `batch × (context + 1)` ids at random places, so the
//! page cache holds what is used and many trainer processes on one host share it. Windows are
//! sampled as nanoGPT's `get_batch` does: starts uniform in `[0, len - context - 1]`, inputs
//! `tokens[s..s+T]`, targets `tokens[s+1..s+T+1]`.

use std::io::Write;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::TextError;

/// A token file, memory-mapped read-only.
#[derive(Debug)]
pub struct TokenFile {
    path: PathBuf,
    map: Mmap,
}

/// `batch` windows of `context` tokens, flat row-major `[batch * context]`, as int64 (the dtype
/// a cross-entropy target tensor takes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBatch {
    /// `tokens[s..s + context]` of each window.
    pub inputs: Vec<i64>,
    /// `tokens[s + 1..s + context + 1]`: each input's next token.
    pub targets: Vec<i64>,
    /// The window starts `s`, in row order.
    pub starts: Vec<usize>,
    /// Rows.
    pub batch: usize,
    /// Columns.
    pub context: usize,
}

impl TokenFile {
    /// Opens and maps `path`.
    ///
    /// # Errors
    /// The file is missing or unreadable (the message names it), empty, or of an odd byte
    /// length (not whole uint16 ids: a truncated copy).
    pub fn open(path: &Path) -> Result<Self, TextError> {
        let file = fs_err::File::open(path)?;
        let bytes = file.metadata()?.len();
        let bad = |message: String| TextError::TokenFile { path: path.to_path_buf(), message };
        if bytes == 0 {
            return Err(bad("is empty: no tokens".to_owned()));
        }
        if bytes % 2 == 1 {
            return Err(bad(format!("has {bytes} bytes, an odd number: not whole uint16 token ids")));
        }
        let map = map_read_only(file.file())
            .map_err(|e| std::io::Error::new(e.kind(), format!("cannot map {}: {e}", path.display())))?;
        // Windows are read at random places: tell the kernel not to read ahead (best effort).
        #[cfg(unix)]
        let _ = map.advise(memmap2::Advice::Random);
        Ok(Self { path: path.to_path_buf(), map })
    }

    /// The file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of tokens.
    #[must_use]
    pub fn len(&self) -> usize {
        self.map.len() / 2
    }

    /// Always false: an empty file is refused by [`open`](Self::open).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Token `i`.
    ///
    /// # Panics
    /// If `i >= len()`.
    #[must_use]
    pub fn get(&self, i: usize) -> u16 {
        u16::from_le_bytes([self.map[2 * i], self.map[2 * i + 1]])
    }

    /// Tokens `range` as ids (for decoding, statistics, tests).
    ///
    /// # Panics
    /// If the range is out of bounds.
    #[must_use]
    pub fn tokens(&self, range: std::ops::Range<usize>) -> Vec<u16> {
        self.map[2 * range.start..2 * range.end]
            .chunks_exact(2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .collect()
    }

    /// `batch` windows at starts drawn uniformly from `[0, len - context - 1]` with `rng`, one
    /// draw per row in row order (so a generator seeded per model and step, such as
    /// [`window_rng`], gives the same batch on every run and after a resume).
    ///
    /// # Errors
    /// The file holds fewer than `context + 1` tokens ([`TextError::TooShort`]).
    ///
    /// # Panics
    /// If `context` is 0.
    pub fn windows<R: Rng + ?Sized>(
        &self,
        context: usize,
        batch: usize,
        rng: &mut R,
    ) -> Result<TokenBatch, TextError> {
        let last = self.last_start(context)?;
        let starts: Vec<usize> = (0..batch).map(|_| rng.gen_range(0..=last)).collect();
        self.windows_at(&starts, context)
    }

    /// The windows at `starts` (fixed evaluation windows, e.g. the same validation batches for
    /// every model of a zoo).
    ///
    /// # Errors
    /// The file is too short for `context`, or a start is past `len - context - 1`.
    ///
    /// # Panics
    /// If `context` is 0.
    pub fn windows_at(&self, starts: &[usize], context: usize) -> Result<TokenBatch, TextError> {
        let last = self.last_start(context)?;
        let mut inputs = Vec::with_capacity(starts.len() * context);
        let mut targets = Vec::with_capacity(starts.len() * context);
        for &start in starts {
            if start > last {
                return Err(TextError::WindowOutOfRange {
                    path: self.path.clone(),
                    start,
                    context,
                    tokens: self.len(),
                });
            }
            let window = &self.map[2 * start..2 * (start + context + 1)];
            let ids: Vec<i64> =
                window.chunks_exact(2).map(|b| i64::from(u16::from_le_bytes([b[0], b[1]]))).collect();
            inputs.extend_from_slice(&ids[..context]);
            targets.extend_from_slice(&ids[1..]);
        }
        Ok(TokenBatch { inputs, targets, starts: starts.to_vec(), batch: starts.len(), context })
    }

    /// The last start of a full window (`len - context - 1`).
    fn last_start(&self, context: usize) -> Result<usize, TextError> {
        assert!(context > 0, "a window needs a context of at least one token");
        self.len().checked_sub(context + 1).ok_or_else(|| TextError::TooShort {
            path: self.path.clone(),
            tokens: self.len(),
            context,
        })
    }
}

/// Maps `file` read-only.
//
// memmap2 marks file maps unsafe because the bytes can change (or the pages vanish, SIGBUS)
// if the file is modified or truncated while mapped, in this process or another. Here the
// file is opened read-only and never written through the map, and phasezoo writes token
// files only by atomic rename (`write_token_file`, `build_corpus`): a rebuild replaces the
// directory entry and the mapped inode stays as it was. Rewriting or truncating a token file
// in place while a trainer runs is the one unsupported case (as for nanoGPT's `np.memmap`).
#[allow(unsafe_code)]
fn map_read_only(file: &std::fs::File) -> std::io::Result<Mmap> {
    // SAFETY: see above; the map is never handed out as anything but `&[u8]` reads.
    unsafe { Mmap::map(file) }
}

/// The random stream of a model's training windows at `step`: the model's data stream
/// (`pz_spec::member_rng(seed, Stream::Data)`) from word `2^32 · step` on. Each step's
/// windows so depend on (seed, step) alone, not on how many steps ran before in this
/// process, and a resumed run draws the same batches. 2^32 words per step hold any batch
/// (a window start takes two words, rarely more).
#[must_use]
pub fn window_rng(seed: u64, step: u64) -> ChaCha8Rng {
    let mut rng = pz_spec::member_rng(seed, pz_spec::Stream::Data);
    rng.set_word_pos(u128::from(step) << 32);
    rng
}

/// Writes `tokens` to `path` as nanoGPT's `.bin` (little-endian uint16), atomically: a reader
/// sees the old file or the new one, never a part.
///
/// # Errors
/// An id above 65535 (nothing is written), or an I/O error naming the path.
pub fn write_token_file(path: &Path, tokens: &[u32]) -> Result<(), TextError> {
    if let Some((position, &id)) = tokens.iter().enumerate().find(|(_, &id)| id > u32::from(u16::MAX)) {
        return Err(TextError::TokenOutOfRange { path: path.to_path_buf(), id, position });
    }
    pz_store::atomic_write_with(path, |w| write_ids(w, tokens))?;
    Ok(())
}

/// Appends `tokens` (each known to fit uint16) to `w` as little-endian uint16.
pub(crate) fn write_ids(w: &mut impl Write, tokens: &[u32]) -> std::io::Result<()> {
    let mut bytes = Vec::with_capacity(2 * tokens.len());
    for &id in tokens {
        let id = u16::try_from(id).expect("ids are checked to fit uint16");
        bytes.extend_from_slice(&id.to_le_bytes());
    }
    w.write_all(&bytes)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn file_of(tokens: &[u32]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("train.bin");
        write_token_file(&path, tokens).unwrap();
        (dir, path)
    }

    #[test]
    fn a_token_file_round_trips_as_little_endian_uint16() {
        let tokens = [0, 1, 255, 256, 50256, 65535];
        let (_dir, path) = file_of(&tokens);
        assert_eq!(fs_err::read(&path).unwrap(), [0, 0, 1, 0, 255, 0, 0, 1, 0x50, 0xc4, 255, 255]);
        let file = TokenFile::open(&path).unwrap();
        assert_eq!((file.len(), file.is_empty(), file.path()), (6, false, path.as_path()));
        assert_eq!(file.tokens(0..6), [0, 1, 255, 256, 50256, 65535]);
        assert_eq!(file.get(4), 50256);
    }

    #[test]
    fn an_id_above_uint16_is_refused_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("val.bin");
        let err = write_token_file(&path, &[1, 2, 65536]).unwrap_err().to_string();
        assert!(err.starts_with(&format!("{}: token id 65536 at position 2", path.display())), "{err}");
        assert_eq!(fs_err::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_missing_empty_odd_or_short_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("train.bin");
        let err = TokenFile::open(&path).unwrap_err().to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");
        for (bytes, says) in [(&[][..], "is empty"), (&[1, 0, 2][..], "has 3 bytes, an odd number")] {
            fs_err::write(&path, bytes).unwrap();
            let err = TokenFile::open(&path).unwrap_err().to_string();
            assert!(err.starts_with(&format!("{}: {says}", path.display())), "{err}");
            assert!(err.contains("hint: "), "{err}");
        }
        let (_dir, path) = file_of(&[1, 2, 3, 4]);
        let file = TokenFile::open(&path).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        assert!(file.windows(3, 2, &mut rng).is_ok(), "4 tokens hold one window of 3");
        let err = file.windows(4, 2, &mut rng).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("{}: 4 tokens, but a window of context 4 needs 5", path.display())),
            "{err}"
        );
    }

    #[test]
    fn windows_lie_inside_the_file_and_targets_are_the_inputs_shifted_by_one() {
        // Token i is i, so a window's ids tell where it starts.
        let tokens: Vec<u32> = (0..1000).collect();
        let (_dir, path) = file_of(&tokens);
        let file = TokenFile::open(&path).unwrap();
        let (context, batch) = (16, 64);
        let mut rng = window_rng(7, 3);
        let mut seen_last = false;
        for _ in 0..200 {
            let b = file.windows(context, batch, &mut rng).unwrap();
            assert_eq!((b.inputs.len(), b.targets.len(), b.batch, b.context), (1024, 1024, 64, 16));
            for (row, &s) in b.starts.iter().enumerate() {
                assert!(s + context < file.len(), "start {s}");
                seen_last |= s == file.len() - context - 1;
                let inputs = &b.inputs[row * context..(row + 1) * context];
                let targets = &b.targets[row * context..(row + 1) * context];
                assert_eq!(inputs, (s as i64..(s + context) as i64).collect::<Vec<_>>());
                assert_eq!(targets, (s as i64 + 1..(s + context + 1) as i64).collect::<Vec<_>>());
            }
        }
        assert!(seen_last, "the last start, len - context - 1, is drawn too");
    }

    #[test]
    fn the_same_seed_and_step_give_the_same_windows() {
        let tokens: Vec<u32> = (0..5000).map(|i| (i * 37) % 50257).collect();
        let (_dir, path) = file_of(&tokens);
        let file = TokenFile::open(&path).unwrap();
        let draw = |seed, step| file.windows(32, 8, &mut window_rng(seed, step)).unwrap();
        assert_eq!(draw(1, 5), draw(1, 5));
        assert_ne!(draw(1, 5).starts, draw(1, 6).starts);
        assert_ne!(draw(1, 5).starts, draw(2, 5).starts);
        // Step 5's windows do not depend on what was drawn before.
        let mut rng = window_rng(1, 5);
        let _ = file.windows(32, 8, &mut window_rng(1, 4)).unwrap();
        assert_eq!(file.windows(32, 8, &mut rng).unwrap(), draw(1, 5));
    }

    #[test]
    fn fixed_windows_are_read_and_a_start_past_the_end_is_refused() {
        let tokens: Vec<u32> = (0..10).collect();
        let (_dir, path) = file_of(&tokens);
        let file = TokenFile::open(&path).unwrap();
        let b = file.windows_at(&[0, 6], 3).unwrap();
        assert_eq!(b.inputs, [0, 1, 2, 6, 7, 8]);
        assert_eq!(b.targets, [1, 2, 3, 7, 8, 9]);
        let err = file.windows_at(&[7], 3).unwrap_err().to_string();
        assert!(err.ends_with("cannot start at 7: the file has 10 tokens, so the last start is 6"), "{err}");
    }
}
