//! The GPT-2 decoder of the language-model zoo (Radford et al. 2019, "Language Models are
//! Unsupervised Multitask Learners"), with Hugging Face's `GPT2LMHeadModel` parameter names and
//! layouts, so a checkpoint loads there with `load_state_dict(strict=True)`
//! (python/phasezoo_gpt2.py).
//!
//! Principal items: [`Gpt2Config`] (what to build; [`Gpt2Config::parameter_count`] counts
//! without building), [`Gpt2`] (built and initialized from a seed; logits, final hidden states,
//! loss; state dict in and out; the parameter split for AdamW). Attention runs fused for
//! training or as explicit matmuls for double backward ([`crate::AttentionKernel`]).
//!
//! ```no_run
//! use pz_models::gpt2::{Gpt2, Gpt2Config};
//! let cfg = Gpt2Config { vocab_size: 101, context: 16, model_dim: 32, depth: 2, heads: 4 };
//! let model = Gpt2::new(&cfg, tch::Device::Cpu, 0).unwrap();
//! let tokens = tch::Tensor::zeros([8, 16], tch::kind::INT64_CPU);
//! assert_eq!(model.forward(&tokens).size(), [8, 16, 101]);
//! ```

mod block;
mod config;
mod fused_loss;
mod layout;
mod model;
mod pytorch;
#[cfg(test)]
mod tests;

pub use config::{Gpt2Config, Gpt2ConfigError};
pub use model::{padded_vocab, Gpt2, LM_HEAD};
pub use pytorch::{has_transformers, transformers_logits, TransformersOutput, GPT2_PYTORCH_MODULE};
