//! Sealing snapshot objects: gzip, then AES-256-GCM in fixed-size chunks.
//!
//! This is the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár 2015; as in `age`): each
//! chunk's nonce is its index plus a last-chunk flag, so reordering, dropping, duplicating or
//! truncating chunks fails authentication, while both sides work chunk by chunk in memory
//! bounded by the chunk size, whatever the object size.
//!
//! Object layout:
//!
//! ```text
//! header (42 bytes): "BFS1" | version u8 = 1 | compression u8 = 1 (gzip) | chunk size u32 BE
//!                    | salt [32]
//! chunks:            ciphertext (chunk size bytes, the last one 0..=chunk size) || tag [16]
//! ```
//!
//! - Object key = HKDF-SHA256(ikm = snapshot key, salt = header salt,
//!   info = `butterfly/object/v1` || len-prefixed object context, e.g. the R2 key), so an object
//!   copied to another path does not open, and the random salt gives every object a fresh key.
//! - Nonce = chunk index as 11 bytes big-endian || last-chunk flag (0 or 1).
//! - AAD = the whole header, so no header field can be altered.
//!
//! The sealer emits a chunk only once more compressed data follows it, so the final chunk is
//! never empty unless the compressed stream is (gzip never is); the opener also accepts an empty
//! final chunk. An empty object is one final chunk.
//!
//! gzip and AES-GCM themselves are calls into [`SealPrimitives`] (the runtime's in the worker,
//! [`super::native::RustPrimitives`] natively); everything above, and the object key, is here.
//! Each implementation opens what the other seals. Their compressed bytes may differ (any
//! valid gzip stream is a valid object), which nothing relies on: objects are compared by
//! their plaintext, and every segment has a fresh salt, hence fresh sealed bytes, anyway.

use super::keys::Key256;
use super::{put_field, CryptoError, NONCE_LEN, TAG_LEN};
use crate::ports::{AesGcmKey, Compressor, Decompressor, Rng, SealPrimitives};
use std::fmt;
use zeroize::ZeroizeOnDrop;

/// Plaintext bytes per chunk (of the compressed stream) written by [`Sealer`].
pub const CHUNK_SIZE: usize = 64 * 1024;
/// Largest chunk size [`Opener`] accepts, bounding what it buffers before authenticating.
pub const MAX_CHUNK_SIZE: usize = 1024 * 1024;
/// Length of the object header.
pub const HEADER_LEN: usize = 4 + 1 + 1 + 4 + SALT_LEN;

const MAGIC: &[u8; 4] = b"BFS1";
const FORMAT_VERSION: u8 = 1;
const COMPRESSION_GZIP: u8 = 1;
const SALT_LEN: usize = 32;
const SNAPSHOT_KEY_SALT: &[u8] = b"butterfly/snapshot/v1";
const BACKUP_SNAPSHOT_KEY_SALT: &[u8] = b"butterfly/snapshot/v2";
const OBJECT_KEY_LABEL: &[u8] = b"butterfly/object/v1";

/// Per-(tenant, connection) key for snapshot objects. Wiped on drop; `Debug` is redacted.
#[derive(Clone, ZeroizeOnDrop)]
pub struct SnapshotKey(Key256);

impl SnapshotKey {
    /// Derives the snapshot key of one tenant's connection from the master snapshot secret.
    pub fn derive(master_secret: &Key256, tenant: &str, connection: &str) -> SnapshotKey {
        let mut info = Vec::new();
        put_field(&mut info, tenant.as_bytes());
        put_field(&mut info, connection.as_bytes());
        SnapshotKey(Key256::hkdf(
            SNAPSHOT_KEY_SALT,
            master_secret.expose(),
            &info,
        ))
    }

    /// Derives the snapshot key of one backup from both the Worker's snapshot secret and the
    /// backup's own random key (kept sealed under the team's data key): neither alone opens
    /// anything, so destroying the team's data keys makes its backups unreadable.
    pub fn derive_for_backup(
        master_secret: &Key256,
        backup_key: &Key256,
        tenant: &str,
        connection: &str,
    ) -> SnapshotKey {
        let mut ikm = zeroize::Zeroizing::new([0u8; 64]);
        ikm[..32].copy_from_slice(master_secret.expose());
        ikm[32..].copy_from_slice(backup_key.expose());
        let mut info = Vec::new();
        put_field(&mut info, tenant.as_bytes());
        put_field(&mut info, connection.as_bytes());
        SnapshotKey(Key256::hkdf(BACKUP_SNAPSHOT_KEY_SALT, &ikm[..], &info))
    }

    /// The object's own key (derived here, in the core), imported into the primitives.
    async fn object_cipher(
        &self,
        primitives: &dyn SealPrimitives,
        salt: &[u8],
        context: &str,
    ) -> Result<Box<dyn AesGcmKey>, CryptoError> {
        let mut info = OBJECT_KEY_LABEL.to_vec();
        put_field(&mut info, context.as_bytes());
        let object_key = Key256::hkdf(salt, self.0.expose(), &info);
        Ok(primitives.aes_256_gcm(object_key.expose()).await?)
    }
}

impl fmt::Debug for SnapshotKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SnapshotKey(..redacted..)")
    }
}

fn chunk_nonce(index: u64, last: bool) -> [u8; NONCE_LEN] {
    let mut nonce = [0; NONCE_LEN];
    nonce[3..11].copy_from_slice(&index.to_be_bytes());
    nonce[11] = u8::from(last);
    nonce
}

