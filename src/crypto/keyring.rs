//! Rings of 256-bit keys with ids, so each secret can rotate: the first key is active (signs,
//! hashes, derives new material), the others only verify or open what they made before.
//!
//! The Worker secret's format is `id:base64key[,id:base64key...]`, active first, as for
//! `MASTER_KEYS`. A bare base64 value (the format before keys had ids) is read as one key with
//! the id [`LEGACY_KEY_ID`], and data written before ids existed (API-key hashes without an id,
//! download links without `k`, format-2 snapshots) names that id implicitly. So rotating such a
//! secret is: `new:<new key>,legacy:<old value>`.

use std::fmt;

use super::keys::Key256;
use super::CryptoError;

/// The id of a key given without one, and of everything made before keys had ids.
pub const LEGACY_KEY_ID: &str = "legacy";
/// Longest key id; ids are stored next to what their key made.
pub const MAX_KEY_ID_LEN: usize = 32;

/// Whether `id` is a valid key id: 1–32 characters of `[A-Za-z0-9_-]`.
pub fn valid_key_id(id: &str) -> bool {
    (1..=MAX_KEY_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Parses `id:base64key[,...]`: ids valid and unique, keys standard base64 of 32 bytes,
/// whitespace around entries ignored. Errors never echo the input.
pub(crate) fn parse_entries(secret: &str) -> Result<Vec<(String, Key256)>, CryptoError> {
    let mut keys: Vec<(String, Key256)> = Vec::new();
    for entry in secret.trim().split(',') {
        let (id, key) = entry.trim().split_once(':').ok_or(CryptoError::Malformed)?;
        if !valid_key_id(id) || keys.iter().any(|(existing, _)| existing == id) {
            return Err(CryptoError::Malformed);
        }
        keys.push((id.to_owned(), Key256::from_base64(key)?));
    }
    Ok(keys)
}

/// A non-empty ring of keys with unique ids; `Debug` shows the ids only.
pub struct KeyRing {
    keys: Vec<(String, Key256)>,
}

impl KeyRing {
    /// Parses the secret's value: an `id:key` list, or one bare base64 key (id `legacy`).
    pub fn parse(secret: &str) -> Result<KeyRing, CryptoError> {
        let secret = secret.trim();
        let keys = if secret.contains(':') {
            parse_entries(secret)?
        } else {
            vec![(LEGACY_KEY_ID.to_owned(), Key256::from_base64(secret)?)]
        };
        Ok(KeyRing { keys })
    }

    /// A ring of one key (tests and tools).
    pub fn single(id: &str, key: Key256) -> KeyRing {
        assert!(valid_key_id(id), "invalid key id");
        KeyRing {
            keys: vec![(id.to_owned(), key)],
        }
    }

    /// The active key and its id.
    pub fn active(&self) -> (&str, &Key256) {
        let (id, key) = &self.keys[0];
        (id, key)
    }

    /// The key with this id, if the ring still holds it.
    pub fn get(&self, id: &str) -> Option<&Key256> {
        self.keys.iter().find(|(k, _)| k == id).map(|(_, key)| key)
    }

    /// Every key, active first.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Key256)> {
        self.keys.iter().map(|(id, key)| (id.as_str(), key))
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field(
                "ids",
                &self.keys.iter().map(|(id, _)| id).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;

    #[test]
    fn parses_lists_and_bare_legacy_keys() {
        let (a, b) = (STANDARD.encode([1u8; 32]), STANDARD.encode([2u8; 32]));
        let ring = KeyRing::parse(&format!(" new:{a} , legacy:{b}\n")).unwrap();
        assert_eq!(ring.active().0, "new");
        assert_eq!(ring.active().1.expose(), &[1; 32]);
        assert_eq!(ring.get("legacy").unwrap().expose(), &[2; 32]);
        assert!(ring.get("other").is_none());
        assert_eq!(
            ring.iter().map(|(id, _)| id).collect::<Vec<_>>(),
            ["new", "legacy"]
        );

        let bare = KeyRing::parse(&format!("{b}\n")).unwrap();
        assert_eq!(bare.active().0, LEGACY_KEY_ID);
        assert_eq!(bare.active().1.expose(), &[2; 32]);
        assert_eq!(format!("{bare:?}"), "KeyRing { ids: [\"legacy\"], .. }");
    }

    #[test]
    fn rejects_bad_rings_without_echoing_them() {
        let k = STANDARD.encode([1u8; 32]);
        for bad in [
            String::new(),
            format!(":{k}"),
            format!("a.b:{k}"),
            format!("{}:{k}", "a".repeat(33)),
            format!("a:{k},a:{k}"),
            format!("a:{k},"),
            "a:AAAA".into(),
            "AAAA".into(),
        ] {
            assert!(KeyRing::parse(&bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            KeyRing::parse("x:bad").unwrap_err().to_string(),
            "invalid key material"
        );
    }
}
