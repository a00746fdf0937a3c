//! pz-models