/// Streaming sealer. Concatenate the outputs of every [`Sealer::push`] and of
/// [`Sealer::finish`], in order, to get the object; the header comes out with the first call.
///
/// Compression and AES-GCM are calls into [`SealPrimitives`]; the framing is all here, so
/// objects have the same layout whichever primitives sealed them.
pub struct Sealer {
    cipher: Box<dyn AesGcmKey>,
    header: [u8; HEADER_LEN],
    header_emitted: bool,
    /// Taken by [`Sealer::finish`].
    compressor: Option<Box<dyn Compressor>>,
    /// Compressed bytes not yet sealed.
    pending: Vec<u8>,
    chunk_size: usize,
    next_index: u64,
}

impl Sealer {
    /// Starts an object bound to `context` (its storage path), with a fresh salt from `rng`.
    pub async fn new(
        primitives: &dyn SealPrimitives,
        key: &SnapshotKey,
        rng: &dyn Rng,
        context: &str,
    ) -> Result<Sealer, CryptoError> {
        Sealer::with_chunk_size(primitives, key, rng, context, CHUNK_SIZE).await
    }

    async fn with_chunk_size(
        primitives: &dyn SealPrimitives,
        key: &SnapshotKey,
        rng: &dyn Rng,
        context: &str,
        chunk_size: usize,
    ) -> Result<Sealer, CryptoError> {
        assert!((1..=MAX_CHUNK_SIZE).contains(&chunk_size));
        let mut header = [0u8; HEADER_LEN];
        header[..4].copy_from_slice(MAGIC);
        header[4] = FORMAT_VERSION;
        header[5] = COMPRESSION_GZIP;
        let chunk_size_be = u32::try_from(chunk_size).expect("bounded by MAX_CHUNK_SIZE");
        header[6..10].copy_from_slice(&chunk_size_be.to_be_bytes());
        rng.fill(&mut header[10..]);
        Ok(Sealer {
            cipher: key
                .object_cipher(primitives, &header[10..], context)
                .await?,
            header,
            header_emitted: false,
            compressor: Some(primitives.gzip()),
            pending: Vec::new(),
            chunk_size,
            next_index: 0,
        })
    }

    /// Adds plaintext; returns the sealed bytes now ready (the header, then whole chunks only).
    ///
    /// Memory held between calls is bounded by the chunk size plus compressor state; the
    /// returned buffer is proportional to `plaintext`, so push bounded slices.
    pub async fn push(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let compressor = self.compressor.as_mut().expect("pushed before finish");
        let compressed = compressor.push(plaintext).await?;
        self.pending.extend_from_slice(&compressed);
        let mut out = self.take_header();
        self.seal_ready_chunks(&mut out).await?;
        Ok(out)
    }

    /// Ends the object: seals what is left as the final chunk.
    pub async fn finish(mut self) -> Result<Vec<u8>, CryptoError> {
        let compressor = self.compressor.take().expect("finished once");
        let rest = compressor.finish().await?;
        self.pending.extend_from_slice(&rest);
        let mut out = self.take_header();
        self.seal_ready_chunks(&mut out).await?;
        let last = std::mem::take(&mut self.pending);
        self.seal_chunk(&last, true, &mut out).await?;
        Ok(out)
    }

    fn take_header(&mut self) -> Vec<u8> {
        if std::mem::replace(&mut self.header_emitted, true) {
            Vec::new()
        } else {
            self.header.to_vec()
        }
    }

    /// Seals every full chunk that has more data after it; the tail waits, as it may be final.
    async fn seal_ready_chunks(&mut self, out: &mut Vec<u8>) -> Result<(), CryptoError> {
        let pending = std::mem::take(&mut self.pending);
        let ready = pending.len().saturating_sub(1) / self.chunk_size * self.chunk_size;
        out.reserve(ready + ready / self.chunk_size * TAG_LEN);
        for chunk in pending[..ready].chunks(self.chunk_size) {
            self.seal_chunk(chunk, false, out).await?;
        }
        self.pending = pending;
        self.pending.drain(..ready);
        Ok(())
    }

    async fn seal_chunk(
        &mut self,
        chunk: &[u8],
        last: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), CryptoError> {
        let nonce = chunk_nonce(self.next_index, last);
        out.extend_from_slice(&self.cipher.seal(&nonce, &self.header, chunk).await?);
        self.next_index = self
            .next_index
            .checked_add(1)
            .expect("2^64 chunks is beyond any object");
        Ok(())
    }
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealer")
            .field("chunk_size", &self.chunk_size)
            .field("chunks_sealed", &self.next_index)
            .finish_non_exhaustive()
    }
}

/// Streaming opener. Feed the object in pieces of any size to [`Opener::push`]; only
/// authenticated plaintext is ever returned, but an object is complete only once
/// [`Opener::finish`] succeeds: until then it may still turn out to be truncated.
///
/// After any error the opener is poisoned and keeps returning that error.
pub struct Opener<'p> {
    primitives: &'p dyn SealPrimitives,
    key: SnapshotKey,
    context: String,
    /// Set once the header has been read and checked.
    body: Option<Body>,
    /// Header bytes while incomplete, then sealed bytes of the current chunk.
    buf: Vec<u8>,
    decompressor: Box<dyn Decompressor>,
    next_index: u64,
    poisoned: Option<CryptoError>,
}

struct Body {
    cipher: Box<dyn AesGcmKey>,
    header: [u8; HEADER_LEN],
    /// Sealed chunk length: chunk size + tag.
    sealed_chunk_len: usize,
}

