//! Ed25519 signatures over audit-pack manifests, with a keyring so keys rotate by id.
//!
//! `AUDIT_SIGNING_KEYS` is `id:base64seed[,id:base64seed...]`, the active key first: packs are
//! signed with it; older keys stay in the ring so their public halves keep being published and
//! old packs keep verifying. Public keys are published as a JWKS (RFC 8037 `OKP`/`Ed25519`)
//! and, per key, as SPKI PEM, the form `openssl pkeyutl -verify` reads.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ed25519_dalek::pkcs8::{DecodePublicKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde_json::{json, Value};
use std::fmt;
use zeroize::Zeroizing;

/// A key id: 1 to 64 of `A-Z a-z 0-9 . _ -` (it names a file and a JWKS entry).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

impl KeyId {
    pub fn parse(s: &str) -> Result<KeyId, SigningError> {
        let ok = (1..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Ok(KeyId(s.to_string()))
        } else {
            Err(SigningError::KeyId(s.chars().take(64).collect()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    #[error("signing keyring is empty")]
    EmptyRing,
    #[error("signing keyring entry {0} is not id:base64seed")]
    Entry(usize),
    #[error("invalid key id {0:?}: use 1 to 64 of A-Z a-z 0-9 . _ -")]
    KeyId(String),
    #[error("key {0}: the seed must be standard base64 of exactly 32 bytes")]
    Seed(String),
    #[error("key id {0} appears twice")]
    DuplicateId(String),
    #[error("not an Ed25519 public key: {0}")]
    PublicKey(String),
    #[error("not a JWKS document: {0}")]
    Jwks(String),
    #[error("the signature is not 64 bytes")]
    SignatureLength,
    #[error("the signature does not verify with key {0}")]
    BadSignature(String),
}

/// A private signing key with its id. `Debug` never shows the key.
pub struct RingKey {
    pub id: KeyId,
    key: SigningKey,
}

impl fmt::Debug for RingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RingKey({}, ..redacted..)", self.id)
    }
}

/// A public key with its id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    pub id: KeyId,
    pub key: VerifyingKey,
}

/// A signature and the id of the key that made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureBytes {
    pub key_id: KeyId,
    pub bytes: [u8; 64],
}

/// The audit signing keyring, active key first.
#[derive(Debug)]
pub struct SigningKeyRing {
    keys: Vec<RingKey>,
}

impl SigningKeyRing {
    /// Parses `id:base64seed[,id:base64seed...]`. Errors name the entry, never the secret.
    pub fn parse(spec: &str) -> Result<SigningKeyRing, SigningError> {
        let mut keys: Vec<RingKey> = Vec::new();
        for (i, entry) in spec.split(',').map(str::trim).enumerate() {
            if entry.is_empty() {
                continue;
            }
            let (id, seed) = entry.split_once(':').ok_or(SigningError::Entry(i + 1))?;
            let id = KeyId::parse(id.trim())?;
            if keys.iter().any(|k| k.id == id) {
                return Err(SigningError::DuplicateId(id.0));
            }
            let mut bytes = Zeroizing::new([0u8; 32]);
            match STANDARD.decode_slice(seed.trim().as_bytes(), bytes.as_mut()) {
                Ok(32) => {}
                _ => return Err(SigningError::Seed(id.0)),
            }
            keys.push(RingKey {
                key: SigningKey::from_bytes(&bytes),
                id,
            });
        }
        if keys.is_empty() {
            return Err(SigningError::EmptyRing);
        }
        Ok(SigningKeyRing { keys })
    }

    /// The key new packs are signed with.
    pub fn active(&self) -> &KeyId {
        &self.keys[0].id
    }

    /// Signs `message` with the active key.
    pub fn sign(&self, message: &[u8]) -> SignatureBytes {
        let key = &self.keys[0];
        SignatureBytes {
            key_id: key.id.clone(),
            bytes: key.key.sign(message).to_bytes(),
        }
    }

    /// Every key's public half, active first.
    pub fn public_keys(&self) -> Vec<PublicKey> {
        self.keys
            .iter()
            .map(|k| PublicKey {
                id: k.id.clone(),
                key: k.key.verifying_key(),
            })
            .collect()
    }
}

/// Verifies an Ed25519 signature (strictly: no malleable or small-order encodings).
pub fn verify(key: &PublicKey, message: &[u8], signature: &[u8]) -> Result<(), SigningError> {
    let bytes: [u8; 64] = signature
        .try_into()
        .map_err(|_| SigningError::SignatureLength)?;
    key.key
        .verify_strict(message, &Signature::from_bytes(&bytes))
        .map_err(|_| SigningError::BadSignature(key.id.0.clone()))
}

/// The JWKS document served for auditors (RFC 7517 with RFC 8037 `OKP` keys).
pub fn jwks(keys: &[PublicKey]) -> Value {
    let keys: Vec<Value> = keys
        .iter()
        .map(|k| {
            json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "kid": k.id.as_str(),
                "use": "sig",
                "alg": "EdDSA",
                "x": URL_SAFE_NO_PAD.encode(k.key.as_bytes()),
            })
        })
        .collect();
    json!({ "keys": keys })
}

