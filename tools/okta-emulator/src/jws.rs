//! Compact JWS (RFC 7515) as the token endpoint reads it: ES256 signatures over P-256 JWKs
//! (RFC 7518 §3.4, raw `r || s`) and JWK thumbprints (RFC 7638), for client assertions and
//! DPoP proofs.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::{EncodedPoint, FieldBytes};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A compact JWS split into its parts; the signature is not checked yet.
pub(crate) struct Jws {
    pub(crate) header: Value,
    pub(crate) claims: Value,
    signing_input: String,
    signature: Vec<u8>,
}

impl Jws {
    /// `None` unless `compact` is three base64url parts, the first two JSON objects.
    pub(crate) fn parse(compact: &str) -> Option<Self> {
        let mut parts = compact.split('.');
        let (h, c, s) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let json = |part: &str| -> Option<Value> {
            let value: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()?;
            value.is_object().then_some(value)
        };
        Some(Self {
            header: json(h)?,
            claims: json(c)?,
            signing_input: format!("{h}.{c}"),
            signature: URL_SAFE_NO_PAD.decode(s).ok()?,
        })
    }

    /// Whether the header says ES256 and the signature verifies under the P-256 `jwk`.
    pub(crate) fn verifies_with(&self, jwk: &Value) -> bool {
        if self.header["alg"] != "ES256" {
            return false;
        }
        let (Some(key), Ok(signature)) = (ec_key(jwk), Signature::from_slice(&self.signature))
        else {
            return false;
        };
        key.verify(self.signing_input.as_bytes(), &signature)
            .is_ok()
    }

    /// A numeric claim (`exp`, `iat`), in seconds.
    pub(crate) fn seconds(&self, claim: &str) -> Option<u64> {
        self.claims[claim].as_u64()
    }
}

/// The verifying key of an `EC` / `P-256` JWK.
fn ec_key(jwk: &Value) -> Option<VerifyingKey> {
    if jwk["kty"] != "EC" || jwk["crv"] != "P-256" {
        return None;
    }
    let coordinate = |name: &str| -> Option<FieldBytes> {
        let bytes = URL_SAFE_NO_PAD.decode(jwk[name].as_str()?).ok()?;
        (bytes.len() == 32).then(|| *FieldBytes::from_slice(&bytes))
    };
    let point = EncodedPoint::from_affine_coordinates(&coordinate("x")?, &coordinate("y")?, false);
    VerifyingKey::from_encoded_point(&point).ok()
}

/// The RFC 7638 thumbprint of an EC JWK: base64url SHA-256 of its required members in order.
pub(crate) fn thumbprint(jwk: &Value) -> Option<String> {
    let canonical = format!(
        r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
        jwk["crv"].as_str()?,
        jwk["x"].as_str()?,
        jwk["y"].as_str()?
    );
    Some(URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes())))
}

/// base64url SHA-256 of an access token: a DPoP proof's `ath`.
pub(crate) fn token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
pub(crate) mod testing {
    //! Signing side, for the emulator's own tests.
    use super::*;
    use p256::ecdsa::signature::Signer;
    use p256::ecdsa::SigningKey;
    use serde_json::json;

    pub(crate) fn key(seed: u8) -> SigningKey {
        SigningKey::from_slice(&[seed; 32]).expect("a valid scalar")
    }

    pub(crate) fn public_jwk(key: &SigningKey, kid: &str) -> Value {
        let point = key.verifying_key().to_encoded_point(false);
        json!({
            "kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
            "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()),
            "y": URL_SAFE_NO_PAD.encode(point.y().unwrap()),
        })
    }

    pub(crate) fn sign(key: &SigningKey, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature: Signature = key.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use serde_json::json;

    #[test]
    fn es256_signatures_verify_only_under_their_key() {
        let (a, b) = (key(1), key(2));
        let jws = sign(&a, &json!({"alg": "ES256"}), &json!({"iss": "x", "exp": 5}));
        let parsed = Jws::parse(&jws).unwrap();
        assert!(parsed.verifies_with(&public_jwk(&a, "k")));
        assert!(!parsed.verifies_with(&public_jwk(&b, "k")));
        assert_eq!(parsed.seconds("exp"), Some(5));
        // A changed payload no longer verifies.
        let mut parts: Vec<&str> = jws.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(json!({"iss": "y", "exp": 5}).to_string());
        parts[1] = &forged;
        assert!(!Jws::parse(&parts.join("."))
            .unwrap()
            .verifies_with(&public_jwk(&a, "k")));
        // `alg: none` is never accepted.
        let none = sign(&a, &json!({"alg": "none"}), &json!({}));
        assert!(!Jws::parse(&none)
            .unwrap()
            .verifies_with(&public_jwk(&a, "k")));
        assert!(Jws::parse("a.b").is_none());
    }

    #[test]
    fn thumbprint_follows_rfc_7638() {
        // RFC 7638 has no EC example; the canonical form is checked by recomputing it.
        let jwk = json!({"kty": "EC", "crv": "P-256", "x": "AA", "y": "BB", "kid": "ignored"});
        let expected = URL_SAFE_NO_PAD.encode(Sha256::digest(
            br#"{"crv":"P-256","kty":"EC","x":"AA","y":"BB"}"#,
        ));
        assert_eq!(thumbprint(&jwk).as_deref(), Some(expected.as_str()));
    }
}