impl<'p> Opener<'p> {
    /// Prepares to open an object sealed for `context`.
    pub fn new(primitives: &'p dyn SealPrimitives, key: &SnapshotKey, context: &str) -> Opener<'p> {
        Opener {
            primitives,
            key: key.clone(),
            context: context.to_owned(),
            body: None,
            buf: Vec::new(),
            decompressor: primitives.gunzip(),
            next_index: 0,
            poisoned: None,
        }
    }

    /// Adds sealed bytes; returns the plaintext authenticated and decompressed so far.
    ///
    /// A chunk is opened only once bytes after it arrive (until then it may be the final one),
    /// so output lags input by up to one chunk (and by what the decompressor holds back).
    /// Sealed bytes held between calls stay under one sealed chunk; the returned plaintext is
    /// the decompressed size of what was opened.
    pub async fn push(&mut self, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if let Some(err) = &self.poisoned {
            return Err(err.clone());
        }
        let result = self.push_inner(sealed).await;
        if let Err(err) = &result {
            self.poisoned = Some(err.clone());
        }
        result
    }

    /// Ends the object: opens the final chunk and checks the compressed stream is complete.
    ///
    /// [`CryptoError::Truncated`] if the object stops before its final chunk.
    pub async fn finish(mut self) -> Result<Vec<u8>, CryptoError> {
        if let Some(err) = self.poisoned {
            return Err(err);
        }
        if self.body.is_none() {
            return Err(CryptoError::Truncated);
        }
        let mut out = self.open_chunk(true).await?;
        let rest = self
            .decompressor
            .finish()
            .await
            .map_err(|_| CryptoError::Malformed)?;
        out.extend_from_slice(&rest);
        Ok(out)
    }

    async fn push_inner(&mut self, mut input: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let sealed_chunk_len = match &self.body {
            Some(body) => body.sealed_chunk_len,
            None => {
                let take = input.len().min(HEADER_LEN - self.buf.len());
                self.buf.extend_from_slice(&input[..take]);
                input = &input[take..];
                if self.buf.len() < HEADER_LEN {
                    return Ok(Vec::new());
                }
                self.start_body().await?
            }
        };
        let mut out = Vec::new();
        while self.buf.len() + input.len() > sealed_chunk_len {
            let take = sealed_chunk_len - self.buf.len();
            self.buf.extend_from_slice(&input[..take]);
            input = &input[take..];
            out.extend_from_slice(&self.open_chunk(false).await?);
        }
        self.buf.extend_from_slice(input);
        Ok(out)
    }

    /// Validates the header in `buf` and imports the object key; returns the sealed chunk
    /// length.
    async fn start_body(&mut self) -> Result<usize, CryptoError> {
        let header: [u8; HEADER_LEN] = self.buf[..].try_into().expect("buffered a full header");
        let chunk_size = u32::from_be_bytes(header[6..10].try_into().expect("4 bytes")) as usize;
        if &header[..4] != MAGIC
            || header[4] != FORMAT_VERSION
            || header[5] != COMPRESSION_GZIP
            || !(1..=MAX_CHUNK_SIZE).contains(&chunk_size)
        {
            return Err(CryptoError::Malformed);
        }
        let sealed_chunk_len = chunk_size + TAG_LEN;
        let cipher = self
            .key
            .object_cipher(self.primitives, &header[10..], &self.context)
            .await?;
        self.body = Some(Body {
            cipher,
            header,
            sealed_chunk_len,
        });
        self.buf.clear();
        Ok(sealed_chunk_len)
    }

    /// Opens the chunk in `buf`; returns what the decompressor gives for its plaintext.
    async fn open_chunk(&mut self, last: bool) -> Result<Vec<u8>, CryptoError> {
        let body = self.body.as_ref().expect("chunks follow the header");
        if self.buf.len() < TAG_LEN {
            return Err(CryptoError::Truncated);
        }
        let nonce = chunk_nonce(self.next_index, last);
        let Some(plain) = body.cipher.open(&nonce, &body.header, &self.buf).await else {
            // Authentic under the other flag: a cleanly cut stream (a non-final chunk where
            // the final one should be) or data after the final chunk. Anything else is
            // tampering or the wrong key/context.
            let flipped = chunk_nonce(self.next_index, !last);
            let authentic_flipped = body
                .cipher
                .open(&flipped, &body.header, &self.buf)
                .await
                .is_some();
            return Err(match (authentic_flipped, last) {
                (true, true) => CryptoError::Truncated,
                (true, false) => CryptoError::Malformed,
                (false, _) => CryptoError::Decrypt,
            });
        };
        self.buf.clear();
        self.next_index = self
            .next_index
            .checked_add(1)
            .ok_or(CryptoError::Malformed)?;
        self.decompressor
            .push(&plain)
            .await
            .map_err(|_| CryptoError::Malformed)
    }
}

impl fmt::Debug for Opener<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Opener")
            .field("context", &self.context)
            .field("chunks_opened", &self.next_index)
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

/// Seals a whole object in one call.
pub async fn seal_with(
    primitives: &dyn SealPrimitives,
    key: &SnapshotKey,
    rng: &dyn Rng,
    context: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let mut sealer = Sealer::new(primitives, key, rng, context).await?;
    let mut out = sealer.push(plaintext).await?;
    out.extend_from_slice(&sealer.finish().await?);
    Ok(out)
}

/// Opens a whole object in one call.
pub async fn open_with(
    primitives: &dyn SealPrimitives,
    key: &SnapshotKey,
    context: &str,
    sealed: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let mut opener = Opener::new(primitives, key, context);
    let mut out = opener.push(sealed).await?;
    out.extend_from_slice(&opener.finish().await?);
    Ok(out)
}

/// [`seal_with`] the Rust primitives, synchronously: for native tests and tools (the worker
/// seals through its runtime's primitives, `Deps::seal`).
#[cfg(not(target_arch = "wasm32"))]
pub fn seal_object(key: &SnapshotKey, rng: &dyn Rng, context: &str, plaintext: &[u8]) -> Vec<u8> {
    let sealing = seal_with(&super::native::RustPrimitives, key, rng, context, plaintext);
    futures_util::FutureExt::now_or_never(sealing)
        .expect("the Rust primitives never wait")
        .expect("the Rust primitives do not fail")
}

/// [`open_with`] the Rust primitives, synchronously (see [`seal_object`]).
#[cfg(not(target_arch = "wasm32"))]
pub fn open_object(
    key: &SnapshotKey,
    context: &str,
    sealed: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let opening = open_with(&super::native::RustPrimitives, key, context, sealed);
    futures_util::FutureExt::now_or_never(opening).expect("the Rust primitives never wait")
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::native::RustPrimitives;
    use crate::crypto::testing::{pseudo_random, CounterRng};
    use crate::ports::PrimitiveError;
    use futures::executor::block_on;

    const CONTEXT: &str = "tenants/t1/connections/prod/backups/b1/users.json.bfs";

    fn snapshot_key() -> SnapshotKey {
        SnapshotKey::derive(&Key256::from_bytes([0x5a; 32]), "tenant-1", "prod")
    }

    fn seal_with_chunk_size(plaintext: &[u8], chunk_size: usize, pushes: &[usize]) -> Vec<u8> {
        let rng = CounterRng::default();
        block_on(async {
            let mut sealer = Sealer::with_chunk_size(
                &RustPrimitives,
                &snapshot_key(),
                &rng,
                CONTEXT,
                chunk_size,
            )
            .await
            .unwrap();
            let mut out = Vec::new();
            for piece in split(plaintext, pushes) {
                out.extend_from_slice(&sealer.push(piece).await.unwrap());
            }
            out.extend_from_slice(&sealer.finish().await.unwrap());
            out
        })
    }

    /// Splits `data` into pieces cycling through `sizes`.
    fn split<'a>(mut data: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
        let mut pieces = Vec::new();
        for size in sizes.iter().cycle() {
            if data.is_empty() {
                break;
            }
            let (piece, rest) = data.split_at((*size).min(data.len()));
            pieces.push(piece);
            data = rest;
        }
        pieces
    }

