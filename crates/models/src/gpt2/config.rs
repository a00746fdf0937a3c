//! Which GPT-2 to build: vocabulary, context, width (`model_dim`, the zoo's load axis), depth and
//! heads, with the validation every constructor goes through.

use std::fmt;

/// Everything that fixes a GPT-2's shapes. Field names are phasezoo's; Hugging Face's
/// `GPT2Config` calls them `vocab_size`, `n_positions`, `n_embd`, `n_layer`, `n_head`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Gpt2Config {
    /// Token ids are `0..vocab_size` (GPT-2's BPE: 50257).
    pub vocab_size: i64,
    /// Longest input: rows of the learned position table (`n_positions`).
    pub context: i64,
    /// Residual-stream width (`n_embd`); the load axis of the zoo.
    pub model_dim: i64,
    /// Number of transformer blocks (`n_layer`).
    pub depth: i64,
    /// Attention heads per block (`n_head`); must divide `model_dim`.
    pub heads: i64,
}

/// A [`Gpt2Config`] that describes no model; lists every problem found, not only the first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("GPT-2 config ({config}): {}", problems.join("; "))]
pub struct Gpt2ConfigError {
    /// The config as [`Gpt2Config`]'s `Display` writes it.
    pub config: String,
    /// One sentence per problem, naming the field and its value.
    pub problems: Vec<String>,
}

impl Gpt2Config {
    /// The 124M GPT-2 of Radford et al. 2019 (Hugging Face `gpt2`): V 50257, context 1024,
    /// width 768, 12 blocks of 12 heads.
    #[must_use]
    pub fn gpt2_small() -> Self {
        Self { vocab_size: 50257, context: 1024, model_dim: 768, depth: 12, heads: 12 }
    }

    /// Checks the shapes can be built: every size at least 1 and `heads` dividing `model_dim`
    /// (attention splits the width into equal heads).
    ///
    /// # Errors
    /// [`Gpt2ConfigError`] listing each problem.
    pub fn validate(&self) -> Result<(), Gpt2ConfigError> {
        let mut problems = Vec::new();
        for (key, v) in [
            ("vocab_size", self.vocab_size),
            ("context", self.context),
            ("model_dim", self.model_dim),
            ("depth", self.depth),
            ("heads", self.heads),
        ] {
            if v < 1 {
                problems.push(format!("{key} = {v}: must be at least 1"));
            }
        }
        if self.heads >= 1 && self.model_dim >= 1 && self.model_dim % self.heads != 0 {
            problems.push(format!(
                "heads = {} does not divide model_dim = {}: each head takes model_dim / heads channels",
                self.heads, self.model_dim
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Gpt2ConfigError { config: self.to_string(), problems })
        }
    }

    /// Channels per attention head.
    #[must_use]
    pub fn head_dim(&self) -> i64 {
        self.model_dim / self.heads
    }

    /// Trainable scalars, counting the tied embedding and head once (as `sum(p.numel() for p
    /// in model.parameters())` does in PyTorch): V·d + T·d + depth·(12d² + 13d) + 2d. Per block:
    /// c_attn 3d² + 3d, attn c_proj d² + d, c_fc 4d² + 4d, mlp c_proj 4d² + d, two LayerNorms 4d.
    #[must_use]
    pub fn parameter_count(&self) -> i64 {
        let d = self.model_dim;
        self.vocab_size * d + self.context * d + self.depth * (12 * d * d + 13 * d) + 2 * d
    }
}

impl fmt::Display for Gpt2Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "gpt2 model_dim {}, depth {}, heads {}, context {}, vocab_size {}",
            self.model_dim, self.depth, self.heads, self.context, self.vocab_size
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpt2_small_has_hugging_faces_parameter_count() {
        // `sum(p.numel() for p in GPT2LMHeadModel.from_pretrained("gpt2").parameters())`.
        assert_eq!(Gpt2Config::gpt2_small().parameter_count(), 124_439_808);
        assert_eq!(Gpt2Config::gpt2_small().head_dim(), 64);
    }

    #[test]
    fn validation_names_every_bad_field() {
        let ok = Gpt2Config { vocab_size: 101, context: 16, model_dim: 32, depth: 2, heads: 4 };
        assert_eq!(ok.validate(), Ok(()));
        let e = Gpt2Config { heads: 5, ..ok.clone() }.validate().unwrap_err();
        assert_eq!(
            e.problems,
            ["heads = 5 does not divide model_dim = 32: each head takes model_dim / heads channels"]
        );
        assert!(e.to_string().starts_with("GPT-2 config (gpt2 model_dim 32, depth 2, heads 5,"), "{e}");
        let e = Gpt2Config { vocab_size: 0, depth: -1, ..ok }.validate().unwrap_err();
        assert_eq!(e.problems, ["vocab_size = 0: must be at least 1", "depth = -1: must be at least 1"]);
    }
}
