//! GPT-2's byte-level BPE, through `tiktoken-rs`.
//!
//! The crate embeds OpenAI's `r50k_base` ranks (`include_str!` of `assets/r50k_base.tiktoken`:
//! no network at build or run time), which are GPT-2's 50,257-token vocabulary and split
//! pattern, the encoding nanoGPT prepares its data with (`tiktoken.get_encoding("gpt2")`).

use tiktoken_rs::CoreBPE;

use super::TextError;

/// `<|endoftext|>`, the one special token: nanoGPT appends it after every document.
pub const EOT: u32 = 50256;

/// GPT-2's vocabulary size: ids are `0..VOCAB_SIZE` (50,256 merges and bytes, then [`EOT`]).
pub const VOCAB_SIZE: usize = 50257;

/// The longest text handed to tiktoken at once. Its pre-tokenizing regex (fancy-regex) fails
/// with a stack overflow, and tiktoken-rs panics, on runs of one character class somewhere
/// between 400 KB (fine) and 1 MB (fails); web pages can hold such runs.
const SEGMENT: usize = 1 << 18;

/// The GPT-2 tokenizer. Cheap to copy: every copy shares one process-wide table, built on
/// first use (about 0.1 s); it is `Sync`, so threads tokenize through the same one.
#[derive(Clone, Copy)]
pub struct Gpt2Tokenizer {
    bpe: &'static CoreBPE,
}

impl std::fmt::Debug for Gpt2Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Gpt2Tokenizer(r50k_base)")
    }
}

impl Default for Gpt2Tokenizer {
    fn default() -> Self {
        Self::new()
    }
}

impl Gpt2Tokenizer {
    /// The tokenizer (the tables are built once per process).
    #[must_use]
    pub fn new() -> Self {
        Self { bpe: tiktoken_rs::r50k_base_singleton() }
    }

    /// The ids of a document's text, with no special tokens: a literal `<|endoftext|>` in the
    /// text is encoded as the characters it is (tiktoken's `encode_ordinary`, as nanoGPT uses).
    ///
    /// A text over 256 KiB is encoded in segments cut where GPT-2's pre-tokenizer starts a
    /// piece whatever follows, so the ids are the same as in one call; only a run of over
    /// 256 KiB with no such place (one "word" or one whitespace run that long) is cut inside,
    /// where one call would fail.
    #[must_use]
    pub fn encode_document(&self, text: &str) -> Vec<u32> {
        let mut ids = Vec::new();
        let mut rest = text;
        while rest.len() > SEGMENT {
            let cut = piece_start_before(rest, SEGMENT);
            ids.extend(self.bpe.encode_ordinary(&rest[..cut]));
            rest = &rest[cut..];
        }
        ids.extend(self.bpe.encode_ordinary(rest));
        ids
    }

    /// The ids of `text` where `<|endoftext|>` is the special token [`EOT`] (for prompts and
    /// checks; corpora are built with [`encode_document`](Self::encode_document) and an
    /// explicit [`EOT`]).
    #[must_use]
    pub fn encode_with_eot(&self, text: &str) -> Vec<u32> {
        self.bpe.encode_with_special_tokens(text)
    }

    /// The text of `ids`. A window can start or end inside a multi-byte character, so bytes
    /// that are not UTF-8 become U+FFFD instead of failing.
    ///
    /// # Errors
    /// An id that is not a GPT-2 id ([`TextError::Decode`]).
    pub fn decode(&self, ids: &[u32]) -> Result<String, TextError> {
        if let Some(&id) = ids.iter().find(|&&id| id as usize >= VOCAB_SIZE) {
            return Err(TextError::Decode { id });
        }
        let bytes = self.bpe.decode_bytes(ids).map_err(|e| TextError::Decode { id: e.token })?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// The last byte index in `1..=max` of `text` (longer than `max`) between a character that is
/// not whitespace and one that is. Every piece of GPT-2's pattern
/// (`'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s`) is
/// all whitespace or has whitespace only as its first character, so a piece always starts
/// there, and it has no lookbehind: encoding the two sides apart gives the same pieces. With
/// no such place, the last character boundary at or before `max`.
fn piece_start_before(text: &str, max: usize) -> usize {
    let mut last = None;
    let mut previous_is_space = true;
    for (i, c) in text.char_indices().take_while(|&(i, _)| i <= max) {
        let space = c.is_whitespace();
        if space && !previous_is_space {
            last = Some(i);
        }
        previous_is_space = space;
    }
    last.unwrap_or_else(|| (0..=max).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_world_with_the_end_of_text_token_is_gpt2s_ids() {
        let tokenizer = Gpt2Tokenizer::new();
        // The ids GPT-2's own tokenizer gives (the check in issue 22).
        assert_eq!(tokenizer.encode_with_eot("Hello world<|endoftext|>"), [15496, 995, EOT]);
        assert_eq!(tokenizer.encode_document("Hello world"), [15496, 995]);
    }

    #[test]
    fn documents_are_encoded_without_special_tokens() {
        let tokenizer = Gpt2Tokenizer::new();
        let ids = tokenizer.encode_document("a<|endoftext|>b");
        assert!(!ids.contains(&EOT), "{ids:?}");
        assert_eq!(tokenizer.decode(&ids).unwrap(), "a<|endoftext|>b");
    }

    #[test]
    fn long_documents_are_encoded_in_segments_with_the_same_ids() {
        let tokenizer = Gpt2Tokenizer::new();
        let text: String =
            (0..40_000).map(|i| format!("Word{i} \u{e9}t\u{e9}, {i}!\n\n   \t ")).collect::<String>();
        assert!(text.len() > 3 * SEGMENT);
        assert_eq!(tokenizer.encode_document(&text), tokenizer.bpe.encode_ordinary(&text));
        // A million spaces: one call to tiktoken panics; the segments do not.
        let spaces = " ".repeat(1_000_000) + "a";
        assert_eq!(tokenizer.encode_document(&spaces).len(), 1_000_000);
        let cut = piece_start_before("ab cd  ef", 6);
        assert_eq!(cut, 5, "between d and the space; the space at 6 follows a space");
        assert_eq!(piece_start_before("\u{e9}\u{e9}\u{e9}", 3), 2, "no whitespace: a char boundary");
    }

    #[test]
    fn decode_inverts_encode_and_names_a_foreign_id() {
        let tokenizer = Gpt2Tokenizer::new();
        let text = "To be, or not to be: that is the question.\n\u{00e9}t\u{00e9} \u{1F600}";
        let mut ids = tokenizer.encode_document(text);
        assert_eq!(tokenizer.decode(&ids).unwrap(), text);
        ids.push(EOT);
        assert_eq!(tokenizer.decode(&ids).unwrap(), format!("{text}<|endoftext|>"));
        let err = tokenizer.decode(&[15496, 50257]).unwrap_err().to_string();
        assert_eq!(err, "cannot decode token id 50257: GPT-2 ids are 0..=50256");
    }
}