/// Reads the Ed25519 keys of a JWKS document (other key types are skipped).
pub fn parse_jwks(text: &str) -> Result<Vec<PublicKey>, SigningError> {
    let doc: Value = serde_json::from_str(text).map_err(|e| SigningError::Jwks(e.to_string()))?;
    let entries = doc["keys"]
        .as_array()
        .ok_or_else(|| SigningError::Jwks("no \"keys\" array".into()))?;
    let mut out = Vec::new();
    for entry in entries {
        if entry["kty"] != "OKP" || entry["crv"] != "Ed25519" {
            continue;
        }
        let id = KeyId::parse(entry["kid"].as_str().unwrap_or_default())?;
        let x = entry["x"]
            .as_str()
            .and_then(|x| URL_SAFE_NO_PAD.decode(x).ok())
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| SigningError::PublicKey(format!("key {id}: bad \"x\"")))?;
        let key = VerifyingKey::from_bytes(&x)
            .map_err(|_| SigningError::PublicKey(format!("key {id}: not a curve point")))?;
        out.push(PublicKey { id, key });
    }
    Ok(out)
}

/// SPKI PEM (`-----BEGIN PUBLIC KEY-----`), as `openssl pkeyutl -pubin` reads it.
pub fn public_key_pem(key: &VerifyingKey) -> String {
    key.to_public_key_pem(Default::default())
        .expect("an Ed25519 SPKI always encodes")
}

/// Reads an SPKI PEM Ed25519 public key.
pub fn parse_public_key_pem(pem: &str) -> Result<VerifyingKey, SigningError> {
    VerifyingKey::from_public_key_pem(pem.trim())
        .map_err(|e| SigningError::PublicKey(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8032 section 7.1, test 1: seed, public key and the signature of the empty message.
    const RFC_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const RFC_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const RFC_SIG: &str = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

    fn ring_spec(ids: &[&str]) -> String {
        ids.iter()
            .enumerate()
            .map(|(i, id)| {
                let seed = if i == 0 {
                    hex::decode(RFC_SEED).unwrap()
                } else {
                    vec![i as u8; 32]
                };
                format!("{id}:{}", STANDARD.encode(seed))
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    #[test]
    fn signs_like_rfc_8032() {
        let ring = SigningKeyRing::parse(&ring_spec(&["k2026"])).unwrap();
        let sig = ring.sign(b"");
        assert_eq!(hex::encode(sig.bytes), RFC_SIG);
        assert_eq!(sig.key_id.as_str(), "k2026");
        assert_eq!(
            hex::encode(ring.public_keys()[0].key.as_bytes()),
            RFC_PUBLIC
        );
    }

    #[test]
    fn the_first_key_is_active_and_every_key_is_published() {
        let ring = SigningKeyRing::parse(&ring_spec(&["new", "old"])).unwrap();
        assert_eq!(ring.active().as_str(), "new");
        let doc = jwks(&ring.public_keys());
        assert_eq!(doc["keys"].as_array().unwrap().len(), 2);
        assert_eq!(doc["keys"][0]["kid"], "new");
        assert_eq!(
            doc["keys"][0]["x"],
            "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
        );
        let parsed = parse_jwks(&doc.to_string()).unwrap();
        assert_eq!(parsed, ring.public_keys());
    }

    #[test]
    fn bad_rings_are_refused_without_echoing_secrets() {
        let seed = STANDARD.encode([7u8; 32]);
        for (spec, want) in [
            (String::new(), SigningError::EmptyRing),
            ("nocolon".to_string(), SigningError::Entry(1)),
            (
                format!("bad id:{seed}"),
                SigningError::KeyId("bad id".into()),
            ),
            ("k1:c2hvcnQ=".to_string(), SigningError::Seed("k1".into())),
            (
                format!("k1:{seed},k1:{seed}"),
                SigningError::DuplicateId("k1".into()),
            ),
        ] {
            let err = SigningKeyRing::parse(&spec).unwrap_err();
            assert_eq!(err, want, "{spec}");
            assert!(!err.to_string().contains(&seed));
        }
        let ring = SigningKeyRing::parse(&format!("k1:{seed}")).unwrap();
        assert!(!format!("{ring:?}").contains(&seed));
    }

    #[test]
    fn verification_is_strict_about_key_and_bytes() {
        let ring = SigningKeyRing::parse(&ring_spec(&["a", "b"])).unwrap();
        let keys = ring.public_keys();
        let sig = ring.sign(b"manifest");
        assert!(verify(&keys[0], b"manifest", &sig.bytes).is_ok());
        assert_eq!(
            verify(&keys[1], b"manifest", &sig.bytes),
            Err(SigningError::BadSignature("b".into()))
        );
        assert!(verify(&keys[0], b"manifesT", &sig.bytes).is_err());
        assert_eq!(
            verify(&keys[0], b"manifest", &sig.bytes[..63]),
            Err(SigningError::SignatureLength)
        );
    }

    #[test]
    fn pem_round_trips_as_spki() {
        let ring = SigningKeyRing::parse(&ring_spec(&["a"])).unwrap();
        let key = ring.public_keys()[0].key;
        let pem = public_key_pem(&key);
        assert!(
            pem.starts_with("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA"),
            "{pem}"
        );
        assert_eq!(parse_public_key_pem(&pem).unwrap(), key);
        assert!(
            parse_public_key_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")
                .is_err()
        );
    }
}
