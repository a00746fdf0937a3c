//! pz-data