    fn open_in_pieces(sealed: &[u8], pushes: &[usize]) -> Result<Vec<u8>, CryptoError> {
        block_on(async {
            let mut opener = Opener::new(&RustPrimitives, &snapshot_key(), CONTEXT);
            let mut out = Vec::new();
            for piece in split(sealed, pushes) {
                out.extend_from_slice(&opener.push(piece).await?);
            }
            out.extend_from_slice(&opener.finish().await?);
            Ok(out)
        })
    }

    /// Number of sealed chunks, given the chunk size.
    fn chunk_count(sealed: &[u8], chunk_size: usize) -> usize {
        (sealed.len() - HEADER_LEN).div_ceil(chunk_size + TAG_LEN)
    }

    /// Cross-checked against an independent implementation (Python `cryptography`) when pinned.
    #[test]
    fn snapshot_key_known_answer_and_separation() {
        let master = Key256::from_bytes([0x5a; 32]);
        let key = SnapshotKey::derive(&master, "tenant-1", "prod");
        assert_eq!(
            hex::encode(key.0.expose()),
            "aac97d586f98b72452d056356fe3d3d480e0c67b256240006ee46ab3628c58ec"
        );
        let distinct = [
            SnapshotKey::derive(&master, "tenant-2", "prod"),
            SnapshotKey::derive(&master, "tenant-1", "staging"),
            // Length prefixes keep ("tenant-1p", "rod") apart from ("tenant-1", "prod").
            SnapshotKey::derive(&master, "tenant-1p", "rod"),
            SnapshotKey::derive(&Key256::from_bytes([0x5b; 32]), "tenant-1", "prod"),
        ];
        for other in distinct {
            assert_ne!(other.0.expose(), key.0.expose());
        }
        assert_eq!(format!("{key:?}"), "SnapshotKey(..redacted..)");
    }

    /// Both the secret and the backup's key feed the derivation, in their own positions.
    #[test]
    fn backup_snapshot_key_known_answer_and_separation() {
        let (secret, backup) = (
            Key256::from_bytes([0x5a; 32]),
            Key256::from_bytes([0x33; 32]),
        );
        let key = SnapshotKey::derive_for_backup(&secret, &backup, "tenant-1", "prod");
        // Cross-checked with Python's hmac/hashlib (HKDF by hand) when pinned.
        assert_eq!(
            hex::encode(key.0.expose()),
            "524ef5769e81641e297b4a2d2c00d6d25c14b6432756aeb3c5e25e7ad1932c12"
        );
        let distinct = [
            SnapshotKey::derive(&secret, "tenant-1", "prod"),
            SnapshotKey::derive_for_backup(&backup, &secret, "tenant-1", "prod"),
            SnapshotKey::derive_for_backup(
                &Key256::from_bytes([0x5b; 32]),
                &backup,
                "tenant-1",
                "prod",
            ),
            SnapshotKey::derive_for_backup(
                &secret,
                &Key256::from_bytes([0x34; 32]),
                "tenant-1",
                "prod",
            ),
            SnapshotKey::derive_for_backup(&secret, &backup, "tenant-2", "prod"),
            SnapshotKey::derive_for_backup(&secret, &backup, "tenant-1p", "rod"),
        ];
        for other in distinct {
            assert_ne!(other.0.expose(), key.0.expose());
        }
    }

