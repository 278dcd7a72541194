//! Cryptography: envelope encryption of secrets and sealing of snapshots.
//!
//! Everything here is AES-256-GCM for confidentiality and integrity, HKDF-SHA256 for key
//! derivation and HMAC-SHA256 for MACs. Every variable-length field that feeds an AAD, an HKDF
//! `info` or a MAC is length-prefixed (see [`put_field`]) so no two distinct contexts can encode
//! to the same bytes. Randomness comes only from [`crate::ports::Rng`].

pub mod envelope;
pub mod keyring;
pub mod keys;
#[cfg(not(target_arch = "wasm32"))]
pub mod native;
pub mod sha256_state;
pub mod stream;
pub mod version_hash;

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Errors from the crypto layer. Messages never carry key material, plaintext or ciphertext.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// Key material has the wrong length or encoding.
    #[error("invalid key material")]
    InvalidKey,
    /// Input is not in the expected encoding or format.
    #[error("malformed input")]
    Malformed,
    /// Authentication failed: wrong key, wrong context or tampered data.
    #[error("decryption failed")]
    Decrypt,
    /// The ciphertext names a master key that is not in the key ring.
    #[error("unknown master key id {0:?}")]
    UnknownKeyId(String),
    /// The ciphertext ended before its authenticated end.
    #[error("ciphertext truncated")]
    Truncated,
    /// The runtime's compression or cipher failed (see [`crate::ports::SealPrimitives`]).
    #[error(transparent)]
    Primitive(#[from] crate::ports::PrimitiveError),
}

/// AES-GCM nonce length (96 bits, the only length GCM handles without extra hashing).
pub(crate) const NONCE_LEN: usize = 12;
/// AES-GCM tag length.
pub(crate) const TAG_LEN: usize = 16;

/// Appends `field` with a 64-bit big-endian length prefix, making concatenations unambiguous.
pub(crate) fn put_field(out: &mut Vec<u8>, field: &[u8]) {
    out.extend_from_slice(&(field.len() as u64).to_be_bytes());
    out.extend_from_slice(field);
}

/// Parses a canonical unsigned decimal: ASCII digits only, no sign, no leading zeros.
///
/// `str::parse` alone would also accept `+7` and `007`, giving one value several encodings.
pub(crate) fn parse_canonical_decimal<T: std::str::FromStr>(s: &str) -> Option<T> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if canonical {
        s.parse().ok()
    } else {
        None
    }
}

/// HKDF-SHA256 (RFC 5869) extract-and-expand into `okm`.
///
/// # Panics
/// If `okm` is longer than 255 × 32 bytes; callers only ask for fixed small lengths.
pub(crate) fn hkdf_sha256(salt: &[u8], ikm: &[u8], info: &[u8], okm: &mut [u8]) {
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, okm)
        .expect("HKDF output length is a small constant");
}

/// HMAC-SHA256 over the concatenation of `parts`.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Constant-time equality for MACs and signatures; lengths are not secret.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Encrypts `buf[from..]` in place and appends the tag.
pub(crate) fn gcm_seal_in_place(
    cipher: &Aes256Gcm,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buf: &mut Vec<u8>,
    from: usize,
) {
    let tag = cipher
        .encrypt_in_place_detached(Nonce::from_slice(nonce), aad, &mut buf[from..])
        .expect("AES-GCM accepts inputs far larger than any we seal");
    buf.extend_from_slice(&tag);
}

/// Verifies and decrypts `buf` (ciphertext || tag) in place; returns the plaintext length.
///
/// On failure `buf` still holds ciphertext: aes-gcm checks the tag before decrypting.
pub(crate) fn gcm_open_in_place(
    cipher: &Aes256Gcm,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buf: &mut [u8],
) -> Result<usize, CryptoError> {
    let Some(len) = buf.len().checked_sub(TAG_LEN) else {
        return Err(CryptoError::Truncated);
    };
    let (ciphertext, tag) = buf.split_at_mut(len);
    cipher
        .decrypt_in_place_detached(
            Nonce::from_slice(nonce),
            aad,
            ciphertext,
            Tag::from_slice(tag),
        )
        .map_err(|_| CryptoError::Decrypt)?;
    Ok(len)
}

#[cfg(test)]
pub(crate) mod testing {
    use crate::ports::Rng;
    use sha2::{Digest, Sha256};
    use std::cell::Cell;

    /// Deterministic `Rng`: emits 0, 1, 2, … (wrapping), continuing across calls.
    #[derive(Default)]
    pub(crate) struct CounterRng(Cell<u8>);

    impl Rng for CounterRng {
        fn fill(&self, buf: &mut [u8]) {
            for b in buf {
                *b = self.0.get();
                self.0.set(self.0.get().wrapping_add(1));
            }
        }
    }

