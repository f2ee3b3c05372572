//! Tiny allocation-free JSON writing helpers (appending to a caller-owned `Vec<u8>`).
//!
//! Output is deterministic: integers in decimal, prices as fixed 4-decimal numbers, floats rounded to 6 decimals
//! with trailing zeros removed (non-finite floats become `null`), strings escaped per RFC 8259.

use std::io::Write as _;

use book::Price;

/// Appends `s` as a JSON string (with quotes), escaping `"`, `\` and control characters.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f => {
                let _ = write!(out, "\\u{:04x}", b);
            }
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// Appends `"key":`.
#[inline]
pub fn write_key(out: &mut Vec<u8>, key: &str) {
    write_str(out, key);
    out.push(b':');
}

/// Appends an unsigned integer.
#[inline]
pub fn write_u64(out: &mut Vec<u8>, v: u64) {
    let _ = write!(out, "{v}");
}

/// Appends a signed integer.
#[inline]
pub fn write_i64(out: &mut Vec<u8>, v: i64) {
    let _ = write!(out, "{v}");
}

/// Appends a float rounded to 6 decimals, trailing zeros trimmed; `null` when not finite.
pub fn write_f64(out: &mut Vec<u8>, v: f64) {
    if !v.is_finite() {
        out.extend_from_slice(b"null");
        return;
    }
    let start = out.len();
    let _ = write!(out, "{v:.6}");
    // Trim trailing zeros and a dangling point ("2.500000" -> "2.5", "3.000000" -> "3").
    while out.len() > start && out[out.len() - 1] == b'0' {
        out.pop();
    }
    if out.len() > start && out[out.len() - 1] == b'.' {
        out.pop();
    }
    if &out[start..] == b"-0" {
        out.truncate(start);
        out.push(b'0');
    }
}

/// Appends a price in ticks of 1/10 000 as a JSON number with 4 decimals (`123400` → `12.3400`).
pub fn write_price(out: &mut Vec<u8>, ticks: Price) {
    let neg = ticks < 0;
    let a = ticks.unsigned_abs();
    if neg {
        out.push(b'-');
    }
    let _ = write!(out, "{}.{:04}", a / 10_000, a % 10_000);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn floats() {
        assert_eq!(s(|o| write_f64(o, 2.5)), "2.5");
        assert_eq!(s(|o| write_f64(o, 3.0)), "3");
        assert_eq!(s(|o| write_f64(o, 0.0)), "0");
        assert_eq!(s(|o| write_f64(o, -0.0000001)), "0");
        assert_eq!(s(|o| write_f64(o, 1.0 / 3.0)), "0.333333");
        assert_eq!(s(|o| write_f64(o, f64::NAN)), "null");
        assert_eq!(s(|o| write_f64(o, 120.0)), "120");
    }

    #[test]
    fn prices_and_strings() {
        assert_eq!(s(|o| write_price(o, 123_400)), "12.3400");
        assert_eq!(s(|o| write_price(o, 5)), "0.0005");
        assert_eq!(s(|o| write_price(o, -15_000)), "-1.5000");
        assert_eq!(
            s(|o| write_str(o, "a\"b\\c\n\u{1}")),
            r#""a\"b\\c\n\u0001""#
        );
    }
}
