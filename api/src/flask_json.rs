//! JSON written byte for byte the way the original's `flask.jsonify` writes it.
//!
//! Clients of the original (and the course material built on it) see Flask's exact output:
//! `json.dumps(obj, ensure_ascii=True, sort_keys=True, separators=(",", ":"))` followed by
//! one `"\n"`. `serde_json` differs in two ways that matter here — it writes non-ASCII
//! characters as they are (Python's `ensure_ascii` escapes them as `\uXXXX`, with surrogate
//! pairs above the BMP) and it leaves DEL (0x7f) unescaped (Python writes `\u007f`); its
//! control-character escapes are Python's — so the few flat objects this service sends are
//! written by this small encoder instead. Only a hostname or an error string could ever
//! contain such characters, but then the bytes must still match.

use std::fmt::Write as _;

/// A JSON value this service sends: the bodies are flat objects of strings, integers and
/// nulls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    Str(&'a str),
    Int(i64),
    Null,
}

/// Encodes a flat object as Flask does: keys sorted, compact separators, `ensure_ascii`
/// escapes, trailing newline.
pub fn object(fields: &mut [(&str, Value<'_>)]) -> String {
    // Python sorts keys by code point; for UTF-8 `str` that is byte order, which `Ord` uses.
    fields.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut out = String::with_capacity(256);
    out.push('{');
    for (i, (key, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        string(&mut out, key);
        out.push(':');
        match value {
            Value::Str(s) => string(&mut out, s),
            Value::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Value::Null => out.push_str("null"),
        }
    }
    out.push_str("}\n");
    out
}

/// Python's `py_encode_basestring_ascii`: printable ASCII as is, the five short escapes,
/// everything else (control characters, DEL, non-ASCII) as lower-case `\uXXXX`, with a
/// surrogate pair above the BMP.
fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_keys_and_ends_with_newline() {
        let body = object(&mut [
            ("b", Value::Int(-3)),
            ("a", Value::Null),
            ("c", Value::Str("x")),
        ]);
        assert_eq!(body, "{\"a\":null,\"b\":-3,\"c\":\"x\"}\n");
    }

    /// Expected strings are what CPython 3.11 prints for
    /// `json.dumps(s, ensure_ascii=True)`.
    const PYTHON: [(&str, &str); 6] = [
        ("plain ~", "\"plain ~\""),
        ("q\"b\\s/", "\"q\\\"b\\\\s/\""),
        ("\n\r\t\u{8}\u{c}", "\"\\n\\r\\t\\b\\f\""),
        ("\u{0}\u{1f}\u{7f}", "\"\\u0000\\u001f\\u007f\""),
        ("é€", "\"\\u00e9\\u20ac\""),
        ("😀", "\"\\ud83d\\ude00\""),
    ];

    #[test]
    fn escapes_like_python_ensure_ascii() {
        for (input, expected) in PYTHON {
            let mut out = String::new();
            string(&mut out, input);
            assert_eq!(out, expected, "input {input:?}");
        }
    }

    /// The measured reason for this module (api/README.md, "Deviations"): `serde_json` writes
    /// the same bytes as Python for ASCII input and differs exactly where `ensure_ascii`
    /// escapes (non-ASCII, DEL). Fails the day serde_json matches Python on all of them.
    #[test]
    fn serde_json_differs_from_python_only_where_ensure_ascii_escapes() {
        let mut differ = Vec::new();
        for (input, expected) in PYTHON {
            let theirs = serde_json::to_string(input).expect("string");
            if theirs != expected {
                differ.push(input);
            }
        }
        assert_eq!(differ, ["\u{0}\u{1f}\u{7f}", "é€", "😀"]);
    }
}
