//! Writing one segment: sealed as it grows, and handed to the object store a part at a time.

use sha2::{Digest, Sha256};

use super::manifest::Segment;
use crate::crypto::stream::{Sealer, SnapshotKey};
use crate::crypto::CryptoError;
use crate::ports::{ObjectStore, Rng, SealPrimitives, StoreError, UploadedPart};

/// Why a segment could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("sealing a segment: {0}")]
    Seal(#[from] CryptoError),
}

/// Below this a segment's buffer grows as usual (most segments are small).
const GROW_TO_PART_AFTER: usize = 1024 * 1024;
/// Room past a full part for the write that crosses it (one item's sealed bytes).
const PART_SLACK: usize = 1024 * 1024;
/// Part sizes above this (tests that want one part per segment) are not preallocated.
const MAX_PART_BUFFER: usize = 64 * 1024 * 1024;

/// One segment being written. Sealed bytes are held until a full part is ready and then
/// uploaded as one part of a multipart upload (started lazily, so a small segment is a single
/// `put`): memory is one part plus the sealer's chunk, whatever the segment's size.
pub struct SegmentWriter {
    key: String,
    /// `None` once closed.
    sealer: Option<Sealer>,
    part_size: usize,
    pending: Vec<u8>,
    upload: Option<(String, Vec<UploadedPart>)>,
    sealed_hash: Sha256,
    sealed_bytes: u64,
    plaintext_bytes: u64,
}

impl SegmentWriter {
    /// A segment stored at `key`, which is also its sealing context.
    pub async fn new(
        primitives: &dyn SealPrimitives,
        snapshot_key: &SnapshotKey,
        rng: &dyn Rng,
        key: String,
        part_size: usize,
    ) -> Result<SegmentWriter, CryptoError> {
        Ok(SegmentWriter {
            sealer: Some(Sealer::new(primitives, snapshot_key, rng, &key).await?),
            key,
            part_size,
            pending: Vec::new(),
            upload: None,
            sealed_hash: Sha256::new(),
            sealed_bytes: 0,
            plaintext_bytes: 0,
        })
    }

    pub async fn write(&mut self, plaintext: &[u8]) -> Result<(), CryptoError> {
        self.plaintext_bytes += plaintext.len() as u64;
        let sealer = self
            .sealer
            .as_mut()
            .expect("a segment is written until closed");
        let sealed = sealer.push(plaintext).await?;
        self.extend(&sealed);
        Ok(())
    }

    /// Sealed bytes produced so far.
    pub fn sealed_bytes(&self) -> u64 {
        self.sealed_bytes
    }

    fn extend(&mut self, sealed: &[u8]) {
        self.sealed_hash.update(sealed);
        self.sealed_bytes += sealed.len() as u64;
        let needed = self.pending.len() + sealed.len();
        if needed > self.pending.capacity() && needed > GROW_TO_PART_AFTER {
            // A segment this big will fill a part: grow straight to one (plus slack for the
            // write that crosses it) rather than doubling past it, which would hold up to twice
            // a part per lane.
            let target = self.part_size.min(MAX_PART_BUFFER) + PART_SLACK;
            self.pending
                .reserve_exact(target.saturating_sub(self.pending.len()).max(sealed.len()));
        }
        self.pending.extend_from_slice(sealed);
    }

    /// Uploads every full part pending. Parts are all exactly `part_size`, as R2 requires; on
    /// failure the upload is aborted.
    pub async fn flush_full_parts(&mut self, store: &dyn ObjectStore) -> Result<(), StoreError> {
        while self.pending.len() >= self.part_size {
            let rest = self.pending.split_off(self.part_size);
            let part = std::mem::replace(&mut self.pending, rest);
            if let Err(e) = self.upload_part(store, part).await {
                self.abort_upload(store).await;
                return Err(e);
            }
        }
        Ok(())
    }

    async fn upload_part(
        &mut self,
        store: &dyn ObjectStore,
        part: Vec<u8>,
    ) -> Result<(), StoreError> {
        if self.upload.is_none() {
            let id = store.create_multipart(&self.key).await?;
            self.upload = Some((id, Vec::new()));
        }
        let (id, parts) = self.upload.as_mut().expect("started above");
        let number = u16::try_from(parts.len() + 1)
            .map_err(|_| StoreError("segment exceeds 10000 parts".into()))?;
        parts.push(store.upload_part(&self.key, id, number, part).await?);
        Ok(())
    }

    /// Seals the end of the segment and stores what is left: one `put` if no part went out,
    /// else the last part and completion. On failure nothing is left half-written.
    pub async fn close(mut self, store: &dyn ObjectStore) -> Result<Segment, WriteError> {
        let tail = match self.sealer.take().expect("closed once").finish().await {
            Ok(tail) => tail,
            Err(e) => {
                self.abort_upload(store).await;
                return Err(e.into());
            }
        };
        self.extend(&tail);
        if let Err(e) = self.store_rest(store).await {
            self.abort_upload(store).await;
            return Err(e.into());
        }
        Ok(Segment {
            key: self.key,
            plaintext_bytes: self.plaintext_bytes,
            sealed_bytes: self.sealed_bytes,
            sealed_sha256: hex::encode(self.sealed_hash.finalize()),
        })
    }

    async fn store_rest(&mut self, store: &dyn ObjectStore) -> Result<(), StoreError> {
        self.flush_full_parts(store).await?;
        let tail = std::mem::take(&mut self.pending);
        if self.upload.is_none() {
            return store.put(&self.key, tail).await;
        }
        if !tail.is_empty() {
            self.upload_part(store, tail).await?;
        }
        let (id, parts) = self.upload.take().expect("checked above");
        let done = store.complete_multipart(&self.key, &id, parts).await;
        if done.is_err() {
            self.upload = Some((id, Vec::new()));
        }
        done
    }

    /// Abandons the segment, aborting its upload.
    pub async fn abort(mut self, store: &dyn ObjectStore) {
        self.abort_upload(store).await;
    }

    /// Best effort: a failed abort changes nothing for the caller, and the bucket's lifecycle
    /// rule removes stale multipart uploads.
    async fn abort_upload(&mut self, store: &dyn ObjectStore) {
        if let Some((id, _)) = self.upload.take() {
            let _ = store.abort_multipart(&self.key, &id).await;
        }
    }
}