    /// Pins the object format: salt = 00..1f from the counter RNG. Cross-checked against an
    /// independent implementation (Python `cryptography`) when pinned. The ciphertext also
    /// pins flate2's gzip output for this input; a compressor upgrade could change it.
    #[test]
    fn seal_object_known_answer() {
        let sealed = seal_object(
            &snapshot_key(),
            &CounterRng::default(),
            CONTEXT,
            b"{\"users\":[]}",
        );
        let salt: Vec<u8> = (0..32).collect();
        assert_eq!(
            hex::encode(&sealed[..HEADER_LEN]),
            format!("42465331010100010000{}", hex::encode(salt))
        );
        assert_eq!(
            hex::encode(&sealed[HEADER_LEN..]),
            "b72c3d8d499d63d2131816c96fa864c52b5f7c3a0434b248f09aafbfe26a36b6\
             dba529d17488fbf167783bc9326f2e85"
        );
        assert_eq!(
            open_object(&snapshot_key(), CONTEXT, &sealed).unwrap(),
            b"{\"users\":[]}"
        );
    }

    #[test]
    fn empty_object_is_one_final_chunk() {
        let sealed = seal_object(&snapshot_key(), &CounterRng::default(), CONTEXT, b"");
        assert_eq!(chunk_count(&sealed, CHUNK_SIZE), 1);
        assert_eq!(open_object(&snapshot_key(), CONTEXT, &sealed).unwrap(), b"");
        assert_eq!(
            open_object(&snapshot_key(), CONTEXT, &sealed[..HEADER_LEN]).unwrap_err(),
            CryptoError::Truncated
        );
    }

    #[test]
    fn compressible_data_shrinks() {
        let plaintext = br#"{"id":"00u1","status":"ACTIVE"},"#.repeat(4000);
        let sealed = seal_object(&snapshot_key(), &CounterRng::default(), CONTEXT, &plaintext);
        assert!(sealed.len() < plaintext.len() / 10, "{}", sealed.len());
        assert_eq!(
            open_object(&snapshot_key(), CONTEXT, &sealed).unwrap(),
            plaintext
        );
    }

    /// 300 KiB of incompressible data: five 64 KiB chunks, streamed in odd-sized pieces.
    #[test]
    fn multi_chunk_streaming_round_trip() {
        let plaintext = pseudo_random(b"snapshot", 300 * 1024);
        let sealed = seal_with_chunk_size(&plaintext, CHUNK_SIZE, &[1, 7919, 65_537, 3]);
        assert_eq!(chunk_count(&sealed, CHUNK_SIZE), 5);

        let mut opener = Opener::new(&RustPrimitives, &snapshot_key(), CONTEXT);
        let mut opened = Vec::new();
        let mut max_out = 0;
        for piece in split(&sealed, &[13, 40_000, 1, 99_991]) {
            let out = block_on(opener.push(piece)).unwrap();
            max_out = max_out.max(out.len());
            assert!(
                opener.buf.len() <= CHUNK_SIZE + TAG_LEN,
                "buffer stays bounded"
            );
            opened.extend_from_slice(&out);
        }
        opened.extend_from_slice(&block_on(opener.finish()).unwrap());
        assert_eq!(opened, plaintext);
        assert!(
            max_out < plaintext.len(),
            "plaintext is released incrementally"
        );
    }

    #[test]
    fn sealer_holds_back_at_most_a_chunk() {
        let plaintext = pseudo_random(b"bounded", 200 * 1024);
        let rng = CounterRng::default();
        let mut sealer =
            block_on(Sealer::new(&RustPrimitives, &snapshot_key(), &rng, CONTEXT)).unwrap();
        let mut sealed = Vec::new();
        for piece in plaintext.chunks(10_000) {
            sealed.extend_from_slice(&block_on(sealer.push(piece)).unwrap());
            assert!(sealer.pending.len() <= CHUNK_SIZE);
        }
        assert!(
            sealed.len() > HEADER_LEN + CHUNK_SIZE,
            "full chunks leave before finish"
        );
        sealed.extend_from_slice(&block_on(sealer.finish()).unwrap());
        assert_eq!(
            open_object(&snapshot_key(), CONTEXT, &sealed).unwrap(),
            plaintext
        );
    }

    /// Sizes around chunk boundaries, including a full-size final chunk.
    #[test]
    fn chunk_boundaries_round_trip() {
        let chunk_size = 16;
        let mut saw_full_final_chunk = false;
        for len in 0..80 {
            let plaintext = pseudo_random(b"edge", len);
            let sealed = seal_with_chunk_size(&plaintext, chunk_size, &[5]);
            saw_full_final_chunk |=
                (sealed.len() - HEADER_LEN).is_multiple_of(chunk_size + TAG_LEN);
            assert_eq!(
                open_in_pieces(&sealed, &[1]).unwrap(),
                plaintext,
                "len {len}"
            );
            assert_eq!(open_in_pieces(&sealed, &[sealed.len()]).unwrap(), plaintext);
        }
        assert!(saw_full_final_chunk);
    }

    /// An empty final chunk (compressed stream ends exactly at a boundary) is valid, though
    /// `Sealer` itself never writes one.
    #[test]
    fn empty_final_chunk_is_accepted() {
        use flate2::{write::GzEncoder, Compression};
        use std::io::Write;
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(b"boundary").unwrap();
        let gz = encoder.finish().unwrap();
        let rng = CounterRng::default();
        let sealed = block_on(async {
            let mut sealer =
                Sealer::with_chunk_size(&RustPrimitives, &snapshot_key(), &rng, CONTEXT, gz.len())
                    .await
                    .unwrap();
            let mut sealed = sealer.take_header();
            sealer.seal_chunk(&gz, false, &mut sealed).await.unwrap();
            sealer.seal_chunk(&[], true, &mut sealed).await.unwrap();
            sealed
        });
        assert_eq!(sealed.len(), HEADER_LEN + gz.len() + 2 * TAG_LEN);
        assert_eq!(
            open_object(&snapshot_key(), CONTEXT, &sealed).unwrap(),
            b"boundary"
        );
    }

