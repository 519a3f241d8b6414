//! How values are printed for people.

/// Six significant digits, scientific notation for very large or small values.
pub fn format_value(v: f64) -> String {
    if v == 0.0 || (1e-3..1e6).contains(&v.abs()) {
        let s = format!("{v:.6}");
        let trimmed = s.trim_end_matches('0').trim_end_matches('.');
        if trimmed.is_empty() || trimmed == "-" {
            "0".into()
        } else {
            trimmed.into()
        }
    } else {
        format!("{v:.4e}")
    }
}
