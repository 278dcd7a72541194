//! Short-lived signed download URLs.
//!
//! A grant is a query string `b=<backup>&o=<object>&t=<tenant>&e=<expires>&s=<mac>`. The MAC is
//! HMAC-SHA256 over `butterfly/download/v1` and the length-prefixed fields (the expiry as i64
//! big-endian), so no field can be changed or shifted into another. Verification also caps how
//! far in the future a grant may expire, so even a signer bug cannot mint long-lived links.

use crate::crypto::keys::Key256;
use crate::crypto::{ct_eq, hmac_sha256, parse_canonical_decimal, put_field};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use std::fmt::Write as _;

/// Longest lifetime a verifiable grant may have.
pub const MAX_TTL_SECS: i64 = 300;
/// Clock skew tolerated on top of [`MAX_TTL_SECS`] between signer and verifier.
const CLOCK_SKEW_SECS: i64 = 30;
/// Longest query accepted; bounds work on unauthenticated input.
const MAX_QUERY_LEN: usize = 2048;
const LABEL: &[u8] = b"butterfly/download/v1";

/// Permission to download one object of one backup until `expires_at` (Unix seconds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DownloadGrant {
    pub backup_id: String,
    pub object: String,
    pub tenant: String,
    pub expires_at: i64,
}

/// Why a signed URL was rejected. Never includes the query.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignedUrlError {
    /// Unparseable, incomplete, duplicated or unknown parameters, or an expiry further out than
    /// [`MAX_TTL_SECS`] allows (no legitimate signer produces one).
    #[error("malformed download link")]
    Malformed,
    #[error("bad download link signature")]
    BadSignature,
    #[error("download link expired")]
    Expired,
}

fn mac(key: &Key256, grant: &DownloadGrant) -> [u8; 32] {
    let mut message = Vec::new();
    put_field(&mut message, grant.backup_id.as_bytes());
    put_field(&mut message, grant.object.as_bytes());
    put_field(&mut message, grant.tenant.as_bytes());
    message.extend_from_slice(&grant.expires_at.to_be_bytes());
    hmac_sha256(key.expose(), &[LABEL, &message])
}

/// Bytes that stand for themselves in a query value (RFC 3986 unreserved).
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn percent_encode(value: &str, out: &mut String) {
    for &b in value.as_bytes() {
        if is_unreserved(b) {
            out.push(char::from(b));
        } else {
            write!(out, "%{b:02X}").expect("writing to a String cannot fail");
        }
    }
}

/// Strict inverse of [`percent_encode`]: only unreserved bytes and `%XX` escapes; non-empty.
fn percent_decode(value: &str) -> Result<String, SignedUrlError> {
    let hex = |digit: u8| char::from(digit).to_digit(16);
    let mut bytes = Vec::with_capacity(value.len());
    let mut rest = value.as_bytes();
    loop {
        rest = match rest {
            [] => break,
            [b'%', hi, lo, tail @ ..] => {
                let (Some(hi), Some(lo)) = (hex(*hi), hex(*lo)) else {
                    return Err(SignedUrlError::Malformed);
                };
                bytes.push(u8::try_from(hi << 4 | lo).expect("two hex digits fit a byte"));
                tail
            }
            [b, tail @ ..] if is_unreserved(*b) => {
                bytes.push(*b);
                tail
            }
            _ => return Err(SignedUrlError::Malformed),
        };
    }
    if bytes.is_empty() {
        return Err(SignedUrlError::Malformed);
    }
    String::from_utf8(bytes).map_err(|_| SignedUrlError::Malformed)
}

/// Signs `grant` as a query string without a leading `?`. Values outside the URL-safe set are
/// percent-encoded. `sign` does not clamp the expiry; [`verify`] rejects over-long grants.
pub fn sign(key: &Key256, grant: &DownloadGrant) -> String {
    let mut query = String::from("b=");
    percent_encode(&grant.backup_id, &mut query);
    query.push_str("&o=");
    percent_encode(&grant.object, &mut query);
    query.push_str("&t=");
    percent_encode(&grant.tenant, &mut query);
    write!(query, "&e={}&s=", grant.expires_at).expect("writing to a String cannot fail");
    query.push_str(&URL_SAFE_NO_PAD.encode(mac(key, grant)));
    query
}

