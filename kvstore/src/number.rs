//! PLACEHOLDER until the number module lands.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    std::str::from_utf8(s).ok()?.parse().ok()
}
pub fn format_double(d: f64) -> String {
    d.to_string()
}
