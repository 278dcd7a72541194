//! `Stripe-Signature` verification, exactly as Stripe specifies
//! (<https://docs.stripe.com/webhooks#verify-manually>): the header is a comma-separated list of
//! `key=value` pairs with one `t` (Unix seconds) and one or more `v1` signatures (several while a
//! signing secret is being rolled); each `v1` is hex HMAC-SHA256, keyed by the endpoint's whole
//! `whsec_...` secret, over `{t}.{raw body}`. A payload is genuine when any `v1` matches under
//! any configured secret (compared in constant time) and `t` is no older than the tolerance.
//!
//! Written here rather than taken from a crate: the Stripe crates for Rust pull in an HTTP stack
//! that does not build for `wasm32-unknown-unknown`, and the check is twenty lines over `hmac`.
//! It is tested against Stripe's own Node library (`tests/stripe_official.rs`), which signs
//! headers and gives its own verdict on the same inputs.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;
use zeroize::Zeroizing;

/// Stripe's default tolerance (the official libraries' `DEFAULT_TOLERANCE`).
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// A webhook endpoint's signing secret (`whsec_...`). Several may be configured while one is
/// being rolled: Stripe then signs with both, and either verifies.
#[derive(Clone)]
pub struct WebhookSecret(Zeroizing<String>);

impl WebhookSecret {
    /// Accepts Stripe's `whsec_` form only, so a pasted API key is refused at startup.
    pub fn parse(value: &str) -> Option<WebhookSecret> {
        let value = value.trim();
        let rest = value.strip_prefix("whsec_")?;
        (rest.len() >= 16 && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
            .then(|| WebhookSecret(Zeroizing::new(value.to_string())))
    }

    /// A comma-separated list (`STRIPE_WEBHOOK_SECRET`); `None` if empty or any entry is bad.
    pub fn parse_list(value: &str) -> Option<Vec<WebhookSecret>> {
        let secrets: Option<Vec<_>> = value.split(',').map(WebhookSecret::parse).collect();
        secrets.filter(|s| !s.is_empty())
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(self.0.as_bytes()).expect("HMAC takes keys of any length")
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(..redacted..)")
    }
}

/// Why a webhook was refused. The edge answers 400 for every one (Stripe retries non-2xx
/// deliveries, which is right for a secret being rolled out and harmless otherwise).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no Stripe-Signature header")]
    MissingHeader,
    #[error("Stripe-Signature has no valid timestamp")]
    NoTimestamp,
    #[error("Stripe-Signature has no v1 signature")]
    NoSignatures,
    #[error("no v1 signature matches the payload")]
    NoMatch,
    #[error("signature timestamp is outside the tolerance")]
    TooOld,
}

