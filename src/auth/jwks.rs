//! Asymmetric Supabase JWTs (RS256, ES256) verified against the project's JWKS.
//!
//! The algorithm comes from the key, never from the token: the header's `kid` selects a JWK, the
//! JWK's type fixes the algorithm (RSA → RS256, EC P-256 → ES256), and a header `alg` that
//! disagrees is refused. HS256 tokens never reach this path, so a token "signed" with a public
//! key as an HMAC secret (algorithm confusion) fails HS256 verification against the real secret.
//! The key set is fetched through the `HttpClient` port and cached with a TTL; an unknown `kid`
//! triggers at most one refresh per [`REFRESH_INTERVAL_SECS`] (key rotation without letting
//! random `kid`s hammer the JWKS endpoint). When a refresh fails the last good set keeps
//! working, but only until it is [`MAX_STALE_SECS`] old: a key Supabase revoked stops verifying
//! within that bound even if the endpoint stays unreachable (then every asymmetric token is
//! refused: fail closed).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::ecdsa::signature::Verifier as _;
use rsa::traits::PublicKeyParts as _;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::cell::RefCell;

use super::jwt::{check_claims, split, Claims, JwtError};
use crate::ports::{Clock, HttpClient, HttpRequest};

/// How long a fetched key set is trusted.
pub const TTL_SECS: i64 = 600;
/// Least time between two fetches triggered by an unknown `kid`.
pub const REFRESH_INTERVAL_SECS: i64 = 60;
/// Oldest a key set may be (since its last successful fetch) and still verify tokens, however
/// its refreshes fail: the TTL plus fifty minutes of JWKS outage.
pub const MAX_STALE_SECS: i64 = 3600;
/// Weakest RSA modulus accepted.
const MIN_RSA_BITS: usize = 2048;

/// One usable verification key.
#[derive(Clone, Debug)]
pub enum VerifyKey {
    Rs256(rsa::RsaPublicKey),
    Es256(p256::ecdsa::VerifyingKey),
}

impl VerifyKey {
    fn alg(&self) -> &'static str {
        match self {
            VerifyKey::Rs256(_) => "RS256",
            VerifyKey::Es256(_) => "ES256",
        }
    }
}

/// A parsed key set: `(kid, key)` pairs. Keys of other types, curves or uses are skipped.
#[derive(Clone, Debug, Default)]
pub struct KeySet {
    keys: Vec<(String, VerifyKey)>,
}

#[derive(Deserialize)]
struct RawSet {
    keys: Vec<RawKey>,
}

#[derive(Deserialize)]
struct RawKey {
    kty: String,
    kid: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    alg: Option<String>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

fn b64(s: &Option<String>) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s.as_deref()?).ok()
}

fn parse_key(raw: &RawKey) -> Option<(String, VerifyKey)> {
    if raw.use_.as_deref().is_some_and(|u| u != "sig") {
        return None;
    }
    let kid = raw.kid.clone()?;
    let key = match (raw.kty.as_str(), raw.alg.as_deref()) {
        ("RSA", None | Some("RS256")) => {
            let n = rsa::BigUint::from_bytes_be(&b64(&raw.n)?);
            let e = rsa::BigUint::from_bytes_be(&b64(&raw.e)?);
            let key = rsa::RsaPublicKey::new(n, e).ok()?;
            if key.size() * 8 < MIN_RSA_BITS {
                return None;
            }
            VerifyKey::Rs256(key)
        }
        ("EC", None | Some("ES256")) if raw.crv.as_deref() == Some("P-256") => {
            let (x, y) = (b64(&raw.x)?, b64(&raw.y)?);
            if x.len() != 32 || y.len() != 32 {
                return None;
            }
            let point = p256::EncodedPoint::from_affine_coordinates(
                x.as_slice().into(),
                y.as_slice().into(),
                false,
            );
            VerifyKey::Es256(p256::ecdsa::VerifyingKey::from_encoded_point(&point).ok()?)
        }
        _ => return None,
    };
    Some((kid, key))
}

