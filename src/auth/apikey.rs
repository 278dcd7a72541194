//! API keys and invitation tokens: high-entropy bearer secrets.
//!
//! A key is `bfk_<key id, 32 hex>_<43 base64url chars = 256 random bits>`. Only
//! HMAC-SHA256(`API_KEY_PEPPER`, domain ‖ id ‖ secret) is stored, compared in constant time.
//! Why a keyed hash and not Argon2id: a 256-bit random secret cannot be guessed, so a slow hash
//! adds no protection against offline search; it would only spend ~tens of ms of Worker CPU on
//! every API call (and make it a DoS lever). The pepper, held outside the database, means a
//! stolen `api_keys` table alone cannot even be used to confirm a candidate key. Low-entropy
//! secrets (passwords, short verification codes) would need Argon2id; Butterfly has none — user
//! passwords live in Supabase Auth.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::authz::matrix::Scope;
use crate::crypto::keys::Key256;
use crate::crypto::{ct_eq, hmac_sha256};
use crate::ids::{ApiKeyId, TeamId, UserId};
use crate::ports::Rng;

pub const KEY_PREFIX: &str = "bfk_";
const INVITE_PREFIX: &str = "bfi_";
const SECRET_LEN: usize = 43;

/// A freshly generated key: the full text is shown once, the hash is stored.
pub struct NewKey {
    pub id: ApiKeyId,
    pub full: Zeroizing<String>,
    pub hash: String,
}

/// `bfk_<id>`: safe to display and log (it names the key, it does not unlock it).
pub fn display_prefix(id: ApiKeyId) -> String {
    format!("{KEY_PREFIX}{}", id.as_uuid().simple())
}

fn key_hash(pepper: &Key256, id: ApiKeyId, secret: &str) -> [u8; 32] {
    hmac_sha256(
        pepper.expose(),
        &[
            b"butterfly-api-key-v1\0",
            id.as_uuid().as_bytes(),
            secret.as_bytes(),
        ],
    )
}

pub fn generate(rng: &dyn Rng, pepper: &Key256) -> NewKey {
    let id = ApiKeyId::generate(rng);
    let mut raw = Zeroizing::new([0u8; 32]);
    rng.fill(raw.as_mut());
    let secret = Zeroizing::new(URL_SAFE_NO_PAD.encode(raw.as_ref()));
    NewKey {
        id,
        full: Zeroizing::new(format!("{}_{}", display_prefix(id), secret.as_str())),
        hash: hex::encode(key_hash(pepper, id, &secret)),
    }
}

/// Splits a presented key into its id and secret; `None` if it is not shaped like one.
pub fn parse(presented: &str) -> Option<(ApiKeyId, &str)> {
    let rest = presented.strip_prefix(KEY_PREFIX)?;
    if rest.len() != 32 + 1 + SECRET_LEN || rest.as_bytes()[32] != b'_' {
        return None;
    }
    let (id, secret) = (&rest[..32], &rest[33..]);
    if !id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let uuid = uuid::Uuid::try_parse(id).ok()?;
    let id = ApiKeyId::parse(&uuid.hyphenated().to_string()).ok()?;
    let decoded = URL_SAFE_NO_PAD.decode(secret).ok()?;
    (decoded.len() == 32).then_some((id, secret))
}

/// Constant-time check of a presented secret against the stored hex hash.
pub fn verify(pepper: &Key256, id: ApiKeyId, secret: &str, stored_hex: &str) -> bool {
    let Ok(stored) = hex::decode(stored_hex) else {
        return false;
    };
    ct_eq(&key_hash(pepper, id, secret), &stored)
}

/// A new invitation token (shown once) and its stored hash.
pub fn new_invitation_token(rng: &dyn Rng, pepper: &Key256) -> (Zeroizing<String>, String) {
    let mut raw = Zeroizing::new([0u8; 32]);
    rng.fill(raw.as_mut());
    let token = Zeroizing::new(format!(
        "{INVITE_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(raw.as_ref())
    ));
    let hash = invitation_hash(pepper, &token);
    (token, hash)
}

/// The lookup hash of an invitation token (deterministic, so it can be found by equality).
pub fn invitation_hash(pepper: &Key256, token: &str) -> String {
    hex::encode(hmac_sha256(
        pepper.expose(),
        &[b"butterfly-invitation-v1\0", token.as_bytes()],
    ))
}

/// Claims of the short-lived JWT minted for an API-key call: PostgREST sees the key's user, and
/// `public.can` confines it to `key_team` and `scopes`.
#[derive(Serialize)]
pub struct KeyClaims<'a> {
    pub sub: UserId,
    pub role: &'static str,
    pub aud: &'a str,
    pub iat: i64,
    pub exp: i64,
    pub key_id: ApiKeyId,
    pub key_team: TeamId,
    pub scopes: &'a [Scope],
}

/// Lifetime of a minted token: one request's worth.
pub const MINTED_TTL_SECS: i64 = 60;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::SeqRng;

    fn pepper() -> Key256 {
        Key256::from_bytes([7; 32])
    }

    #[test]
    fn generated_keys_parse_and_verify() {
        let rng = SeqRng::new(1);
        let key = generate(&rng, &pepper());
        assert!(key.full.starts_with("bfk_"));
        assert_eq!(key.full.len(), 4 + 32 + 1 + 43);
        let (id, secret) = parse(&key.full).unwrap();
        assert_eq!(id, key.id);
        assert!(verify(&pepper(), id, secret, &key.hash));
        assert!(!verify(&Key256::from_bytes([8; 32]), id, secret, &key.hash));
        assert!(!key.hash.contains(secret));
        // Another key's secret under this id fails.
        let other = generate(&rng, &pepper());
        let (_, other_secret) = parse(&other.full).unwrap();
        assert!(!verify(&pepper(), id, other_secret, &key.hash));
    }

    #[test]
    fn malformed_keys_do_not_parse() {
        let rng = SeqRng::new(2);
        let key = generate(&rng, &pepper());
        let full = key.full.as_str();
        for bad in [
            "",
            "bfk_",
            &full[..full.len() - 1],
            &format!("{full}A"),
            &full.replacen("bfk_", "bfx_", 1),
            &full.to_uppercase(),
            &full.replacen('_', "-", 2),
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn invitation_tokens_hash_deterministically() {
        let rng = SeqRng::new(3);
        let (token, hash) = new_invitation_token(&rng, &pepper());
        assert!(token.starts_with("bfi_"));
        assert_eq!(invitation_hash(&pepper(), &token), hash);
        assert_ne!(invitation_hash(&pepper(), "bfi_other"), hash);
    }
}