/// Verifies `raw_body` (the bytes exactly as received) against the header value.
/// `now` is Unix seconds from the Clock port; `tolerance_secs` 0 disables the age check (tests
/// of stored fixtures only).
pub fn verify(
    raw_body: &[u8],
    header: Option<&str>,
    secrets: &[WebhookSecret],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let header = header
        .filter(|h| !h.is_empty())
        .ok_or(SignatureError::MissingHeader)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for item in header.split(',') {
        let (key, value) = item.split_once('=').unwrap_or((item, ""));
        match key.trim() {
            "t" => {
                // Two timestamps make the header ambiguous; refuse rather than pick one.
                if timestamp.is_some() {
                    return Err(SignatureError::NoTimestamp);
                }
                timestamp = Some(parse_unix(value).ok_or(SignatureError::NoTimestamp)?);
            }
            // A malformed entry cannot match; it must not hide the others.
            "v1" => signatures.extend(hex::decode(value.trim()).ok().filter(|s| s.len() == 32)),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::NoTimestamp)?;
    if signatures.is_empty() {
        return Err(SignatureError::NoSignatures);
    }
    let mut found = false;
    for secret in secrets {
        let mut mac = secret.mac();
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(raw_body);
        for signature in &signatures {
            // `verify_slice` compares in constant time; every candidate is checked.
            found |= mac.clone().verify_slice(signature).is_ok();
        }
    }
    if !found {
        return Err(SignatureError::NoMatch);
    }
    if tolerance_secs > 0 && now - timestamp > tolerance_secs {
        return Err(SignatureError::TooOld);
    }
    Ok(())
}

/// Decimal Unix seconds, nothing else (Stripe sends plain digits).
fn parse_unix(value: &str) -> Option<i64> {
    let value = value.trim();
    if value.is_empty() || value.len() > 12 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// The header Stripe would send: for tests and for the local fake (same scheme, same key use).
pub fn sign_header(raw_body: &[u8], secret: &WebhookSecret, timestamp: i64) -> String {
    let mut mac = secret.mac();
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(raw_body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> WebhookSecret {
        WebhookSecret::parse(s).unwrap()
    }

    const NOW: i64 = 1_700_000_000;

    #[test]
    fn accepts_its_own_header_and_rejects_any_change() {
        let s = secret("whsec_test0123456789abcdef");
        let body = br#"{"id":"evt_1","object":"event"}"#;
        let header = sign_header(body, &s, NOW);
        assert_eq!(
            verify(body, Some(&header), std::slice::from_ref(&s), NOW, 300),
            Ok(())
        );
        let tampered = br#"{"id":"evt_2","object":"event"}"#;
        assert_eq!(
            verify(tampered, Some(&header), std::slice::from_ref(&s), NOW, 300),
            Err(SignatureError::NoMatch)
        );
        // Re-stamped with a fresh time but the old signature: the time is signed too.
        let restamped = header.replace(&format!("t={NOW}"), &format!("t={}", NOW + 10));
        assert_eq!(
            verify(body, Some(&restamped), &[s], NOW, 300),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn tolerance_window_is_enforced_at_the_edge() {
        let s = secret("whsec_test0123456789abcdef");
        let body = b"{}";
        let header = sign_header(body, &s, NOW - 300);
        assert_eq!(
            verify(body, Some(&header), std::slice::from_ref(&s), NOW, 300),
            Ok(())
        );
        let header = sign_header(body, &s, NOW - 301);
        assert_eq!(
            verify(body, Some(&header), std::slice::from_ref(&s), NOW, 300),
            Err(SignatureError::TooOld)
        );
        // A bad signature is reported as such even when also stale.
        assert_eq!(
            verify(b"x", Some(&header), &[s], NOW, 300),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn any_of_several_signatures_and_secrets_verifies() {
        let old = secret("whsec_old0123456789abcdefgh");
        let new = secret("whsec_new0123456789abcdefgh");
        let body = b"{\"a\":1}";
        let by_old = sign_header(body, &old, NOW);
        let v1_old = by_old.split_once(",v1=").unwrap().1;
        // While rolling, Stripe sends both signatures; a receiver with either secret accepts.
        let both = format!("{},v1={v1_old},v0=ignored", sign_header(body, &new, NOW));
        assert_eq!(
            verify(body, Some(&both), std::slice::from_ref(&old), NOW, 300),
            Ok(())
        );
        assert_eq!(
            verify(body, Some(&both), std::slice::from_ref(&new), NOW, 300),
            Ok(())
        );
        // And a receiver holding both secrets accepts a header signed by only one.
        assert_eq!(verify(body, Some(&by_old), &[new, old], NOW, 300), Ok(()));
    }

    #[test]
    fn malformed_headers_are_refused_precisely() {
        let s = secret("whsec_test0123456789abcdef");
        let sig = sign_header(b"{}", &s, NOW);
        let v1 = sig.split_once(",v1=").unwrap().1;
        let cases: &[(Option<&str>, SignatureError)] = &[
            (None, SignatureError::MissingHeader),
            (Some(""), SignatureError::MissingHeader),
            (Some("v1=abc"), SignatureError::NoTimestamp),
            (Some("t=12x,v1=00"), SignatureError::NoTimestamp),
            (Some("t=1,t=2,v1=00"), SignatureError::NoTimestamp),
            (Some("t=1700000000"), SignatureError::NoSignatures),
            (Some("t=1700000000,v0=abcd"), SignatureError::NoSignatures),
            (Some("t=1700000000,v1=zz"), SignatureError::NoSignatures),
        ];
        for (header, expected) in cases {
            assert_eq!(
                verify(b"{}", *header, std::slice::from_ref(&s), NOW, 300),
                Err(*expected),
                "{header:?}"
            );
        }
        // A garbage v1 next to a good one does not hide the good one.
        let mixed = format!("t={NOW},v1=nothex,v1={v1}");
        assert_eq!(verify(b"{}", Some(&mixed), &[s], NOW, 300), Ok(()));
    }

    #[test]
    fn secrets_must_look_like_stripe_signing_secrets() {
        assert!(WebhookSecret::parse("sk_test_0123456789abcdef").is_none());
        assert!(WebhookSecret::parse("whsec_short").is_none());
        assert!(
            WebhookSecret::parse_list("whsec_0123456789abcdefgh,whsec_abcdefgh01234567").is_some()
        );
        assert!(WebhookSecret::parse_list("whsec_0123456789abcdefgh,").is_none());
        assert!(!format!("{:?}", secret("whsec_test0123456789abcdef")).contains("test0123"));
    }
}
