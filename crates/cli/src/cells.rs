//! Numbers in printed tables (`status`, `phases`): pz-phases' format, one for every table.

pub use pz_phases::fmt_value;
