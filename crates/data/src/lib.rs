//! What image models are trained on: dataset readers, the uint8 cache and the downloader
//! ([`vision`]). No tensors here (this crate does not link libtorch): the PDE problems, whose
//! points are tensors, live with the PINN population in pz-train.

pub mod vision;