    #[test]
    fn wrong_key_or_context_fails() {
        let sealed = seal_object(&snapshot_key(), &CounterRng::default(), CONTEXT, b"data");
        let other_context = format!("{CONTEXT}x");
        assert_eq!(
            open_object(&snapshot_key(), &other_context, &sealed).unwrap_err(),
            CryptoError::Decrypt
        );
        let other_key = SnapshotKey::derive(&Key256::from_bytes([0x5a; 32]), "tenant-2", "prod");
        assert_eq!(
            open_object(&other_key, CONTEXT, &sealed).unwrap_err(),
            CryptoError::Decrypt
        );
    }

    #[test]
    fn any_flipped_bit_is_rejected() {
        let plaintext = pseudo_random(b"tamper", 100);
        let sealed = seal_with_chunk_size(&plaintext, 32, &[100]);
        assert!(chunk_count(&sealed, 32) >= 4);
        for i in 0..sealed.len() {
            let mut tampered = sealed.clone();
            tampered[i] ^= 0x04;
            // Magic, version, compression and an over-large chunk size are rejected on sight;
            // any other change (smaller chunk size, salt, ciphertext, tags) fails to open.
            let expected = if i <= 6 {
                CryptoError::Malformed
            } else {
                CryptoError::Decrypt
            };
            assert_eq!(
                open_in_pieces(&tampered, &[7]).unwrap_err(),
                expected,
                "byte {i}"
            );
        }
    }

    #[test]
    fn tampering_a_large_object_is_rejected() {
        let plaintext = pseudo_random(b"large", 150 * 1024);
        let sealed = seal_object(&snapshot_key(), &CounterRng::default(), CONTEXT, &plaintext);
        let sealed_chunk = CHUNK_SIZE + TAG_LEN;
        let positions = [
            0,
            HEADER_LEN - 1,
            HEADER_LEN,
            HEADER_LEN + sealed_chunk - 1,
            HEADER_LEN + sealed_chunk + 1000,
            sealed.len() - 17,
            sealed.len() - 1,
        ];
        for i in positions {
            let mut tampered = sealed.clone();
            tampered[i] ^= 0x80;
            assert!(
                open_object(&snapshot_key(), CONTEXT, &tampered).is_err(),
                "byte {i}"
            );
        }
    }

    #[test]
    fn truncation_is_detected() {
        let chunk_size = 32;
        let sealed_chunk = chunk_size + TAG_LEN;
        let sealed = seal_with_chunk_size(&pseudo_random(b"cut", 200), chunk_size, &[50]);
        let chunks = chunk_count(&sealed, chunk_size);
        assert!(chunks >= 5);
        // Dropping whole chunks off the end.
        for keep in 0..chunks {
            let cut = &sealed[..HEADER_LEN + keep * sealed_chunk];
            assert_eq!(
                open_in_pieces(cut, &[9]).unwrap_err(),
                CryptoError::Truncated,
                "kept {keep} chunks"
            );
        }
        // Cutting inside the final chunk or the header.
        assert_eq!(
            open_in_pieces(&sealed[..sealed.len() - 1], &[9]).unwrap_err(),
            CryptoError::Decrypt
        );
        assert_eq!(
            open_in_pieces(&sealed[..HEADER_LEN - 1], &[9]).unwrap_err(),
            CryptoError::Truncated
        );
        assert_eq!(
            open_in_pieces(&[], &[9]).unwrap_err(),
            CryptoError::Truncated
        );
    }

    #[test]
    fn reordered_or_duplicated_chunks_are_rejected() {
        let chunk_size = 32;
        let sealed_chunk = chunk_size + TAG_LEN;
        let sealed = seal_with_chunk_size(&pseudo_random(b"order", 200), chunk_size, &[200]);
        let (header, body) = sealed.split_at(HEADER_LEN);
        let chunks: Vec<&[u8]> = body.chunks(sealed_chunk).collect();
        let rebuild = |order: &[usize]| {
            let mut out = header.to_vec();
            for &i in order {
                out.extend_from_slice(chunks[i]);
            }
            out
        };
        let n = chunks.len();
        let mut swapped: Vec<usize> = (0..n).collect();
        swapped.swap(0, 1);
        let mut duplicated: Vec<usize> = (0..n).collect();
        duplicated.insert(1, 0);
        let mut dropped_middle: Vec<usize> = (0..n).collect();
        dropped_middle.remove(1);
        for order in [swapped, duplicated, dropped_middle] {
            assert_eq!(
                open_object(&snapshot_key(), CONTEXT, &rebuild(&order)).unwrap_err(),
                CryptoError::Decrypt,
                "{order:?}"
            );
        }
        assert_eq!(
            open_object(
                &snapshot_key(),
                CONTEXT,
                &rebuild(&(0..n).collect::<Vec<_>>())
            )
            .unwrap()
            .len(),
            200
        );
    }