impl KeySet {
    /// Parses a JWKS document; `None` if it is not one.
    pub fn parse(json: &[u8]) -> Option<KeySet> {
        let raw: RawSet = serde_json::from_slice(json).ok()?;
        Some(KeySet {
            keys: raw.keys.iter().filter_map(parse_key).collect(),
        })
    }

    fn get(&self, kid: &str) -> Option<&VerifyKey> {
        self.keys.iter().find(|(k, _)| k == kid).map(|(_, key)| key)
    }
}

impl CacheState {
    /// The cached set, unless it is older than [`MAX_STALE_SECS`].
    fn usable(&self, now: i64) -> Option<KeySet> {
        self.keys
            .clone()
            .filter(|_| now - self.fetched_at < MAX_STALE_SECS)
    }
}

/// The `kid` a token names, read before verification only to pick the key.
pub fn token_kid(token: &str) -> Result<String, JwtError> {
    split(token)?.0.kid.ok_or(JwtError::UnknownKey)
}

/// Verifies an RS256/ES256 token with the key `kid` in `keys`, then its claims; `iss` must equal
/// `issuer` when one is configured.
pub fn verify_asymmetric(
    token: &str,
    keys: &KeySet,
    now_unix: i64,
    audience: &str,
    issuer: Option<&str>,
) -> Result<Claims, JwtError> {
    let (header, payload, signature) = split(token)?;
    let kid = header.kid.as_deref().ok_or(JwtError::UnknownKey)?;
    let key = keys.get(kid).ok_or(JwtError::UnknownKey)?;
    if header.alg != key.alg() {
        return Err(JwtError::UnsupportedAlgorithm);
    }
    let (signing_input, _) = token.rsplit_once('.').ok_or(JwtError::Malformed)?;
    let ok = match key {
        VerifyKey::Rs256(key) => {
            let digest = Sha256::digest(signing_input.as_bytes());
            key.verify(rsa::Pkcs1v15Sign::new::<Sha256>(), &digest, &signature)
                .is_ok()
        }
        VerifyKey::Es256(key) => p256::ecdsa::Signature::from_slice(&signature)
            .is_ok_and(|sig| key.verify(signing_input.as_bytes(), &sig).is_ok()),
    };
    if !ok {
        return Err(JwtError::BadSignature);
    }
    let claims = check_claims(payload, now_unix, audience)?;
    if issuer.is_some_and(|iss| claims.iss.as_deref() != Some(iss)) {
        return Err(JwtError::WrongIssuer);
    }
    Ok(claims)
}

#[derive(Default)]
struct CacheState {
    keys: Option<KeySet>,
    fetched_at: i64,
    last_attempt: Option<i64>,
}

/// The JWKS cache. Lives for the isolate's lifetime (the platform keeps one), so most requests
/// never fetch.
#[derive(Default)]
pub struct JwksCache {
    state: RefCell<CacheState>,
}

