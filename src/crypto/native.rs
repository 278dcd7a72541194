//! The sealing primitives in plain Rust (flate2's gzip, the aes-gcm crate), for native tests and
//! tools. The worker uses the runtime's own (`platform`), which open what these seal and seal
//! what these open: gzip and AES-GCM are standards, and the format around them is
//! `crypto::stream`'s either way.

use aes_gcm::{Aes256Gcm, KeyInit};
use async_trait::async_trait;
use flate2::write::{GzDecoder, GzEncoder};
use flate2::Compression;
use std::io::Write;

use super::{gcm_open_in_place, gcm_seal_in_place, NONCE_LEN};
use crate::ports::{AesGcmKey, Compressor, Decompressor, PrimitiveError, SealPrimitives};

/// flate2 (level 6, zlib's default) and aes-gcm. Every call completes without waiting.
#[derive(Clone, Copy, Debug, Default)]
pub struct RustPrimitives;

#[async_trait(?Send)]
impl SealPrimitives for RustPrimitives {
    fn gzip(&self) -> Box<dyn Compressor> {
        Box::new(RustGzip(GzEncoder::new(Vec::new(), Compression::default())))
    }

    fn gunzip(&self) -> Box<dyn Decompressor> {
        Box::new(RustGunzip(GzDecoder::new(Vec::new())))
    }

    async fn aes_256_gcm(&self, key: &[u8; 32]) -> Result<Box<dyn AesGcmKey>, PrimitiveError> {
        Ok(Box::new(RustAesGcm(Aes256Gcm::new(key.into()))))
    }
}

struct RustGzip(GzEncoder<Vec<u8>>);

#[async_trait(?Send)]
impl Compressor for RustGzip {
    async fn push(&mut self, input: &[u8]) -> Result<Vec<u8>, PrimitiveError> {
        self.0
            .write_all(input)
            .map_err(|_| PrimitiveError("gzip".into()))?;
        Ok(std::mem::take(self.0.get_mut()))
    }

    async fn finish(mut self: Box<Self>) -> Result<Vec<u8>, PrimitiveError> {
        self.0
            .try_finish()
            .map_err(|_| PrimitiveError("gzip".into()))?;
        Ok(std::mem::take(self.0.get_mut()))
    }
}

struct RustGunzip(GzDecoder<Vec<u8>>);

#[async_trait(?Send)]
impl Decompressor for RustGunzip {
    async fn push(&mut self, input: &[u8]) -> Result<Vec<u8>, PrimitiveError> {
        let bad = |_| PrimitiveError("gunzip: not a gzip stream".into());
        self.0.write_all(input).map_err(bad)?;
        self.0.flush().map_err(bad)?;
        Ok(std::mem::take(self.0.get_mut()))
    }

    async fn finish(self: Box<Self>) -> Result<Vec<u8>, PrimitiveError> {
        self.0
            .finish()
            .map_err(|_| PrimitiveError("gunzip: incomplete gzip stream".into()))
    }
}

struct RustAesGcm(Aes256Gcm);

#[async_trait(?Send)]
impl AesGcmKey for RustAesGcm {
    async fn seal(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, PrimitiveError> {
        let mut out = plaintext.to_vec();
        gcm_seal_in_place(&self.0, nonce, aad, &mut out, 0);
        Ok(out)
    }

    async fn open(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        let mut buf = sealed.to_vec();
        let len = gcm_open_in_place(&self.0, nonce, aad, &mut buf).ok()?;
        buf.truncate(len);
        Some(buf)
    }
}