    #[test]
    fn data_after_the_final_chunk_is_rejected() {
        let chunk_size = 16;
        // Find a plaintext whose final chunk is full-size, so appended bytes start a new chunk.
        let (plaintext, sealed) = (0..64)
            .map(|len| {
                let p = pseudo_random(b"trail", len);
                let s = seal_with_chunk_size(&p, chunk_size, &[len.max(1)]);
                (p, s)
            })
            .find(|(_, s)| (s.len() - HEADER_LEN).is_multiple_of(chunk_size + TAG_LEN))
            .unwrap();
        assert_eq!(
            open_object(&snapshot_key(), CONTEXT, &sealed).unwrap(),
            plaintext
        );
        let mut trailing = sealed.clone();
        trailing.extend_from_slice(&[0u8; 20]);
        assert_eq!(
            open_object(&snapshot_key(), CONTEXT, &trailing).unwrap_err(),
            CryptoError::Malformed
        );
        // Appending a copy of the final chunk is also caught.
        let mut doubled = sealed.clone();
        doubled.extend_from_slice(&sealed[sealed.len() - chunk_size - TAG_LEN..]);
        assert!(open_object(&snapshot_key(), CONTEXT, &doubled).is_err());
        // With a short final chunk, trailing bytes make it fail authentication.
        let short_final = seal_with_chunk_size(b"x", 1024, &[1]);
        let mut trailing = short_final.clone();
        trailing.push(0);
        assert_eq!(
            open_object(&snapshot_key(), CONTEXT, &trailing).unwrap_err(),
            CryptoError::Decrypt
        );
    }

    #[test]
    fn bad_headers_are_malformed() {
        let sealed = seal_object(&snapshot_key(), &CounterRng::default(), CONTEXT, b"data");
        let set = |offset: usize, bytes: &[u8]| {
            let mut s = sealed.clone();
            s[offset..offset + bytes.len()].copy_from_slice(bytes);
            s
        };
        for bad in [
            set(0, b"BFS2"),
            set(4, &[2]),
            set(5, &[0]),
            set(6, &0u32.to_be_bytes()),
            set(6, &(MAX_CHUNK_SIZE as u32 + 1).to_be_bytes()),
        ] {
            assert_eq!(
                open_object(&snapshot_key(), CONTEXT, &bad).unwrap_err(),
                CryptoError::Malformed
            );
        }
        // A different, still valid chunk size is caught by the header AAD.
        assert_eq!(
            open_object(&snapshot_key(), CONTEXT, &set(6, &1024u32.to_be_bytes())).unwrap_err(),
            CryptoError::Decrypt
        );
    }

    #[test]
    fn opener_is_poisoned_after_an_error() {
        let plaintext = pseudo_random(b"poison", 3 * 1024);
        let mut sealed = seal_with_chunk_size(&plaintext, 1024, &[3 * 1024]);
        sealed[HEADER_LEN] ^= 1;
        let mut opener = Opener::new(&RustPrimitives, &snapshot_key(), CONTEXT);
        assert_eq!(
            block_on(opener.push(&sealed)).unwrap_err(),
            CryptoError::Decrypt
        );
        assert_eq!(
            block_on(opener.push(b"")).unwrap_err(),
            CryptoError::Decrypt
        );
        assert_eq!(block_on(opener.finish()).unwrap_err(), CryptoError::Decrypt);
    }

    #[test]
    fn debug_output_shows_no_key_material() {
        let rng = CounterRng::default();
        let mut sealer =
            block_on(Sealer::new(&RustPrimitives, &snapshot_key(), &rng, CONTEXT)).unwrap();
        let _ = block_on(sealer.push(&[0; 10])).unwrap();
        assert_eq!(
            format!("{sealer:?}"),
            "Sealer { chunk_size: 65536, chunks_sealed: 0, .. }"
        );
        let opener = Opener::new(&RustPrimitives, &snapshot_key(), "a/b");
        assert_eq!(
            format!("{opener:?}"),
            "Opener { context: \"a/b\", chunks_opened: 0, poisoned: None, .. }"
        );
    }

    /// Primitives whose output lags as the runtime's streams' may: every call first yields
    /// (pending once), and the gzip sides hand their output back one call late, all of the rest
    /// only at `finish`.
    struct Lagging;

    /// Pending on the first poll, ready on the second.
    fn yield_once() -> impl std::future::Future<Output = ()> {
        let mut yielded = false;
        std::future::poll_fn(move |cx| {
            if std::mem::replace(&mut yielded, true) {
                std::task::Poll::Ready(())
            } else {
                cx.waker().wake_by_ref();
                std::task::Poll::Pending
            }
        })
    }

    struct Late<T: ?Sized> {
        inner: Box<T>,
        held: Vec<u8>,
    }

    #[async_trait::async_trait(?Send)]
    impl Compressor for Late<dyn Compressor> {
        async fn push(&mut self, input: &[u8]) -> Result<Vec<u8>, PrimitiveError> {
            yield_once().await;
            let fresh = self.inner.push(input).await?;
            Ok(std::mem::replace(&mut self.held, fresh))
        }
        async fn finish(self: Box<Self>) -> Result<Vec<u8>, PrimitiveError> {
            yield_once().await;
            let mut out = self.held;
            out.extend(self.inner.finish().await?);
            Ok(out)
        }
    }

    #[async_trait::async_trait(?Send)]
    impl Decompressor for Late<dyn Decompressor> {
        async fn push(&mut self, input: &[u8]) -> Result<Vec<u8>, PrimitiveError> {
            yield_once().await;
            let fresh = self.inner.push(input).await?;
            Ok(std::mem::replace(&mut self.held, fresh))
        }
        async fn finish(self: Box<Self>) -> Result<Vec<u8>, PrimitiveError> {
            yield_once().await;
            let mut out = self.held;
            out.extend(self.inner.finish().await?);
            Ok(out)
        }
    }

