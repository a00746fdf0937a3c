//! Numbers in printed tables (`status`, `phases`).

/// A compact number for tables: 3 significant digits.
pub fn fmt_value(v: f64) -> String {
    if v == 0.0 || (1e-3..1e4).contains(&v.abs()) {
        let s = format!("{v:.4}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_string()
    } else {
        format!("{v:.2e}")
    }
}
