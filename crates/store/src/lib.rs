//! pz-store