    /// Incompressible, reproducible bytes: SHA-256 in counter mode.
    pub(crate) fn pseudo_random(seed: &[u8], len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 32);
        let mut counter = 0u64;
        while out.len() < len {
            out.extend_from_slice(
                &Sha256::new()
                    .chain_update(seed)
                    .chain_update(counter.to_be_bytes())
                    .finalize(),
            );
            counter += 1;
        }
        out.truncate(len);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes_gcm::KeyInit;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn hkdf_rfc5869_case_1() {
        let mut okm = [0u8; 42];
        hkdf_sha256(
            &unhex("000102030405060708090a0b0c"),
            &[0x0b; 22],
            &unhex("f0f1f2f3f4f5f6f7f8f9"),
            &mut okm,
        );
        assert_eq!(
            hex::encode(okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
    }

    #[test]
    fn hkdf_rfc5869_case_2() {
        let ikm: Vec<u8> = (0x00..=0x4f).collect();
        let salt: Vec<u8> = (0x60..=0xaf).collect();
        let info: Vec<u8> = (0xb0..=0xff).collect();
        let mut okm = [0u8; 82];
        hkdf_sha256(&salt, &ikm, &info, &mut okm);
        assert_eq!(
            hex::encode(okm),
            "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c\
             59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71\
             cc30c58179ec3e87c14c01d5c1f3434f1d87"
        );
    }

    #[test]
    fn hkdf_rfc5869_case_3_empty_salt_and_info() {
        // RFC 5869: an absent salt is HashLen zero bytes; an empty salt is equivalent.
        let mut okm = [0u8; 42];
        hkdf_sha256(&[], &[0x0b; 22], &[], &mut okm);
        assert_eq!(
            hex::encode(okm),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"
        );
    }

    #[test]
    fn hmac_rfc4231_case_2() {
        // The message is split to exercise multi-part input.
        let mac = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn ct_eq_compares_content_and_length() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"abcd"));
    }

    /// McGrew–Viega GCM spec test case 16 (AES-256, 96-bit IV, with AAD).
    #[test]
    fn aes256gcm_mcgrew_viega_case_16() {
        let key = unhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
        let cipher = Aes256Gcm::new_from_slice(&key).unwrap();
        let nonce: [u8; 12] = unhex("cafebabefacedbaddecaf888").try_into().unwrap();
        let aad = unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let plaintext = unhex(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
             1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        );
        let mut buf = plaintext.clone();
        gcm_seal_in_place(&cipher, &nonce, &aad, &mut buf, 0);
        assert_eq!(
            hex::encode(&buf),
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
             8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662\
             76fc6ece0f4e1768cddf8853bb2d551b"
        );
        let len = gcm_open_in_place(&cipher, &nonce, &aad, &mut buf).unwrap();
        assert_eq!(&buf[..len], &plaintext[..]);
    }

    /// McGrew–Viega test case 14 (AES-256, all-zero key, IV and one-block plaintext).
    #[test]
    fn aes256gcm_mcgrew_viega_case_14_with_prefix() {
        let cipher = Aes256Gcm::new_from_slice(&[0u8; 32]).unwrap();
        let mut buf = b"hdr".to_vec();
        buf.extend_from_slice(&[0u8; 16]);
        gcm_seal_in_place(&cipher, &[0u8; 12], &[], &mut buf, 3);
        assert_eq!(&buf[..3], b"hdr", "bytes before `from` are untouched");
        assert_eq!(
            hex::encode(&buf[3..]),
            "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919"
        );
    }

    #[test]
    fn gcm_open_rejects_tampering_and_short_input() {
        let cipher = Aes256Gcm::new_from_slice(&[7u8; 32]).unwrap();
        let mut sealed = b"secret".to_vec();
        gcm_seal_in_place(&cipher, &[1u8; 12], b"aad", &mut sealed, 0);
        for i in 0..sealed.len() {
            let mut tampered = sealed.clone();
            tampered[i] ^= 0x01;
            let before = tampered.clone();
            assert_eq!(
                gcm_open_in_place(&cipher, &[1u8; 12], b"aad", &mut tampered),
                Err(CryptoError::Decrypt)
            );
            assert_eq!(tampered, before, "no unauthenticated plaintext is released");
        }
        let mut copy = sealed.clone();
        assert_eq!(
            gcm_open_in_place(&cipher, &[1u8; 12], b"aaD", &mut copy),
            Err(CryptoError::Decrypt)
        );
        assert_eq!(
            gcm_open_in_place(&cipher, &[1u8; 12], b"aad", &mut [0u8; 15]),
            Err(CryptoError::Truncated)
        );
    }

    #[test]
    fn canonical_decimal_rejects_alternative_spellings() {
        assert_eq!(parse_canonical_decimal::<u32>("0"), Some(0));
        assert_eq!(parse_canonical_decimal::<u32>("4294967295"), Some(u32::MAX));
        assert_eq!(
            parse_canonical_decimal::<i64>("1700000000"),
            Some(1_700_000_000)
        );
        for bad in [
            "",
            "+1",
            "-1",
            "01",
            "00",
            "1 ",
            " 1",
            "1e3",
            "0x1",
            "4294967296",
        ] {
            assert_eq!(parse_canonical_decimal::<u32>(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn put_field_is_unambiguous() {
        let mut a = Vec::new();
        put_field(&mut a, b"ab");
        put_field(&mut a, b"c");
        let mut b = Vec::new();
        put_field(&mut b, b"a");
        put_field(&mut b, b"bc");
        assert_ne!(a, b);
        assert_eq!(hex::encode(&a[..10]), "00000000000000026162");
    }

    #[test]
    fn errors_do_not_echo_input() {
        assert_eq!(CryptoError::Decrypt.to_string(), "decryption failed");
        assert_eq!(
            CryptoError::UnknownKeyId("k2".into()).to_string(),
            "unknown master key id \"k2\""
        );
    }
}
