//! Supabase-style HS256 JWTs.
//!
//! Verification is deliberately narrow: the only accepted algorithm is HS256 (so `none` and
//! algorithm-confusion tokens are refused before any key is used), the signature is checked in
//! constant time before the claims are parsed, and `exp` and `aud` are mandatory.

use crate::crypto::{ct_eq, hmac_sha256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Longest token accepted; bounds the work done on unauthenticated input.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;
/// Tolerated clock skew for `nbf` and `iat` in the future. `exp` gets none.
const LEEWAY_SECS: i64 = 60;
/// Base64url of `{"alg":"HS256","typ":"JWT"}`.
const HS256_HEADER: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

/// Token claims. Unknown claims in a token are ignored.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Claims {
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// The audience that matched during verification (a token may list several).
    pub aud: String,
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether the token says `email` was confirmed: see [`email_verified`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub email_verified: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
}

/// Why a token was rejected. Never includes the token or its contents.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("malformed token")]
    Malformed,
    #[error("unsupported token algorithm")]
    UnsupportedAlgorithm,
    #[error("bad token signature")]
    BadSignature,
    #[error("token expired")]
    Expired,
    #[error("token not yet valid")]
    NotYetValid,
    #[error("token audience mismatch")]
    WrongAudience,
    #[error("token issuer mismatch")]
    WrongIssuer,
    #[error("token signed by an unknown key")]
    UnknownKey,
}

#[derive(Deserialize)]
pub(crate) struct Header {
    pub(crate) alg: String,
    /// Key id; only asymmetric tokens need it.
    #[serde(default)]
    pub(crate) kid: Option<String>,
    #[serde(default)]
    typ: Option<String>,
    /// RFC 7515 §4.1.11: critical extensions must be understood; we understand none.
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

/// Claims as they may appear in a token: `aud` is a string or an array (RFC 7519 §4.1.3).
#[derive(Deserialize)]
struct TokenClaims {
    sub: String,
    exp: i64,
    iat: i64,
    #[serde(default)]
    nbf: Option<i64>,
    aud: Audience,
    role: String,
    #[serde(default)]
    email: Option<String>,
    /// OIDC's claim (what a Supabase custom access token hook, or the re-issued token, carries).
    #[serde(default)]
    email_verified: Option<serde_json::Value>,
    /// Supabase Auth's copy of the identity's data; user-editable, so read with care.
    #[serde(default)]
    user_metadata: Option<serde_json::Value>,
    #[serde(default)]
    iss: Option<String>,
}

/// Does the token say its `email` is confirmed? Supabase Auth issues access tokens with
/// `user_metadata.email_verified` (set from the identity when the address is confirmed); a token
/// may also carry OIDC's top-level `email_verified`. Only a JSON `true` counts. Supabase keeps
/// the old address in `user_metadata.email` after an email change (supabase/auth#1670), so the
/// metadata's flag counts only while its `email` is the token's. `user_metadata` is editable by
/// the user, so this is a first gate only: accepting an invitation also requires the database's
/// `auth.users.email_confirmed_at` for the same address (`invitation_accept`).
fn email_verified(claims: &TokenClaims) -> bool {
    let Some(email) = claims.email.as_deref() else {
        return false;
    };
    if claims.email_verified == Some(serde_json::Value::Bool(true)) {
        return true;
    }
    let Some(meta) = claims.user_metadata.as_ref() else {
        return false;
    };
    let same_address = match meta.get("email") {
        None => true,
        Some(v) => v.as_str().is_some_and(|m| m.eq_ignore_ascii_case(email)),
    };
    meta.get("email_verified") == Some(&serde_json::Value::Bool(true)) && same_address
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, expected: &str) -> bool {
        match self {
            Audience::One(aud) => aud == expected,
            Audience::Many(auds) => auds.iter().any(|aud| aud == expected),
        }
    }
}

/// Signs `claims` (normally [`Claims`]; API-key tokens add their own) as a compact HS256 JWT
/// with header `{"alg":"HS256","typ":"JWT"}`.
pub fn sign_hs256(claims: &impl Serialize, secret: &[u8]) -> String {
    let payload = serde_json::to_vec(claims).expect("claims always serialize");
    let mut token = format!("{HS256_HEADER}.{}", URL_SAFE_NO_PAD.encode(payload));
    let signature = hmac_sha256(secret, &[token.as_bytes()]);
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature));
    token
}

pub(crate) fn decode_json<T: DeserializeOwned>(part: &str) -> Result<T, JwtError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed)
}