    #[async_trait::async_trait(?Send)]
    impl SealPrimitives for Lagging {
        fn gzip(&self) -> Box<dyn Compressor> {
            Box::new(Late {
                inner: RustPrimitives.gzip(),
                held: Vec::new(),
            })
        }
        fn gunzip(&self) -> Box<dyn Decompressor> {
            Box::new(Late {
                inner: RustPrimitives.gunzip(),
                held: Vec::new(),
            })
        }
        async fn aes_256_gcm(&self, key: &[u8; 32]) -> Result<Box<dyn AesGcmKey>, PrimitiveError> {
            yield_once().await;
            RustPrimitives.aes_256_gcm(key).await
        }
    }

    /// When the primitives' output arrives does not change the object: lagging, yielding
    /// primitives seal the very bytes the eager ones do (same salt), and each side opens the
    /// other's multi-chunk objects, fed in odd pieces.
    #[test]
    fn lagging_primitives_seal_the_same_object_and_open_the_eager_ones() {
        let plaintext = [
            pseudo_random(b"lag", 200 * 1024),
            br#"{"id":"00u1","status":"ACTIVE"},"#.repeat(20_000),
        ]
        .concat();
        let seal = |primitives: &dyn SealPrimitives| {
            let rng = CounterRng::default();
            block_on(async {
                let mut sealer = Sealer::new(primitives, &snapshot_key(), &rng, CONTEXT)
                    .await
                    .unwrap();
                let mut out = Vec::new();
                for piece in split(&plaintext, &[70_001, 3, 150_000]) {
                    out.extend(sealer.push(piece).await.unwrap());
                }
                out.extend(sealer.finish().await.unwrap());
                out
            })
        };
        let open = |primitives: &dyn SealPrimitives, sealed: &[u8]| {
            block_on(async {
                let mut opener = Opener::new(primitives, &snapshot_key(), CONTEXT);
                let mut out = Vec::new();
                for piece in split(sealed, &[65_551, 9, 100_003]) {
                    out.extend(opener.push(piece).await?);
                }
                out.extend(opener.finish().await?);
                Ok::<_, CryptoError>(out)
            })
        };
        let eager = seal(&RustPrimitives);
        assert!(chunk_count(&eager, CHUNK_SIZE) >= 4);
        assert_eq!(seal(&Lagging), eager);
        assert_eq!(open(&Lagging, &eager).unwrap(), plaintext);
        assert_eq!(open(&RustPrimitives, &seal(&Lagging)).unwrap(), plaintext);
        // Truncation is still caught however late the output comes.
        let cut = &eager[..HEADER_LEN + 2 * (CHUNK_SIZE + TAG_LEN)];
        assert_eq!(open(&Lagging, cut).unwrap_err(), CryptoError::Truncated);
    }

    /// Primitives whose AES-GCM cannot be set up or fails mid-object.
    struct Broken {
        import_fails: bool,
    }

    struct FailingCipher;

    #[async_trait::async_trait(?Send)]
    impl AesGcmKey for FailingCipher {
        async fn seal(&self, _: &[u8; 12], _: &[u8], _: &[u8]) -> Result<Vec<u8>, PrimitiveError> {
            Err(PrimitiveError("crypto.subtle.encrypt".into()))
        }
        async fn open(&self, _: &[u8; 12], _: &[u8], _: &[u8]) -> Option<Vec<u8>> {
            None
        }
    }

    #[async_trait::async_trait(?Send)]
    impl SealPrimitives for Broken {
        fn gzip(&self) -> Box<dyn Compressor> {
            RustPrimitives.gzip()
        }
        fn gunzip(&self) -> Box<dyn Decompressor> {
            RustPrimitives.gunzip()
        }
        async fn aes_256_gcm(&self, _: &[u8; 32]) -> Result<Box<dyn AesGcmKey>, PrimitiveError> {
            if self.import_fails {
                Err(PrimitiveError("crypto.subtle.importKey".into()))
            } else {
                Ok(Box::new(FailingCipher))
            }
        }
    }

    /// A failing primitive is an error of its own kind (the backup retries it), never a panic
    /// and never mistaken for tampering; a cipher that authenticates nothing fails closed.
    #[test]
    fn failing_primitives_are_reported_as_such() {
        let rng = CounterRng::default();
        let failure = |import_fails| {
            block_on(seal_with(
                &Broken { import_fails },
                &snapshot_key(),
                &rng,
                CONTEXT,
                &pseudo_random(b"x", 100_000),
            ))
            .unwrap_err()
        };
        assert_eq!(
            failure(true),
            CryptoError::Primitive(PrimitiveError("crypto.subtle.importKey".into()))
        );
        assert_eq!(
            failure(false),
            CryptoError::Primitive(PrimitiveError("crypto.subtle.encrypt".into()))
        );
        let sealed = seal_object(&snapshot_key(), &rng, CONTEXT, b"data");
        assert_eq!(
            block_on(open_with(
                &Broken {
                    import_fails: false
                },
                &snapshot_key(),
                CONTEXT,
                &sealed
            ))
            .unwrap_err(),
            CryptoError::Decrypt
        );
    }

    #[test]
    fn nonces_encode_index_and_flag() {
        assert_eq!(
            hex::encode(chunk_nonce(0, false)),
            "000000000000000000000000"
        );
        assert_eq!(
            hex::encode(chunk_nonce(1, true)),
            "000000000000000000000101"
        );
        assert_eq!(
            hex::encode(chunk_nonce(u64::MAX - 1, false)),
            "000000fffffffffffffffe00"
        );
    }
}