/// Verifies a query produced by [`sign`] at time `now_unix` and returns the grant.
///
/// Parameters may come in any order, but each exactly once and no others.
pub fn verify(key: &Key256, query: &str, now_unix: i64) -> Result<DownloadGrant, SignedUrlError> {
    if query.len() > MAX_QUERY_LEN {
        return Err(SignedUrlError::Malformed);
    }
    let mut fields: [Option<&str>; 5] = [None; 5];
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').ok_or(SignedUrlError::Malformed)?;
        let slot = match name {
            "b" => 0,
            "o" => 1,
            "t" => 2,
            "e" => 3,
            "s" => 4,
            _ => return Err(SignedUrlError::Malformed),
        };
        if fields[slot].replace(value).is_some() {
            return Err(SignedUrlError::Malformed);
        }
    }
    let [Some(backup_id), Some(object), Some(tenant), Some(expires_at), Some(signature)] = fields
    else {
        return Err(SignedUrlError::Malformed);
    };
    let grant = DownloadGrant {
        backup_id: percent_decode(backup_id)?,
        object: percent_decode(object)?,
        tenant: percent_decode(tenant)?,
        expires_at: parse_canonical_decimal(expires_at).ok_or(SignedUrlError::Malformed)?,
    };
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| SignedUrlError::Malformed)?;

    if !ct_eq(&mac(key, &grant), &signature) {
        return Err(SignedUrlError::BadSignature);
    }
    if now_unix > grant.expires_at {
        return Err(SignedUrlError::Expired);
    }
    if grant.expires_at > now_unix.saturating_add(MAX_TTL_SECS + CLOCK_SKEW_SECS) {
        return Err(SignedUrlError::Malformed);
    }
    Ok(grant)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn key() -> Key256 {
        Key256::from_bytes([0x33; 32])
    }

    fn grant() -> DownloadGrant {
        DownloadGrant {
            backup_id: "6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f".into(),
            object: "group_memberships".into(),
            tenant: "0b4c4f2e-7d1a-4b7e-9a51-2f1f3c6d8e90".into(),
            expires_at: NOW + MAX_TTL_SECS,
        }
    }

    /// Replaces one parameter's raw value, keeping the others (and the signature).
    fn with_param(query: &str, name: &str, value: &str) -> String {
        query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((n, _)) if n == name => format!("{n}={value}"),
                _ => pair.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("&")
    }

    /// Pins the query format and MAC for a fixed key and grant. Cross-checked against an
    /// independent implementation (Python `cryptography`) when pinned.
    #[test]
    fn sign_known_answer() {
        assert_eq!(
            sign(&key(), &grant()),
            "b=6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f&o=group_memberships\
             &t=0b4c4f2e-7d1a-4b7e-9a51-2f1f3c6d8e90&e=1700000300\
             &s=5c_iuX_vBvGT7k7x0owcihDxKZkzSXw4uAQi3P5jDec"
        );
    }

    #[test]
    fn round_trip() {
        let query = sign(&key(), &grant());
        assert_eq!(verify(&key(), &query, NOW), Ok(grant()));
        assert_eq!(verify(&key(), &query, NOW + MAX_TTL_SECS), Ok(grant()));
    }

    #[test]
    fn parameter_order_does_not_matter() {
        let query = sign(&key(), &grant());
        let mut pairs: Vec<&str> = query.split('&').collect();
        pairs.reverse();
        assert_eq!(verify(&key(), &pairs.join("&"), NOW), Ok(grant()));
    }

    #[test]
    fn unusual_values_are_percent_encoded() {
        let odd = DownloadGrant {
            object: "a&b=c %/é".into(),
            ..grant()
        };
        let query = sign(&key(), &odd);
        assert!(query.contains("o=a%26b%3Dc%20%25%2F%C3%A9&"), "{query}");
        assert_eq!(verify(&key(), &query, NOW), Ok(odd));
    }

    #[test]
    fn tampering_any_field_breaks_the_signature() {
        let query = sign(&key(), &grant());
        for (name, value) in [
            ("b", "6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e40"),
            ("o", "users"),
            ("t", "0b4c4f2e-7d1a-4b7e-9a51-2f1f3c6d8e91"),
            ("e", &(NOW + MAX_TTL_SECS - 1).to_string()),
        ] {
            assert_eq!(
                verify(&key(), &with_param(&query, name, value), NOW),
                Err(SignedUrlError::BadSignature),
                "{name}"
            );
        }
        // Shifting bytes between fields keeps the concatenation but not the length prefixes.
        let shifted = with_param(
            &with_param(&query, "o", "group_membership"),
            "t",
            "s0b4c4f2e-7d1a-4b7e-9a51-2f1f3c6d8e90",
        );
        assert_eq!(
            verify(&key(), &shifted, NOW),
            Err(SignedUrlError::BadSignature)
        );

        let signature = query.rsplit_once("s=").unwrap().1;
        let mut raw = URL_SAFE_NO_PAD.decode(signature).unwrap();
        raw[0] ^= 1;
        for bad in [
            URL_SAFE_NO_PAD.encode(&raw),
            URL_SAFE_NO_PAD.encode(&raw[..16]),
            String::new(),
        ] {
            assert_eq!(
                verify(&key(), &with_param(&query, "s", &bad), NOW),
                Err(SignedUrlError::BadSignature)
            );
        }
        assert_eq!(
            verify(&Key256::from_bytes([0x34; 32]), &query, NOW),
            Err(SignedUrlError::BadSignature)
        );
    }

    #[test]
    fn expired_grants_are_rejected() {
        let query = sign(&key(), &grant());
        let expires_at = grant().expires_at;
        assert!(verify(&key(), &query, expires_at).is_ok());
        assert_eq!(
            verify(&key(), &query, expires_at + 1),
            Err(SignedUrlError::Expired)
        );
    }

    #[test]
    fn overlong_grants_are_rejected() {
        let at_limit = DownloadGrant {
            expires_at: NOW + MAX_TTL_SECS + CLOCK_SKEW_SECS,
            ..grant()
        };
        assert!(verify(&key(), &sign(&key(), &at_limit), NOW).is_ok());
        for expires_at in [
            NOW + MAX_TTL_SECS + CLOCK_SKEW_SECS + 1,
            NOW + 86_400,
            i64::MAX,
        ] {
            let long = DownloadGrant {
                expires_at,
                ..grant()
            };
            assert_eq!(
                verify(&key(), &sign(&key(), &long), NOW),
                Err(SignedUrlError::Malformed),
                "{expires_at}"
            );
        }
    }

    #[test]
    fn structural_problems_are_malformed() {
        let query = sign(&key(), &grant());
        let without = |name: &str| {
            query
                .split('&')
                .filter(|pair| !pair.starts_with(&format!("{name}=")))
                .collect::<Vec<_>>()
                .join("&")
        };
        let mut bad: Vec<String> = ["b", "o", "t", "e", "s"]
            .iter()
            .map(|n| without(n))
            .collect();
        bad.extend([
            String::new(),
            format!("?{query}"),
            format!("{query}&"),
            format!("{query}&b=6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f"),
            format!("b=x&{query}"),
            format!("{query}&s=AAAA"),
            format!("{query}&x=1"),
            format!("{query}&flag"),
            with_param(&query, "o", ""),
            with_param(&query, "o", "users%2"),
            with_param(&query, "o", "users%zz"),
            with_param(&query, "o", "us+ers"),
            with_param(&query, "o", "us ers"),
            with_param(&query, "o", "%FF"),
            with_param(&query, "e", "+1700000300"),
            with_param(&query, "e", "01700000300"),
            with_param(&query, "e", "-1"),
            with_param(&query, "e", "soon"),
            with_param(&query, "s", "not base64!"),
            format!("{query}{}", "a".repeat(MAX_QUERY_LEN)),
        ]);
        for q in bad {
            assert_eq!(
                verify(&key(), &q, NOW),
                Err(SignedUrlError::Malformed),
                "{q:?}"
            );
        }
    }
}
