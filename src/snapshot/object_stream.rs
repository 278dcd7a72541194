//! Reading one object back as a stream of plaintext, in memory bounded independently of the
//! object's size.
//!
//! Each segment is fetched with ranged reads of at most [`READ_SIZE`] bytes, fed to the streaming
//! [`Opener`] one sealed chunk's worth at a time (so each piece handed out is the decompressed
//! plaintext of at most two chunks: bounded by the chunk size and gzip's ratio, not by the
//! object's size), while the segment's sealed bytes and the whole object's plaintext are
//! hashed as they pass. Only authenticated plaintext is ever handed out, but a consumer must
//! treat the stream as complete only once it ends cleanly: a tampered, truncated, resized or
//! missing segment, or a plaintext hash that does not match the manifest, ends it with an error.
//!
//! The stream owns everything it needs except the store, which is passed to each
//! [`ObjectStream::next_piece`] call: a response body can then outlive the request's borrows.

use std::collections::VecDeque;
use std::fmt;

use sha2::{Digest, Sha256};

use super::manifest::{ObjectEntry, Segment};
use crate::crypto::stream::{Opener, SnapshotKey, CHUNK_SIZE};
use crate::ports::{ObjectStore, SealPrimitives};

/// Largest ranged read of sealed bytes.
pub const READ_SIZE: u64 = 512 * 1024;
/// Sealed bytes fed to the opener per piece: about one chunk, so a piece's plaintext is at most
/// two chunks decompressed.
const FEED_SIZE: usize = CHUNK_SIZE;

/// Why an object stream stopped early. The message names the snapshot and what failed, never
/// any tenant data; it is for the log.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{label}: {what}")]
pub struct ObjectStreamError {
    label: String,
    what: String,
}

/// The segment being read.
struct Current {
    segment: Segment,
    opener: Opener<'static>,
    sealed_hash: Sha256,
    /// Sealed bytes fetched so far.
    fetched: u64,
    /// Fetched bytes not yet fed to the opener, from `pos`.
    buf: Vec<u8>,
    pos: usize,
}

/// A verified object's plaintext, piece by piece (see the module docs).
pub struct ObjectStream {
    /// Names the snapshot in errors.
    label: String,
    seal: &'static dyn SealPrimitives,
    key: SnapshotKey,
    pending: VecDeque<Segment>,
    current: Option<Current>,
    plaintext_hash: Sha256,
    plaintext_bytes: u64,
    expected_plaintext_sha256: String,
    expected_plaintext_bytes: u64,
    read_size: u64,
    /// A piece read ahead by [`ObjectStream::prime`].
    ready: Option<Vec<u8>>,
    /// Plaintext still to drop before handing bytes out (see [`ObjectStream::starting_at`]).
    skip: u64,
    /// Whether the whole object's hash can be checked: not when the stream began mid-object.
    whole: bool,
    /// Ranged reads made so far (each a subrequest in the worker).
    reads: u64,
    finished: bool,
    failed: Option<ObjectStreamError>,
}

impl ObjectStream {
    /// Streams `entry` (from a manifest already checked against its backup row), opening each
    /// segment under `key` with its R2 key as context, through `seal`'s gzip and AES-GCM.
    /// `label` names the snapshot in errors.
    pub fn new(
        label: impl Into<String>,
        seal: &'static dyn SealPrimitives,
        key: SnapshotKey,
        entry: &ObjectEntry,
    ) -> ObjectStream {
        ObjectStream {
            label: label.into(),
            seal,
            key,
            pending: entry.segments.iter().cloned().collect(),
            current: None,
            plaintext_hash: Sha256::new(),
            plaintext_bytes: 0,
            expected_plaintext_sha256: entry.plaintext_sha256.clone(),
            expected_plaintext_bytes: entry.plaintext_bytes,
            read_size: READ_SIZE,
            ready: None,
            skip: 0,
            whole: true,
            reads: 0,
            finished: false,
            failed: None,
        }
    }

