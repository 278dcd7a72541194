//! 256-bit symmetric keys.

use super::CryptoError;
use crate::ports::Rng;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use std::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A 256-bit secret key. Wiped on drop; `Debug` never shows the bytes.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Key256([u8; 32]);

impl Key256 {
    /// Wraps raw key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Key256 {
        Key256(bytes)
    }

    /// Parses standard (padded) base64 that decodes to exactly 32 bytes.
    ///
    /// Decodes straight into the key buffer so no unwiped copy of the key is left on the heap.
    pub fn from_base64(encoded: &str) -> Result<Key256, CryptoError> {
        let mut key = Key256([0; 32]);
        match STANDARD.decode_slice(encoded.as_bytes(), &mut key.0) {
            Ok(32) => Ok(key),
            _ => Err(CryptoError::InvalidKey),
        }
    }

    /// Draws a fresh key from `rng`.
    pub fn generate(rng: &dyn Rng) -> Key256 {
        let mut key = Key256([0; 32]);
        rng.fill(&mut key.0);
        key
    }

    /// HKDF-SHA256 straight into a key buffer, so the output is wiped with the key.
    pub(crate) fn hkdf(salt: &[u8], ikm: &[u8], info: &[u8]) -> Key256 {
        let mut key = Key256([0; 32]);
        super::hkdf_sha256(salt, ikm, info, &mut key.0);
        key
    }

    /// The raw key bytes, for feeding primitives.
    pub(crate) fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for Key256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key256(..redacted..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::testing::CounterRng;

    #[test]
    fn from_base64_accepts_exactly_32_bytes() {
        let encoded = STANDARD.encode([0xA5u8; 32]);
        assert_eq!(Key256::from_base64(&encoded).unwrap().expose(), &[0xA5; 32]);

        for bad in [
            STANDARD.encode([1u8; 31]),
            STANDARD.encode([1u8; 33]),
            STANDARD.encode([1u8; 64]),
            String::new(),
            "not base64!".to_string(),
            // URL-safe alphabet and missing padding are rejected: keys use standard base64.
            base64::engine::general_purpose::URL_SAFE.encode([0xFBu8; 32]),
            base64::engine::general_purpose::STANDARD_NO_PAD.encode([1u8; 32]),
        ] {
            assert_eq!(
                Key256::from_base64(&bad).unwrap_err(),
                CryptoError::InvalidKey,
                "{bad}"
            );
        }
    }

    #[test]
    fn generate_uses_the_port_rng() {
        let key = Key256::generate(&CounterRng::default());
        let expected: Vec<u8> = (0..32).collect();
        assert_eq!(&key.expose()[..], &expected[..]);
    }

    #[test]
    fn debug_is_redacted() {
        let key = Key256::from_bytes([0x42; 32]);
        let shown = format!("{key:?}");
        assert_eq!(shown, "Key256(..redacted..)");
        assert!(!shown.contains("42"));
    }

    #[test]
    fn zeroize_wipes_the_bytes() {
        let mut key = Key256::from_bytes([0x42; 32]);
        key.zeroize();
        assert_eq!(key.expose(), &[0; 32]);
    }
}
