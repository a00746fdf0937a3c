//! pz-phases