    /// The same stream from plaintext byte `offset` on, for a job resuming a long read: the
    /// segments before the one holding `offset` are not fetched, and that segment's first bytes
    /// are opened and dropped. Every segment read is still checked (its sealed hash from the
    /// authenticated manifest, AES-GCM on every chunk); the whole-object hash, whose input began
    /// before `offset`, cannot be, so only the object's length is.
    pub fn starting_at(mut self, offset: u64) -> ObjectStream {
        if offset > self.expected_plaintext_bytes {
            self.failed = Some(self.error("resume offset beyond the object"));
            return self;
        }
        let mut before = 0;
        while let Some(first) = self.pending.front() {
            if before + first.plaintext_bytes > offset {
                break;
            }
            before += first.plaintext_bytes;
            self.pending.pop_front();
        }
        self.plaintext_bytes = before;
        self.skip = offset - before;
        self.whole = offset == 0;
        self
    }

    /// Changes the largest ranged read (tests use small ones).
    pub fn with_read_size(mut self, read_size: u64) -> ObjectStream {
        assert!(read_size > 0);
        self.read_size = read_size;
        self
    }

    /// Ranged reads of the store made so far: each one is a subrequest of the invocation.
    pub fn reads(&self) -> u64 {
        self.reads
    }

    /// The object's plaintext length, as the manifest records it.
    pub fn plaintext_len(&self) -> u64 {
        self.expected_plaintext_bytes
    }

    /// Reads ahead to the first piece, so a missing or unreadable first segment is reported
    /// before a response commits to success.
    pub async fn prime(&mut self, store: &dyn ObjectStore) -> Result<(), ObjectStreamError> {
        if self.ready.is_none() {
            self.ready = self.next_piece(store).await?;
        }
        Ok(())
    }

    /// The next non-empty piece of plaintext; `Ok(None)` once the whole object has been read and
    /// verified. After an error the stream keeps returning it.
    pub async fn next_piece(
        &mut self,
        store: &dyn ObjectStore,
    ) -> Result<Option<Vec<u8>>, ObjectStreamError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        if let Some(piece) = self.ready.take() {
            return Ok(Some(piece));
        }
        let result = self.advance(store).await;
        if let Err(err) = &result {
            self.failed = Some(err.clone());
            self.current = None;
        }
        result
    }

    /// Reads the rest of the object into one buffer (for callers that need it whole).
    pub async fn read_to_end(
        mut self,
        store: &dyn ObjectStore,
    ) -> Result<Vec<u8>, ObjectStreamError> {
        let mut out =
            Vec::with_capacity(usize::try_from(self.expected_plaintext_bytes).unwrap_or(0));
        while let Some(piece) = self.next_piece(store).await? {
            out.extend_from_slice(&piece);
        }
        Ok(out)
    }

    fn error(&self, what: impl Into<String>) -> ObjectStreamError {
        ObjectStreamError {
            label: self.label.clone(),
            what: what.into(),
        }
    }

    async fn advance(
        &mut self,
        store: &dyn ObjectStore,
    ) -> Result<Option<Vec<u8>>, ObjectStreamError> {
        loop {
            if self.finished {
                return Ok(None);
            }
            let Some(current) = self.current.as_mut() else {
                match self.pending.pop_front() {
                    Some(segment) => {
                        self.current = Some(Current {
                            opener: Opener::new(self.seal, &self.key, &segment.key),
                            segment,
                            sealed_hash: Sha256::new(),
                            fetched: 0,
                            buf: Vec::new(),
                            pos: 0,
                        });
                        continue;
                    }
                    None => {
                        self.finish_object()?;
                        return Ok(None);
                    }
                }
            };
            let piece = if current.pos < current.buf.len() {
                let end = current.buf.len().min(current.pos + FEED_SIZE);
                let piece = current.opener.push(&current.buf[current.pos..end]).await;
                current.pos = end;
                piece.map_err(|e| self.error(format!("segment does not open: {e}")))?
            } else if current.fetched < current.segment.sealed_bytes {
                self.fetch(store).await?;
                continue;
            } else {
                self.finish_segment().await?
            };
            if !piece.is_empty() {
                if self.whole {
                    self.plaintext_hash.update(&piece);
                }
                self.plaintext_bytes += piece.len() as u64;
                let drop = usize::try_from(self.skip).map_or(piece.len(), |s| s.min(piece.len()));
                self.skip -= drop as u64;
                if drop < piece.len() {
                    let piece = if drop == 0 {
                        piece
                    } else {
                        piece[drop..].to_vec()
                    };
                    return Ok(Some(piece));
                }
            }
        }
    }

    /// Fetches the current segment's next range of sealed bytes.
    async fn fetch(&mut self, store: &dyn ObjectStore) -> Result<(), ObjectStreamError> {
        let current = self.current.as_ref().expect("a segment is being read");
        let (key, offset) = (current.segment.key.clone(), current.fetched);
        let expected_len = current.segment.sealed_bytes;
        let want = self.read_size.min(expected_len - offset);
        self.reads += 1;
        let read = store
            .get_range(&key, offset, want)
            .await
            .map_err(|e| self.error(e.to_string()))?
            .ok_or_else(|| self.error("segment missing"))?;
        if read.object_len != expected_len {
            return Err(self.error("segment size differs from the manifest"));
        }
        if read.bytes.len() as u64 != want {
            return Err(self.error("short read of a segment"));
        }
        let current = self.current.as_mut().expect("a segment is being read");
        current.sealed_hash.update(&read.bytes);
        current.fetched += want;
        current.buf = read.bytes;
        current.pos = 0;
        Ok(())
    }

    /// Checks the whole segment's sealed hash, then its final chunk; returns the last plaintext.
    async fn finish_segment(&mut self) -> Result<Vec<u8>, ObjectStreamError> {
        let current = self.current.take().expect("a segment is being read");
        if hex::encode(current.sealed_hash.finalize()) != current.segment.sealed_sha256 {
            return Err(self.error("segment hash mismatch"));
        }
        current
            .opener
            .finish()
            .await
            .map_err(|e| self.error(format!("segment does not open: {e}")))
    }

    fn finish_object(&mut self) -> Result<(), ObjectStreamError> {
        let hash = hex::encode(std::mem::take(&mut self.plaintext_hash).finalize());
        if (self.whole && hash != self.expected_plaintext_sha256)
            || self.plaintext_bytes != self.expected_plaintext_bytes
        {
            return Err(self.error("plaintext hash mismatch"));
        }
        self.finished = true;
        Ok(())
    }
}