impl JwksCache {
    /// Keys that should contain `kid`: the cached set while fresh and knowing `kid`; otherwise a
    /// fetch, unless one was tried within [`REFRESH_INTERVAL_SECS`]. A failed fetch keeps the old
    /// set while it is younger than [`MAX_STALE_SECS`]; after that there are no keys.
    pub async fn keys_for(
        &self,
        http: &dyn HttpClient,
        clock: &dyn Clock,
        url: &str,
        kid: &str,
    ) -> Option<KeySet> {
        let now = clock.now().timestamp();
        {
            let state = self.state.borrow();
            let fresh = now - state.fetched_at < TTL_SECS;
            let knows = state.keys.as_ref().is_some_and(|k| k.get(kid).is_some());
            let may_fetch = state
                .last_attempt
                .is_none_or(|at| now - at >= REFRESH_INTERVAL_SECS);
            if (fresh && knows) || !may_fetch {
                return state.usable(now);
            }
        }
        self.state.borrow_mut().last_attempt = Some(now);
        let fetched = match http.send(HttpRequest::get(url)).await {
            Ok(r) if r.status == 200 => KeySet::parse(&r.body),
            _ => None,
        };
        let mut state = self.state.borrow_mut();
        if let Some(keys) = fetched {
            state.keys = Some(keys);
            state.fetched_at = now;
        }
        state.usable(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::jwt::verify_hs256;
    use crate::testing::{json_response, ManualClock, ScriptedHttp};
    use futures::executor::block_on;
    use serde_json::Value;

    const NOW: i64 = 1_700_000_100;
    const AUD: &str = "authenticated";
    const ISS: &str = "https://proj.supabase.co/auth/v1";

    /// Keys and tokens made with Python `cryptography` (an independent implementation).
    fn vectors() -> Value {
        serde_json::from_str(include_str!("testdata/jwks_vectors.json")).unwrap()
    }

    fn keys() -> KeySet {
        KeySet::parse(vectors()["jwks"].to_string().as_bytes()).unwrap()
    }

    fn token(name: &str) -> String {
        vectors()[name].as_str().unwrap().to_string()
    }

    #[test]
    fn rs256_and_es256_tokens_verify_with_claims_checked() {
        for name in ["rs256", "es256"] {
            let claims = verify_asymmetric(&token(name), &keys(), NOW, AUD, Some(ISS)).unwrap();
            assert_eq!(claims.sub, "8d7e6f5a-4b3c-2d1e-0f9a-8b7c6d5e4f3a");
            assert_eq!(claims.role, "authenticated");
            assert_eq!(
                verify_asymmetric(&token(name), &keys(), NOW + 3600, AUD, None),
                Err(JwtError::Expired)
            );
            assert_eq!(
                verify_asymmetric(&token(name), &keys(), NOW, "other", None),
                Err(JwtError::WrongAudience)
            );
            assert_eq!(
                verify_asymmetric(&token(name), &keys(), NOW, AUD, Some("https://evil")),
                Err(JwtError::WrongIssuer)
            );
            assert_eq!(
                verify_asymmetric(&token(name), &keys(), 1_699_999_000, AUD, None),
                Err(JwtError::NotYetValid)
            );
        }
    }

    #[test]
    fn tampering_confusion_and_unknown_keys_are_refused() {
        for name in ["rs256", "es256"] {
            let t = token(name);
            let (input, sig) = t.rsplit_once('.').unwrap();
            let mut raw = URL_SAFE_NO_PAD.decode(sig).unwrap();
            raw[5] ^= 1;
            let flipped = format!("{input}.{}", URL_SAFE_NO_PAD.encode(&raw));
            assert_eq!(
                verify_asymmetric(&flipped, &keys(), NOW, AUD, None),
                Err(JwtError::BadSignature)
            );
        }
        // HS256 "signed" with the RSA public key: not an asymmetric alg for that key, and
        // meaningless as HS256 under the real secret.
        let confused = token("hs256_with_public_key");
        assert_eq!(
            verify_asymmetric(&confused, &keys(), NOW, AUD, None),
            Err(JwtError::UnsupportedAlgorithm)
        );
        assert_eq!(
            verify_hs256(
                &confused,
                b"the-project-secret-of-at-least-32-bytes",
                NOW,
                AUD
            ),
            Err(JwtError::BadSignature)
        );
        // The header may not pick the algorithm: RS256 under an EC key id is refused.
        assert_eq!(
            verify_asymmetric(&token("rs256_under_ec_kid"), &keys(), NOW, AUD, None),
            Err(JwtError::UnsupportedAlgorithm)
        );
        // Unknown kid, or none.
        assert_eq!(
            verify_asymmetric(&token("rs256"), &KeySet::default(), NOW, AUD, None),
            Err(JwtError::UnknownKey)
        );
        let t = token("es256");
        let (_, rest) = t.split_once('.').unwrap();
        let no_kid = format!(
            "{}.{rest}",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"ES256","typ":"JWT"}"#)
        );
        assert_eq!(
            verify_asymmetric(&no_kid, &keys(), NOW, AUD, None),
            Err(JwtError::UnknownKey)
        );
        let none = format!(
            "{}.{rest}",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"ec-1"}"#)
        );
        assert_eq!(
            verify_asymmetric(&none, &keys(), NOW, AUD, None),
            Err(JwtError::UnsupportedAlgorithm)
        );
        for junk in ["", "a.b", "a.b.c", "x.y.z.w"] {
            assert!(verify_asymmetric(junk, &keys(), NOW, AUD, None).is_err());
        }
    }

