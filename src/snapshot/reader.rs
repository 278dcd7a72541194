//! Reads a complete backup back out of the object store: the manifest is checked against the hash
//! recorded on the backup's row, each object against the manifest (sealed and plaintext hashes),
//! then opened with the backup's snapshot key (see `services::tenant_keys::snapshot_key`). Downloads and compliance runs both read
//! through here; writing is [`super::collect`].

use serde_json::Value;

use super::manifest::{sha256_hex, FORMAT_VERSION};
use super::{Manifest, ObjectStream, SnapshotLayout};
use crate::crypto::stream::SnapshotKey;
use crate::ids::{BackupId, ConnectionId, TeamId};
use crate::ports::{ObjectStore, SealPrimitives};
use crate::tenant::{ResourceType, TenantSnapshot};

/// A complete backup to read: whose it is, where it lies, and what its manifest must hash to.
#[derive(Clone, Debug)]
pub struct SnapshotRef {
    pub backup: BackupId,
    pub team: TeamId,
    pub connection: ConnectionId,
    pub layout: SnapshotLayout,
    pub manifest_sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Tampering or corruption: the detail is for the worker log only.
    #[error("snapshot {backup}: {what}")]
    Unreadable { backup: BackupId, what: String },
    /// The backup did not collect this resource type.
    #[error("resource `{0}` not in the backup")]
    NotCollected(ResourceType),
}

/// A backup whose manifest has been verified; objects are fetched and checked on demand.
pub struct SnapshotReader<'s> {
    store: &'s dyn ObjectStore,
    seal: &'static dyn SealPrimitives,
    key: SnapshotKey,
    snapshot: SnapshotRef,
    manifest: Manifest,
}

impl<'s> SnapshotReader<'s> {
    /// Opens a complete backup, verifying its manifest against the recorded hash and its owner;
    /// its objects open through `seal`.
    pub async fn open(
        store: &'s dyn ObjectStore,
        seal: &'static dyn SealPrimitives,
        key: SnapshotKey,
        snapshot: SnapshotRef,
    ) -> Result<Self, ReadError> {
        let bad = |what: &str| ReadError::Unreadable {
            backup: snapshot.backup,
            what: what.to_string(),
        };
        let bytes = store
            .get(&snapshot.layout.manifest_key())
            .await
            .map_err(|e| bad(&e.to_string()))?
            .ok_or_else(|| bad("manifest missing"))?;
        if sha256_hex(&bytes) != snapshot.manifest_sha256 {
            return Err(bad("manifest hash mismatch"));
        }
        let manifest: Manifest =
            serde_json::from_slice(&bytes).map_err(|_| bad("manifest unreadable"))?;
        if manifest.format_version != FORMAT_VERSION {
            return Err(bad("unsupported snapshot format version"));
        }
        if manifest.team_id != snapshot.team.to_string()
            || manifest.connection_id != snapshot.connection.to_string()
        {
            return Err(bad("manifest belongs to another connection"));
        }
        Ok(SnapshotReader {
            store,
            seal,
            key,
            snapshot,
            manifest,
        })
    }

    /// The object store the snapshot is read from (what its object streams read with).
    pub fn store(&self) -> &'s dyn ObjectStore {
        self.store
    }

    /// One object's plaintext as a stream. Each segment is read in bounded ranges, checked
    /// against its sealed hash and opened under its own key; the joined plaintext against the
    /// object's hash (see [`ObjectStream`]). The stream owns what it needs, so it can outlive
    /// this reader.
    /// The primitives this backup's objects open through (its deltas open through them too).
    pub fn seal(&self) -> &'static dyn SealPrimitives {
        self.seal
    }

    pub fn object_stream(&self, resource: ResourceType) -> Result<ObjectStream, ReadError> {
        let s = &self.snapshot;
        let entry = self
            .manifest
            .object(resource)
            .ok_or(ReadError::NotCollected(resource))?;
        Ok(ObjectStream::new(
            format!("snapshot {}", s.backup),
            self.seal,
            self.key.clone(),
            entry,
        ))
    }

    /// The decrypted JSON of one object, whole (see [`SnapshotReader::object_stream`]).
    pub async fn object(&self, resource: ResourceType) -> Result<Vec<u8>, ReadError> {
        self.object_stream(resource)?
            .read_to_end(self.store)
            .await
            .map_err(|e| self.unreadable(&e.to_string()))
    }

    /// Every collected object, as the tenant model. Resource types the manifest does not list
    /// stay absent, so readers tell "not collected" from "none exist".
    pub async fn tenant_snapshot(&self) -> Result<TenantSnapshot, ReadError> {
        let mut snapshot = TenantSnapshot::default();
        for entry in &self.manifest.objects {
            let plain = self.object(entry.resource).await?;
            let items: Vec<Value> = serde_json::from_slice(&plain)
                .map_err(|_| self.unreadable("object is not a JSON array"))?;
            snapshot.resources.insert(entry.resource, items);
        }
        Ok(snapshot)
    }

    fn unreadable(&self, what: &str) -> ReadError {
        ReadError::Unreadable {
            backup: self.snapshot.backup,
            what: what.to_string(),
        }
    }
}