/// Verifies an HS256 token and returns its claims, with `aud` set to `expected_audience`.
///
/// `secret` is the raw signing secret (Supabase's JWT secret as configured, not decoded). An
/// empty secret verifies nothing, so a missing configuration fails closed.
///
/// Requires: at most [`MAX_TOKEN_LEN`] bytes; header `alg` exactly `HS256`, `typ` (if present)
/// `JWT`, no `crit`; a valid signature; `exp > now_unix`; `nbf` and `iat` no more than 60 s in
/// the future; `aud` equal to, or an array containing, `expected_audience`.
pub fn verify_hs256(
    token: &str,
    secret: &[u8],
    now_unix: i64,
    expected_audience: &str,
) -> Result<Claims, JwtError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwtError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };

    let parsed: Header = decode_json(header)?;
    if parsed.alg != "HS256" {
        return Err(JwtError::UnsupportedAlgorithm);
    }
    if parsed.crit.is_some()
        || parsed
            .typ
            .is_some_and(|typ| !typ.eq_ignore_ascii_case("JWT"))
    {
        return Err(JwtError::Malformed);
    }

    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| JwtError::Malformed)?;
    let signing_input = &token[..header.len() + 1 + payload.len()];
    let expected = hmac_sha256(secret, &[signing_input.as_bytes()]);
    if secret.is_empty() || !ct_eq(&expected, &signature) {
        return Err(JwtError::BadSignature);
    }

    check_claims(payload, now_unix, expected_audience)
}

/// Splits a compact token into header, payload and decoded signature, checking the size cap and
/// the header's shape (`typ`, `crit`). The algorithm is left to the caller.
pub(crate) fn split(token: &str) -> Result<(Header, &str, Vec<u8>), JwtError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwtError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let parsed: Header = decode_json(header)?;
    if parsed.crit.is_some()
        || parsed
            .typ
            .as_deref()
            .is_some_and(|typ| !typ.eq_ignore_ascii_case("JWT"))
    {
        return Err(JwtError::Malformed);
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| JwtError::Malformed)?;
    Ok((parsed, payload, signature))
}

