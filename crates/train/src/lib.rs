//! pz-train
