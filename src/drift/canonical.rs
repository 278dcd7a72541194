//! Canonical JSON bytes and content digests.
//!
//! Two normalised values are equal exactly when their canonical bytes are: object members in
//! byte order of their keys, no whitespace, strings and numbers as `serde_json` writes them.
//! Keys are sorted here rather than relying on `serde_json`'s map order, which a dependency
//! enabling `preserve_order` would change.

use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// A normalised resource's fingerprint: the first 128 bits of the SHA-256 of its canonical
/// bytes. The streaming diff keeps one per resource instead of the resource; a collision
/// between two different contents has probability about n²/2¹²⁹, negligible for any tenant.
/// Digests live only in memory during a diff: they are never stored or shown, since a digest
/// of content that holds a low-entropy secret could be used to guess it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ContentDigest([u8; 16]);

/// Appends the canonical bytes of `value` to `out`.
pub fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (k, v)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(k, out);
                out.push(b':');
                write_canonical(v, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(v, out);
            }
            out.push(b']');
        }
        Value::String(s) => write_string(s, out),
        scalar => {
            serde_json::to_writer(&mut *out, scalar).expect("writing JSON to a Vec cannot fail")
        }
    }
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    serde_json::to_writer(&mut *out, s).expect("writing JSON to a Vec cannot fail");
}

/// The canonical bytes of `value`.
pub fn canonical_bytes(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_canonical(value, &mut out);
    out
}

/// The digest of `value`, using `scratch` for its canonical bytes (reused across items).
pub fn digest(value: &Value, scratch: &mut Vec<u8>) -> ContentDigest {
    scratch.clear();
    write_canonical(value, scratch);
    let hash = Sha256::digest(&scratch[..]);
    let mut out = [0u8; 16];
    out.copy_from_slice(&hash[..16]);
    ContentDigest(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_bytes_sort_keys_at_every_level_and_escape_strings() {
        let v = json!({"b": 1, "a": {"z": [true, null], "y": "q\"\n"}, "": 1.5});
        assert_eq!(
            String::from_utf8(canonical_bytes(&v)).unwrap(),
            r#"{"":1.5,"a":{"y":"q\"\n","z":[true,null]},"b":1}"#
        );
    }

    #[test]
    fn digests_differ_exactly_when_canonical_bytes_do() {
        let mut scratch = Vec::new();
        let a = digest(&json!({"x": [1, 2], "y": "s"}), &mut scratch);
        let same = digest(&json!({"y": "s", "x": [1, 2]}), &mut scratch);
        let reordered = digest(&json!({"x": [2, 1], "y": "s"}), &mut scratch);
        let float = digest(&json!({"x": [1.0, 2], "y": "s"}), &mut scratch);
        assert_eq!(a, same);
        assert_ne!(a, reordered);
        assert_ne!(a, float, "1 and 1.0 are different JSON numbers");
    }
}