/// The claim checks every token gets once its signature is verified: `exp`, `nbf`/`iat` skew,
/// `aud`.
pub(crate) fn check_claims(
    payload: &str,
    now_unix: i64,
    expected_audience: &str,
) -> Result<Claims, JwtError> {
    let claims: TokenClaims = decode_json(payload)?;
    if now_unix >= claims.exp {
        return Err(JwtError::Expired);
    }
    let latest_start = now_unix.saturating_add(LEEWAY_SECS);
    if claims.nbf.is_some_and(|nbf| nbf > latest_start) || claims.iat > latest_start {
        return Err(JwtError::NotYetValid);
    }
    if !claims.aud.contains(expected_audience) {
        return Err(JwtError::WrongAudience);
    }
    let email_verified = email_verified(&claims);
    Ok(Claims {
        email_verified,
        sub: claims.sub,
        exp: claims.exp,
        iat: claims.iat,
        nbf: claims.nbf,
        aud: expected_audience.to_owned(),
        role: claims.role,
        email: claims.email,
        iss: claims.iss,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &[u8] = b"super-secret-jwt-token-with-at-least-32-characters-long";
    const NOW: i64 = 1_700_000_000;
    const AUD: &str = "authenticated";

    fn claims() -> Claims {
        Claims {
            sub: "8d7e6f5a-4b3c-2d1e-0f9a-8b7c6d5e4f3a".into(),
            exp: NOW + 3600,
            iat: NOW,
            nbf: None,
            aud: AUD.into(),
            role: "authenticated".into(),
            email: Some("ada@example.com".into()),
            email_verified: true,
            iss: Some("https://project.supabase.co/auth/v1".into()),
        }
    }

    /// Builds a token from raw JSON, signed with `secret`, to test what `sign_hs256` can't emit.
    fn forge(header: serde_json::Value, payload: serde_json::Value, secret: &[u8]) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(payload.to_string())
        );
        let signature = hmac_sha256(secret, &[input.as_bytes()]);
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    fn hs256() -> serde_json::Value {
        json!({"alg": "HS256", "typ": "JWT"})
    }

    #[test]
    fn header_constant_matches_its_json() {
        assert_eq!(
            URL_SAFE_NO_PAD.decode(HS256_HEADER).unwrap(),
            br#"{"alg":"HS256","typ":"JWT"}"#
        );
    }

    /// Pins the token format for fixed claims. Cross-checked against an independent implementation
    /// (Python `cryptography`) when pinned.
    #[test]
    fn sign_known_answer() {
        let pinned = Claims {
            email_verified: false,
            ..claims()
        };
        assert_eq!(
            sign_hs256(&pinned, SECRET),
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9\
             .eyJzdWIiOiI4ZDdlNmY1YS00YjNjLTJkMWUtMGY5YS04YjdjNmQ1ZTRmM2EiLCJleHAiOjE3MDAwMDM2MDAs\
             ImlhdCI6MTcwMDAwMDAwMCwiYXVkIjoiYXV0aGVudGljYXRlZCIsInJvbGUiOiJhdXRoZW50aWNhdGVkIiwi\
             ZW1haWwiOiJhZGFAZXhhbXBsZS5jb20iLCJpc3MiOiJodHRwczovL3Byb2plY3Quc3VwYWJhc2UuY28vYXV0\
             aC92MSJ9\
             .WCsI1Wifei4nPs-SqrcKa1N_wtK2P7PpU8cdsBPCTho"
        );
    }

    /// RFC 7515 appendix A.1: the reference HS256 JWS verifies (it then lacks our required
    /// claims), and fails under any other key.
    #[test]
    fn rfc7515_a1_signature_verifies() {
        let token = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9\
            .eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt\
             cGxlLmNvbS9pc19yb290Ijp0cnVlfQ\
            .dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let key = URL_SAFE_NO_PAD
            .decode(
                "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0i\
                 PS4hcgUuTwjAzZr1Z9CAow",
            )
            .unwrap();
        assert_eq!(
            verify_hs256(token, &key, 1_300_819_000, AUD),
            Err(JwtError::Malformed)
        );
        assert_eq!(
            verify_hs256(token, SECRET, 1_300_819_000, AUD),
            Err(JwtError::BadSignature)
        );
    }

    #[test]
    fn round_trip() {
        let token = sign_hs256(&claims(), SECRET);
        assert_eq!(verify_hs256(&token, SECRET, NOW, AUD), Ok(claims()));
        let with_nbf = Claims {
            nbf: Some(NOW - 10),
            email: None,
            email_verified: false,
            iss: None,
            ..claims()
        };
        let token = sign_hs256(&with_nbf, SECRET);
        assert_eq!(verify_hs256(&token, SECRET, NOW, AUD), Ok(with_nbf));
    }

    #[test]
    fn optional_claims_are_omitted_when_absent() {
        let bare = Claims {
            email: None,
            email_verified: false,
            iss: None,
            ..claims()
        };
        let token = sign_hs256(&bare, SECRET);
        let payload = token.split('.').nth(1).unwrap();
        let json: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["aud", "exp", "iat", "role", "sub"]);
    }

    #[test]
    fn supabase_token_with_extra_claims_verifies() {
        let payload = json!({
            "aud": AUD, "exp": NOW + 60, "iat": NOW, "sub": "u1", "role": "authenticated",
            "email": "ada@example.com", "phone": "", "aal": "aal1", "session_id": "s1",
            "app_metadata": {"provider": "email"}, "is_anonymous": false,
        });
        let header = json!({"alg": "HS256", "typ": "JWT", "kid": "abc"});
        let claims = verify_hs256(&forge(header, payload, SECRET), SECRET, NOW, AUD).unwrap();
        assert_eq!(claims.sub, "u1");
        assert_eq!(claims.email.as_deref(), Some("ada@example.com"));
    }

    /// A confirmed address is what Supabase Auth puts in the token (`user_metadata.email_verified`)
    /// or OIDC's `email_verified`, a JSON `true` only, for the token's own address; anything else
    /// (absent, false, a string, stale metadata after an email change, no email) is unverified.
    #[test]
    fn email_verified_only_when_the_token_says_so_for_its_own_address() {
        let verified = |extra: serde_json::Value| {
            let mut payload = json!({
                "aud": AUD, "exp": NOW + 60, "iat": NOW, "sub": "u1", "role": "authenticated",
                "email": "Ada@Example.com",
            });
            for (k, v) in extra.as_object().unwrap() {
                payload[k] = v.clone();
            }
            let token = forge(json!({"alg": "HS256", "typ": "JWT"}), payload, SECRET);
            verify_hs256(&token, SECRET, NOW, AUD)
                .unwrap()
                .email_verified
        };
        // As Supabase Auth issues it, for a confirmed email identity.
        assert!(verified(json!({"user_metadata": {
            "email": "ada@example.com", "email_verified": true, "phone_verified": false,
            "sub": "u1"}})));
        assert!(verified(json!({"user_metadata": {"email_verified": true}})));
        assert!(verified(json!({"email_verified": true})));
        assert!(!verified(json!({})));
        assert!(!verified(
            json!({"user_metadata": {"email_verified": false}})
        ));
        assert!(!verified(
            json!({"user_metadata": {"email_verified": "true"}})
        ));
        assert!(!verified(json!({"email_verified": "true"})));
        assert!(!verified(json!({"user_metadata": "odd"})));
        // After an email change Supabase leaves the old address in the metadata.
        assert!(!verified(json!({"user_metadata": {
            "email": "old@example.com", "email_verified": true}})));
        let no_email = forge(
            json!({"alg": "HS256", "typ": "JWT"}),
            json!({"aud": AUD, "exp": NOW + 60, "iat": NOW, "sub": "u1",
                   "role": "authenticated", "email_verified": true}),
            SECRET,
        );
        assert!(
            !verify_hs256(&no_email, SECRET, NOW, AUD)
                .unwrap()
                .email_verified
        );
    }

    #[test]
    fn rejects_other_algorithms() {
        let payload = serde_json::to_value(claims()).unwrap();
        for alg in [
            "none", "None", "RS256", "HS384", "HS512", "ES256", "hs256", "",
        ] {
            let token = forge(json!({"alg": alg, "typ": "JWT"}), payload.clone(), SECRET);
            assert_eq!(
                verify_hs256(&token, SECRET, NOW, AUD),
                Err(JwtError::UnsupportedAlgorithm),
                "{alg}"
            );
        }
        // Classic `none` token: empty signature.
        let body = URL_SAFE_NO_PAD.encode(payload.to_string());
        let none = format!("{}.{body}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#));
        assert_eq!(
            verify_hs256(&none, SECRET, NOW, AUD),
            Err(JwtError::UnsupportedAlgorithm)
        );
    }

    #[test]
    fn rejects_bad_headers() {
        let payload = serde_json::to_value(claims()).unwrap();
        for header in [
            json!({"typ": "JWT"}),
            json!({"alg": ["HS256"]}),
            json!({"alg": "HS256", "typ": "at+jwt"}),
            json!({"alg": "HS256", "crit": ["exp"]}),
            json!("HS256"),
        ] {
            let token = forge(header.clone(), payload.clone(), SECRET);
            assert_eq!(
                verify_hs256(&token, SECRET, NOW, AUD),
                Err(JwtError::Malformed),
                "{header}"
            );
        }
        let lower_typ = forge(json!({"alg": "HS256", "typ": "jwt"}), payload, SECRET);
        assert!(verify_hs256(&lower_typ, SECRET, NOW, AUD).is_ok());
    }

    #[test]
    fn rejects_bad_signatures() {
        let token = sign_hs256(&claims(), SECRET);
        assert_eq!(
            verify_hs256(&token, b"another-secret", NOW, AUD),
            Err(JwtError::BadSignature)
        );
        assert_eq!(
            verify_hs256(&sign_hs256(&claims(), b""), b"", NOW, AUD),
            Err(JwtError::BadSignature),
            "an empty secret must not verify"
        );

        let (input, signature) = token.rsplit_once('.').unwrap();
        let mut raw = URL_SAFE_NO_PAD.decode(signature).unwrap();
        raw[31] ^= 1;
        let flipped = format!("{input}.{}", URL_SAFE_NO_PAD.encode(&raw));
        let short = format!("{input}.{}", URL_SAFE_NO_PAD.encode(&raw[..31]));
        let empty = format!("{input}.");
        for bad in [flipped, short, empty] {
            assert_eq!(
                verify_hs256(&bad, SECRET, NOW, AUD),
                Err(JwtError::BadSignature)
            );
        }

        // Changing the payload (here: escalating the role) invalidates the signature.
        let forged = Claims {
            role: "service_role".into(),
            ..claims()
        };
        let forged_payload = sign_hs256(&forged, b"attacker")
            .split('.')
            .nth(1)
            .unwrap()
            .to_owned();
        let mut parts: Vec<&str> = token.split('.').collect();
        parts[1] = &forged_payload;
        assert_eq!(
            verify_hs256(&parts.join("."), SECRET, NOW, AUD),
            Err(JwtError::BadSignature)
        );
    }

    #[test]
    fn enforces_time_claims() {
        let token = sign_hs256(&claims(), SECRET);
        let exp = claims().exp;
        assert!(verify_hs256(&token, SECRET, exp - 1, AUD).is_ok());
        assert_eq!(
            verify_hs256(&token, SECRET, exp, AUD),
            Err(JwtError::Expired)
        );
        assert_eq!(
            verify_hs256(&token, SECRET, exp + 1_000_000, AUD),
            Err(JwtError::Expired)
        );

        let not_yet = |nbf: Option<i64>, iat: i64| {
            let c = Claims {
                nbf,
                iat,
                ..claims()
            };
            verify_hs256(&sign_hs256(&c, SECRET), SECRET, NOW, AUD)
        };
        assert!(not_yet(Some(NOW + 60), NOW).is_ok(), "within leeway");
        assert_eq!(not_yet(Some(NOW + 61), NOW), Err(JwtError::NotYetValid));
        assert!(not_yet(None, NOW + 60).is_ok(), "within leeway");
        assert_eq!(not_yet(None, NOW + 61), Err(JwtError::NotYetValid));

        let payload = json!({"aud": AUD, "iat": NOW, "sub": "u1", "role": "r"});
        assert_eq!(
            verify_hs256(&forge(hs256(), payload, SECRET), SECRET, NOW, AUD),
            Err(JwtError::Malformed),
            "exp is required"
        );
        let float_exp = json!({"aud": AUD, "exp": 1.9e9, "iat": NOW, "sub": "u1", "role": "r"});
        assert_eq!(
            verify_hs256(&forge(hs256(), float_exp, SECRET), SECRET, NOW, AUD),
            Err(JwtError::Malformed)
        );
    }

    #[test]
    fn enforces_audience() {
        let token = sign_hs256(&claims(), SECRET);
        assert_eq!(
            verify_hs256(&token, SECRET, NOW, "service"),
            Err(JwtError::WrongAudience)
        );

        let with_aud = |aud: serde_json::Value| {
            let payload =
                json!({"aud": aud, "exp": NOW + 60, "iat": NOW, "sub": "u1", "role": "r"});
            verify_hs256(&forge(hs256(), payload, SECRET), SECRET, NOW, AUD)
        };
        assert_eq!(with_aud(json!(["other", AUD])).unwrap().aud, AUD);
        assert_eq!(with_aud(json!(["other"])), Err(JwtError::WrongAudience));
        assert_eq!(with_aud(json!([])), Err(JwtError::WrongAudience));
        assert_eq!(
            with_aud(json!("Authenticated")),
            Err(JwtError::WrongAudience)
        );
        assert_eq!(with_aud(json!(42)), Err(JwtError::Malformed));
        assert_eq!(with_aud(json!(null)), Err(JwtError::Malformed));
    }

    #[test]
    fn rejects_garbage() {
        let token = sign_hs256(&claims(), SECRET);
        let oversized = format!("{token}{}", "A".repeat(MAX_TOKEN_LEN));
        let padded_header = token.replacen('.', "=.", 1);
        let not_json = format!(
            "{}.{}.sig",
            URL_SAFE_NO_PAD.encode("not json"),
            URL_SAFE_NO_PAD.encode("{}")
        );
        let junk = [
            "",
            ".",
            "..",
            "a.b",
            "a.b.c.d",
            "Bearer x.y.z",
            &format!("{token}."),
            &format!(" {token}"),
            &oversized,
            &padded_header,
            &not_json,
        ];
        for bad in junk {
            assert_eq!(
                verify_hs256(bad, SECRET, NOW, AUD),
                Err(JwtError::Malformed),
                "{bad:?}"
            );
        }
        // A validly signed payload that is not the claims object.
        let array = forge(hs256(), json!([1, 2, 3]), SECRET);
        assert_eq!(
            verify_hs256(&array, SECRET, NOW, AUD),
            Err(JwtError::Malformed)
        );
    }

    #[test]
    fn errors_never_echo_the_token() {
        let token = sign_hs256(&claims(), SECRET);
        for err in [
            verify_hs256(&token, b"wrong", NOW, AUD).unwrap_err(),
            verify_hs256(&token, SECRET, NOW + 7200, AUD).unwrap_err(),
            verify_hs256(&token[1..], SECRET, NOW, AUD).unwrap_err(),
        ] {
            let shown = format!("{err} {err:?}");
            for part in token.split('.') {
                assert!(!shown.contains(part));
            }
        }
    }
}
