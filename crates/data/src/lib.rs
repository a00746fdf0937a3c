//! What image models are trained on: dataset readers, the uint8 cache and the downloader
//! ([`vision`]); what language models are trained on: nanoGPT token files, GPT-2 BPE and the
//! Shakespeare and OpenWebText corpora ([`text`]). No tensors here (this crate does not link
//! libtorch): the PDE problems, whose points are tensors, live with the PINN population in
//! pz-train.

pub mod text;
pub mod vision;