impl fmt::Debug for ObjectStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectStream")
            .field("label", &self.label)
            .field("segments_left", &self.pending.len())
            .field("plaintext_bytes", &self.plaintext_bytes)
            .field("finished", &self.finished)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::keys::Key256;
    use crate::crypto::native::RustPrimitives;
    use crate::crypto::stream::seal_object;
    use crate::crypto::testing::pseudo_random;
    use crate::snapshot::manifest::sha256_hex;
    use crate::tenant::ResourceType;
    use crate::testing::{MemoryStore, SeqRng, Yielding};
    use futures::executor::block_on;

    fn key() -> SnapshotKey {
        SnapshotKey::derive(&Key256::from_bytes([7; 32]), "team", "conn")
    }

    /// Seals `parts` as the segments of one object into `store`; returns its manifest entry.
    fn store_object(store: &MemoryStore, parts: &[Vec<u8>]) -> ObjectEntry {
        let rng = SeqRng::new(1);
        let mut segments = Vec::new();
        let mut whole = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let key = format!("p/users/{i:05}-00000000.json.bfs");
            let sealed = seal_object(&self::key(), &rng, &key, part);
            segments.push(Segment {
                key: key.clone(),
                plaintext_bytes: part.len() as u64,
                sealed_bytes: sealed.len() as u64,
                sealed_sha256: sha256_hex(&sealed),
            });
            store.objects.borrow_mut().insert(key, sealed);
            whole.extend_from_slice(part);
        }
        ObjectEntry {
            resource: ResourceType::Users,
            count: 0,
            plaintext_bytes: whole.len() as u64,
            sealed_bytes: segments.iter().map(|s| s.sealed_bytes).sum(),
            plaintext_sha256: sha256_hex(&whole),
            segments,
            unavailable: Vec::new(),
        }
    }

    /// Drains the stream; returns what it handed out, the largest piece, and how it ended.
    fn drain(
        store: &MemoryStore,
        mut stream: ObjectStream,
    ) -> (Vec<u8>, usize, Result<(), ObjectStreamError>) {
        let store = Yielding(store);
        let mut out = Vec::new();
        let mut largest = 0;
        loop {
            match block_on(stream.next_piece(&store)) {
                Ok(Some(piece)) => {
                    assert!(!piece.is_empty());
                    largest = largest.max(piece.len());
                    out.extend_from_slice(&piece);
                }
                Ok(None) => return (out, largest, Ok(())),
                Err(err) => {
                    // Poisoned: the error repeats, it never turns into a clean end.
                    assert_eq!(block_on(stream.next_piece(&store)), Err(err.clone()));
                    return (out, largest, Err(err));
                }
            }
        }
    }

    /// Three segments of 2.5 MiB incompressible data each come back through reads of at most
    /// 128 KiB and pieces of at most two chunks, never through a whole-object `get`.
    #[test]
    fn large_object_streams_in_bounded_pieces() {
        let store = MemoryStore::default();
        let parts: Vec<Vec<u8>> = (0..3u8)
            .map(|i| pseudo_random(&[b's', i], 5 * 512 * 1024))
            .collect();
        let entry = store_object(&store, &parts);
        let read_size = 128 * 1024;
        let stream = ObjectStream::new("snapshot b", &RustPrimitives, key(), &entry)
            .with_read_size(read_size);
        let (out, largest_piece, end) = drain(&store, stream);
        end.unwrap();
        assert_eq!(out, parts.concat());
        assert_eq!(store.whole_gets.get(), 0);
        assert!(store.largest_read.get() as u64 <= read_size);
        assert!(
            largest_piece <= 2 * CHUNK_SIZE + 1024,
            "largest piece {largest_piece}"
        );
    }

    #[test]
    fn compressible_and_empty_segments_round_trip() {
        let store = MemoryStore::default();
        let parts = vec![
            b"[".to_vec(),
            br#"{"id":"00u1","status":"ACTIVE"},"#.repeat(50_000),
            Vec::new(),
            br#"{"id":"00u2"}]"#.to_vec(),
        ];
        let entry = store_object(&store, &parts);
        let mut stream =
            ObjectStream::new("snapshot b", &RustPrimitives, key(), &entry).with_read_size(1000);
        block_on(stream.prime(&store)).unwrap();
        assert_eq!(
            block_on(stream.read_to_end(&store)).unwrap(),
            parts.concat()
        );
    }

    #[test]
    fn empty_object_has_no_pieces() {
        let store = MemoryStore::default();
        let entry = store_object(&store, &[Vec::new()]);
        let (out, _, end) = drain(
            &store,
            ObjectStream::new("b", &RustPrimitives, key(), &entry),
        );
        end.unwrap();
        assert!(out.is_empty());
    }

    fn parts() -> Vec<Vec<u8>> {
        (0..3u8)
            .map(|i| pseudo_random(&[b't', i], 300 * 1024))
            .collect()
    }

    /// Every kind of damage ends the stream with an error, after at most authenticated pieces.
    #[test]
    fn damage_ends_the_stream_with_an_error() {
        type Damage = fn(&MemoryStore, &mut ObjectEntry);
        let cases: [(&str, Damage); 8] = [
            ("segment hash mismatch", |store, entry| {
                // A flipped bit late in the second segment: earlier chunks still open.
                let key = &entry.segments[1].key;
                let mut objects = store.objects.borrow_mut();
                let sealed = objects.get_mut(key).unwrap();
                let at = sealed.len() - 100;
                sealed[at] ^= 1;
            }),
            ("segment size differs", |store, entry| {
                let key = &entry.segments[2].key;
                store.objects.borrow_mut().get_mut(key).unwrap().pop();
            }),
            ("segment size differs", |store, entry| {
                let key = &entry.segments[0].key;
                store.objects.borrow_mut().get_mut(key).unwrap().push(0);
            }),
            ("segment missing", |store, entry| {
                store.objects.borrow_mut().remove(&entry.segments[1].key);
            }),
            ("plaintext hash mismatch", |_, entry| {
                entry.plaintext_sha256 = sha256_hex(b"other");
            }),
            ("plaintext hash mismatch", |_, entry| {
                // A whole segment dropped from the manifest.
                entry.segments.remove(1);
            }),
            ("segment does not open", |store, entry| {
                // Segments swapped (with their manifest rows): the context no longer matches.
                let mut objects = store.objects.borrow_mut();
                let a = objects.remove(&entry.segments[0].key).unwrap();
                let b = objects.remove(&entry.segments[1].key).unwrap();
                objects.insert(entry.segments[0].key.clone(), b);
                objects.insert(entry.segments[1].key.clone(), a);
                let (sa, sb) = (entry.segments[0].clone(), entry.segments[1].clone());
                entry.segments[0].sealed_bytes = sb.sealed_bytes;
                entry.segments[0].sealed_sha256 = sb.sealed_sha256;
                entry.segments[1].sealed_bytes = sa.sealed_bytes;
                entry.segments[1].sealed_sha256 = sa.sealed_sha256;
            }),
            ("segment does not open", |store, entry| {
                // Cut off after its first chunks, with the manifest rewritten to match: only
                // the STREAM final-chunk check can tell.
                let segment = &mut entry.segments[2];
                let mut objects = store.objects.borrow_mut();
                let sealed = objects.get_mut(&segment.key).unwrap();
                sealed.truncate(42 + 2 * (CHUNK_SIZE + 16));
                segment.sealed_bytes = sealed.len() as u64;
                segment.sealed_sha256 = sha256_hex(sealed);
            }),
        ];
        for (expected, damage) in cases {
            let store = MemoryStore::default();
            let parts = parts();
            let mut entry = store_object(&store, &parts);
            damage(&store, &mut entry);
            let stream = ObjectStream::new("snapshot b", &RustPrimitives, key(), &entry)
                .with_read_size(50_000);
            let (out, _, end) = drain(&store, stream);
            let err = end.unwrap_err();
            assert!(
                err.to_string()
                    .starts_with(&format!("snapshot b: {expected}")),
                "{expected}: {err}"
            );
            // Whatever came out before the error is authentic: a prefix of the real plaintext,
            // unless the manifest itself left a segment out.
            if entry.segments.len() == parts.len() {
                assert!(parts.concat().starts_with(&out), "{expected}");
            }
        }
    }

    #[test]
    fn prime_reports_a_missing_first_segment() {
        let store = MemoryStore::default();
        let entry = store_object(&store, &parts());
        store.objects.borrow_mut().remove(&entry.segments[0].key);
        let mut stream = ObjectStream::new("snapshot b", &RustPrimitives, key(), &entry);
        assert_eq!(
            block_on(stream.prime(&store)).unwrap_err().to_string(),
            "snapshot b: segment missing"
        );
    }

    #[test]
    fn a_stream_started_mid_object_hands_out_the_rest_and_reads_no_earlier_segment() {
        let parts = parts();
        let whole = parts.concat();
        let first = parts[0].len() as u64;
        for offset in [
            0,
            1,
            first - 1,
            first,
            first + 4096,
            whole.len() as u64 - 1,
            whole.len() as u64,
        ] {
            let store = MemoryStore::default();
            let entry = store_object(&store, &parts);
            if offset >= first {
                // A segment wholly before the offset is never fetched.
                store.objects.borrow_mut().remove(&entry.segments[0].key);
            }
            let stream = ObjectStream::new("snapshot b", &RustPrimitives, key(), &entry)
                .with_read_size(64 * 1024)
                .starting_at(offset);
            let (out, _, end) = drain(&store, stream);
            end.unwrap();
            assert_eq!(out, whole[offset as usize..], "from byte {offset}");
        }
        // Segments it does read are still checked, and an offset past the end is refused.
        let store = MemoryStore::default();
        let entry = store_object(&store, &parts);
        store
            .objects
            .borrow_mut()
            .get_mut(&entry.segments[2].key)
            .unwrap()[40] ^= 1;
        let stream =
            ObjectStream::new("snapshot b", &RustPrimitives, key(), &entry).starting_at(first + 7);
        assert!(drain(&store, stream).2.is_err());
        let past = whole.len() as u64 + 1;
        let stream =
            ObjectStream::new("snapshot b", &RustPrimitives, key(), &entry).starting_at(past);
        assert_eq!(
            drain(&store, stream).2.unwrap_err().to_string(),
            "snapshot b: resume offset beyond the object"
        );
    }
}