    #[test]
    fn weak_or_foreign_keys_are_skipped() {
        let set = KeySet::parse(
            br#"{"keys":[{"kty":"RSA","kid":"small","n":"AQAB","e":"AQAB"},
                {"kty":"EC","kid":"k1","crv":"P-384","x":"AA","y":"AA"},
                {"kty":"oct","kid":"h","k":"c2VjcmV0"},
                {"kty":"EC","kid":"enc","use":"enc","crv":"P-256","x":"AA","y":"AA"}]}"#,
        )
        .unwrap();
        assert!(set.keys.is_empty());
        assert!(KeySet::parse(b"not json").is_none());
    }

    #[test]
    fn cache_fetches_once_refreshes_on_unknown_kid_at_most_once_per_interval() {
        let jwks = vectors()["jwks"].clone();
        let http = ScriptedHttp::new(move |_| Ok(json_response(200, &jwks, &[])));
        let clock = ManualClock::at(chrono::DateTime::from_timestamp(NOW, 0).unwrap());
        let cache = JwksCache::default();
        let get = |kid: &str| block_on(cache.keys_for(&http, &clock, "http://jwks", kid));
        assert!(get("rsa-1").unwrap().get("rsa-1").is_some());
        assert!(get("ec-1").is_some());
        assert_eq!(http.requests.borrow().len(), 1, "served from cache");
        // An unknown kid (a rotation) refreshes, but at most once per interval since the last
        // fetch: random kids cannot hammer the endpoint.
        assert!(get("rotated").unwrap().get("rotated").is_none());
        assert_eq!(http.requests.borrow().len(), 1);
        clock.advance(std::time::Duration::from_secs(REFRESH_INTERVAL_SECS as u64));
        get("rotated");
        get("rotated");
        assert_eq!(http.requests.borrow().len(), 2);
        // After the TTL even a known kid refetches.
        clock.advance(std::time::Duration::from_secs(TTL_SECS as u64));
        get("rsa-1");
        assert_eq!(http.requests.borrow().len(), 3);
    }

    /// A JWKS outage does not keep a key set alive for ever: refreshes that fail keep the last
    /// good set only until it is `MAX_STALE_SECS` old, then nothing verifies until a fetch works.
    #[test]
    fn a_failing_refresh_keeps_the_old_set_only_for_a_bounded_time() {
        let jwks = vectors()["jwks"].clone();
        let up = std::rc::Rc::new(std::cell::Cell::new(true));
        let endpoint = up.clone();
        let http = ScriptedHttp::new(move |_| {
            Ok(if endpoint.get() {
                json_response(200, &jwks, &[])
            } else {
                json_response(503, &serde_json::json!({}), &[])
            })
        });
        let clock = ManualClock::at(chrono::DateTime::from_timestamp(NOW, 0).unwrap());
        let cache = JwksCache::default();
        let get = |kid: &str| block_on(cache.keys_for(&http, &clock, "http://jwks", kid));
        assert!(get("rsa-1").is_some());
        up.set(false);
        // Past the TTL the refresh fails: the old set still verifies, within the bound.
        clock.advance(std::time::Duration::from_secs(TTL_SECS as u64));
        assert!(get("rsa-1").unwrap().get("rsa-1").is_some());
        clock.advance(std::time::Duration::from_secs(
            (MAX_STALE_SECS - TTL_SECS - 1) as u64,
        ));
        assert!(get("rsa-1").is_some(), "still inside the bound");
        let fetches = http.requests.borrow().len();
        assert!(
            fetches >= 3,
            "every expired read retried the fetch: {fetches}"
        );
        // At the bound the stale set is dropped, whether a fetch is attempted or throttled.
        clock.advance(std::time::Duration::from_secs(1));
        assert!(get("rsa-1").is_none(), "a stale key set must not verify");
        assert!(get("rsa-1").is_none(), "throttled, still refused");
        // The endpoint recovers: keys are back on the next permitted fetch.
        up.set(true);
        clock.advance(std::time::Duration::from_secs(REFRESH_INTERVAL_SECS as u64));
        assert!(get("rsa-1").unwrap().get("rsa-1").is_some());
    }
}
