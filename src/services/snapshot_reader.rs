//! Reads a complete backup back out of R2: the manifest is checked against the hash recorded on
//! the backup row, each object against the manifest (sealed and plaintext hashes), then opened
//! with the connection's snapshot key. Downloads and compliance runs both read through here.

use serde_json::Value;

use super::{Deps, ServiceError};
use crate::compliance::TenantSnapshot;
use crate::crypto::stream::SnapshotKey;
use crate::db::records::BackupRow;
use crate::snapshot::manifest::{sha256_hex, FORMAT_VERSION};
use crate::snapshot::{Manifest, ObjectStream, ResourceType, SnapshotLayout};

/// A backup whose manifest has been verified; objects are fetched and checked on demand.
pub struct SnapshotReader<'d> {
    deps: &'d Deps<'d>,
    row: BackupRow,
    manifest: Manifest,
}

impl<'d> SnapshotReader<'d> {
    /// Opens a complete backup. Any mismatch is an internal error (tampering or corruption) and
    /// its detail stays in the worker log.
    pub async fn open(deps: &'d Deps<'d>, row: BackupRow) -> Result<Self, ServiceError> {
        if row.status != "complete" {
            return Err(ServiceError::Conflict {
                code: "backup_not_complete",
                message: "only complete backups can be read",
            });
        }
        let expected = row.manifest_sha256.clone().ok_or_else(|| {
            ServiceError::Internal("complete backup without manifest hash".into())
        })?;
        let layout = SnapshotLayout::from_prefix(&row.r2_prefix);
        let bytes = deps
            .store
            .get(&layout.manifest_key())
            .await
            .map_err(|e| tamper(&row, &e.to_string()))?
            .ok_or_else(|| tamper(&row, "manifest missing"))?;
        if sha256_hex(&bytes) != expected {
            return Err(tamper(&row, "manifest hash mismatch"));
        }
        let manifest: Manifest =
            serde_json::from_slice(&bytes).map_err(|_| tamper(&row, "manifest unreadable"))?;
        if manifest.format_version != FORMAT_VERSION {
            return Err(tamper(&row, "unsupported snapshot format version"));
        }
        if manifest.team_id != row.team_id.to_string()
            || manifest.connection_id != row.connection_id.to_string()
        {
            return Err(tamper(&row, "manifest belongs to another connection"));
        }
        Ok(SnapshotReader {
            deps,
            row,
            manifest,
        })
    }

    /// One object's plaintext as a stream; `NotFound` when the backup did not collect it. Each
    /// segment is read in bounded ranges, checked against its sealed hash and opened under its
    /// own key; the joined plaintext against the object's hash (see [`ObjectStream`]). The
    /// stream owns what it needs, so it can outlive this reader.
    pub fn object_stream(&self, resource: ResourceType) -> Result<ObjectStream, ServiceError> {
        let row = &self.row;
        let entry = self
            .manifest
            .object(resource)
            .ok_or(ServiceError::NotFound)?;
        let key = SnapshotKey::derive(
            &self.deps.config.snapshot_secret,
            &row.team_id.to_string(),
            &row.connection_id.to_string(),
        );
        Ok(ObjectStream::new(
            format!("snapshot {}", row.id),
            key,
            entry,
        ))
    }

    /// The decrypted JSON of one object, whole (see [`SnapshotReader::object_stream`]).
    pub async fn object(&self, resource: ResourceType) -> Result<Vec<u8>, ServiceError> {
        self.object_stream(resource)?
            .read_to_end(self.deps.store)
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))
    }

    /// Every collected object, as the compliance engine's input. Resource types the manifest
    /// does not list stay absent, so checks that need them report `error`, never `pass`.
    pub async fn tenant_snapshot(&self) -> Result<TenantSnapshot, ServiceError> {
        let mut snapshot = TenantSnapshot::default();
        for entry in &self.manifest.objects {
            let plain = self.object(entry.resource).await?;
            let items: Vec<Value> = serde_json::from_slice(&plain)
                .map_err(|_| tamper(&self.row, "object is not a JSON array"))?;
            snapshot
                .resources
                .insert(entry.resource.as_str().to_string(), items);
        }
        Ok(snapshot)
    }
}

fn tamper(row: &BackupRow, what: &str) -> ServiceError {
    ServiceError::Internal(format!("snapshot {}: {what}", row.id))
}
