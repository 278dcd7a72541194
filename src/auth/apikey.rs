//! API keys and invitation tokens: high-entropy bearer secrets.
//!
//! A key is `bfk_<key id, 32 hex>_<43 base64url chars = 256 random bits>`. Only
//! `<pepper id>:hex(HMAC-SHA256(pepper, domain ‖ id ‖ secret))` is stored, under the active
//! `API_KEY_PEPPER` entry, and compared in constant time; the pepper id lets the pepper rotate
//! while keys hashed under the old one keep working (a stored hash without an id was made by the
//! `legacy` pepper, before peppers had ids).
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
use crate::crypto::keyring::{KeyRing, LEGACY_KEY_ID};
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

/// `<pepper id>:<hex>`, the stored form of a hash.
fn stored(pepper_id: &str, hash: [u8; 32]) -> String {
    format!("{pepper_id}:{}", hex::encode(hash))
}

pub fn generate(rng: &dyn Rng, peppers: &KeyRing) -> NewKey {
    let (pepper_id, pepper) = peppers.active();
    let id = ApiKeyId::generate(rng);
    let mut raw = Zeroizing::new([0u8; 32]);
    rng.fill(raw.as_mut());
    let secret = Zeroizing::new(URL_SAFE_NO_PAD.encode(raw.as_ref()));
    NewKey {
        id,
        full: Zeroizing::new(format!("{}_{}", display_prefix(id), secret.as_str())),
        hash: stored(pepper_id, key_hash(pepper, id, &secret)),
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

/// Constant-time check of a presented secret against the stored hash, under the pepper the hash
/// names; false when the ring no longer holds that pepper.
pub fn verify(peppers: &KeyRing, id: ApiKeyId, secret: &str, stored_hash: &str) -> bool {
    let (pepper_id, hex_hash) = stored_hash
        .split_once(':')
        .unwrap_or((LEGACY_KEY_ID, stored_hash));
    let (Some(pepper), Ok(stored)) = (peppers.get(pepper_id), hex::decode(hex_hash)) else {
        return false;
    };
    ct_eq(&key_hash(pepper, id, secret), &stored)
}

/// A new invitation token (shown once) and its stored hash, under the active pepper.
pub fn new_invitation_token(rng: &dyn Rng, peppers: &KeyRing) -> (Zeroizing<String>, String) {
    let mut raw = Zeroizing::new([0u8; 32]);
    rng.fill(raw.as_mut());
    let token = Zeroizing::new(format!(
        "{INVITE_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(raw.as_ref())
    ));
    let (pepper_id, pepper) = peppers.active();
    let hash = stored(pepper_id, invitation_mac(pepper, &token));
    (token, hash)
}

fn invitation_mac(pepper: &Key256, token: &str) -> [u8; 32] {
    hmac_sha256(
        pepper.expose(),
        &[b"butterfly-invitation-v1\0", token.as_bytes()],
    )
}

/// The hashes an invitation token may be stored under, one per pepper of the ring (active
/// first, plus the id-less form for the `legacy` pepper): deterministic, so the invitation is
/// found by equality whichever pepper was active when it was made.
pub fn invitation_hashes(peppers: &KeyRing, token: &str) -> Vec<String> {
    let mut hashes = Vec::new();
    for (id, pepper) in peppers.iter() {
        let mac = invitation_mac(pepper, token);
        hashes.push(stored(id, mac));
        if id == LEGACY_KEY_ID {
            hashes.push(hex::encode(mac));
        }
    }
    hashes
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

    fn pepper() -> KeyRing {
        KeyRing::single("p1", Key256::from_bytes([7; 32]))
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
        assert!(key.hash.starts_with("p1:"), "{}", key.hash);
        assert!(!verify(
            &KeyRing::single("p1", Key256::from_bytes([8; 32])),
            id,
            secret,
            &key.hash
        ));
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
        assert_eq!(
            invitation_hashes(&pepper(), &token),
            std::slice::from_ref(&hash)
        );
        assert!(!invitation_hashes(&pepper(), "bfi_other").contains(&hash));
    }

    fn ring(entries: &str) -> KeyRing {
        let b64 = |b: u8| base64::engine::general_purpose::STANDARD.encode([b; 32]);
        KeyRing::parse(&entries.replace("K7", &b64(7)).replace("K9", &b64(9))).unwrap()
    }

    /// Pepper rotation: keys and invitations hashed under the old pepper keep working while the
    /// ring holds it, new ones use the new pepper, and removing the old one retires its hashes.
    #[test]
    fn peppers_rotate_by_id() {
        let rng = SeqRng::new(4);
        let old = generate(&rng, &ring("p1:K7"));
        let (old_token, old_invite) = new_invitation_token(&rng, &ring("p1:K7"));
        let rotating = ring("p2:K9,p1:K7");
        let (id, secret) = parse(&old.full).unwrap();
        assert!(verify(&rotating, id, secret, &old.hash));
        assert!(invitation_hashes(&rotating, &old_token).contains(&old_invite));
        let new = generate(&rng, &rotating);
        assert!(new.hash.starts_with("p2:"));
        let (new_id, new_secret) = parse(&new.full).unwrap();
        assert!(verify(&rotating, new_id, new_secret, &new.hash));
        let retired = ring("p2:K9");
        assert!(verify(&retired, new_id, new_secret, &new.hash));
        assert!(!verify(&retired, id, secret, &old.hash));
        assert!(!invitation_hashes(&retired, &old_token).contains(&old_invite));
        // The id names the pepper: relabelling a hash to another id does not verify.
        let relabelled = old.hash.replacen("p1:", "p2:", 1);
        assert!(!verify(&rotating, id, secret, &relabelled));
    }

    /// Hashes stored before peppers had ids (bare hex) were made by the `legacy` pepper.
    #[test]
    fn id_less_hashes_belong_to_the_legacy_pepper() {
        let rng = SeqRng::new(5);
        let legacy = ring("legacy:K7");
        let key = generate(&rng, &legacy);
        let bare = key.hash.strip_prefix("legacy:").unwrap().to_string();
        let (id, secret) = parse(&key.full).unwrap();
        assert!(verify(&legacy, id, secret, &bare));
        assert!(verify(&ring("p2:K9,legacy:K7"), id, secret, &bare));
        assert!(
            !verify(&ring("p1:K7"), id, secret, &bare),
            "no legacy pepper"
        );
        let (token, hash) = new_invitation_token(&rng, &legacy);
        let bare_invite = hash.strip_prefix("legacy:").unwrap().to_string();
        assert!(invitation_hashes(&ring("p2:K9,legacy:K7"), &token).contains(&bare_invite));
    }
}
