//! Canonical JSON: the byte encoding the activity chain hashes (docs/audit-pack.md, "Canonical
//! JSON"). The database computes the same encoding in `activity_canonical_json`
//! (migrations/0008_activity_chain.sql); a stack test checks that the two agree row for row.
//!
//! No whitespace; object keys in UTF-8 byte order; strings escaped exactly as `jq -c` escapes
//! them (`"`, `\`, the short forms `\b \f \n \r \t`, every other U+0000–U+001F and U+007F as
//! `\u00xx` in lowercase hex, everything else as raw UTF-8); numbers only integers within
//! ±(2^53 − 1), written in plain decimal. So `jq -cjS` reproduces it, and an auditor can
//! recompute a row's hash with `sha256sum`.

use serde_json::Value;
use std::fmt::Write as _;

/// Largest integer an IEEE double (and so every JSON tool) holds exactly.
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// A value the canonical form cannot represent exactly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalError {
    #[error("{0} is not an integer within ±(2^53 − 1); write it as a string")]
    Number(String),
    /// A chain row names a content version this code does not know.
    #[error("chain_version {0} is not a known content version (1 or 2)")]
    Version(i16),
}

/// The canonical encoding of `value`.
pub fn to_canonical(value: &Value) -> Result<String, CanonicalError> {
    let mut out = String::new();
    write_value(value, &mut out)?;
    Ok(out)
}

/// Appends the canonical encoding of `value` to `out`.
pub fn write_value(value: &Value, out: &mut String) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let int = n
                .as_i64()
                .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
                .filter(|i| i.abs() <= MAX_SAFE_INTEGER)
                .ok_or_else(|| CanonicalError::Number(n.to_string()))?;
            let _ = write!(out, "{int}");
        }
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_value(item, out)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

/// A JSON string literal, escaped as `jq -c` escapes it.
pub fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_are_sorted_by_utf8_bytes_and_compact() {
        let v = json!({"b": 1, "a": [true, null, {"z": "x", "é": 2, "Z": 3, "aa": -4}], "": {}});
        assert_eq!(
            to_canonical(&v).unwrap(),
            r#"{"":{},"a":[true,null,{"Z":3,"aa":-4,"z":"x","é":2}],"b":1}"#
        );
    }

    #[test]
    fn strings_escape_like_jq() {
        let s = "q\" b\\ \u{8}\u{c}\n\r\t \u{1} \u{1f} \u{7f} / é 😀";
        assert_eq!(
            to_canonical(&json!(s)).unwrap(),
            "\"q\\\" b\\\\ \\b\\f\\n\\r\\t \\u0001 \\u001f \\u007f / é 😀\""
        );
    }

    #[test]
    fn only_safe_integers_are_numbers() {
        assert_eq!(
            to_canonical(&json!(9007199254740991i64)).unwrap(),
            "9007199254740991"
        );
        assert_eq!(
            to_canonical(&json!(-9007199254740991i64)).unwrap(),
            "-9007199254740991"
        );
        assert_eq!(to_canonical(&json!(3.0)).unwrap(), "3");
        for bad in [json!(1.5), json!(9007199254740992i64), json!(u64::MAX)] {
            assert!(
                matches!(to_canonical(&bad), Err(CanonicalError::Number(_))),
                "{bad}"
            );
        }
    }
}
