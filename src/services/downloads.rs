//! Downloads: a member asks for a short-lived signed URL to one object; the URL alone (no
//! session) then streams the decrypted JSON, after the signature, expiry, tenant and both hashes
//! check out. Issuing a URL and each download are audited events.

use serde_json::json;

use super::audit::{Actor, Event, RequestMeta};
use super::tenant_keys::snapshot_key;
use super::{Caller, Deps, Privileged, ServiceError};
use crate::authz::matrix::Action;
use crate::ids::BackupId;
use crate::ports::ObjectStore;
use crate::signed_url::{self, DownloadGrant, MAX_TTL_SECS};
use crate::snapshot::{ObjectStream, SnapshotLayout, SnapshotReader, SnapshotRef};
use crate::store::{BackupRow, BackupStatus};
use crate::tenant::ResourceType;

pub struct IssuedUrl {
    pub url: String,
    pub expires_at: i64,
}

/// Where a complete backup's snapshot lies, for reading it back; only a complete backup has one.
pub fn snapshot_of(row: &BackupRow) -> Result<SnapshotRef, ServiceError> {
    if row.status != BackupStatus::Complete {
        return Err(ServiceError::Conflict {
            code: "backup_not_complete",
            message: "only complete backups can be read",
        });
    }
    let manifest_sha256 = row
        .manifest_sha256
        .clone()
        .ok_or_else(|| ServiceError::Internal("complete backup without manifest hash".into()))?;
    Ok(SnapshotRef {
        backup: row.id,
        team: row.team_id,
        connection: row.connection_id,
        layout: SnapshotLayout::from_prefix(&row.r2_prefix),
        manifest_sha256,
    })
}

/// Opens a complete backup for reading, under its snapshot key
/// ([`ServiceError::SnapshotKeyDestroyed`] once the team's key material for it is gone).
pub async fn read_snapshot<'s>(
    sys: &Privileged<'_>,
    store: &'s dyn ObjectStore,
    row: &BackupRow,
) -> Result<SnapshotReader<'s>, ServiceError> {
    let snapshot = snapshot_of(row)?;
    let key = snapshot_key(sys, row.team_id, row.id, row.connection_id).await?;
    Ok(SnapshotReader::open(store, sys.deps.seal, key, snapshot).await?)
}

/// `GET /backups/{id}/objects/{type}/url`.
pub async fn issue_url(
    caller: &Caller<'_>,
    backup: BackupId,
    object: &str,
) -> Result<IssuedUrl, ServiceError> {
    let deps = caller.deps();
    let row = caller
        .stores()
        .backup(backup)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let resource = ResourceType::parse(object).ok_or(ServiceError::NotFound)?;
    caller
        .authorize(row.team_id, Action::BackupDownload)
        .await?;
    if row.status != BackupStatus::Complete {
        return Err(ServiceError::Conflict {
            code: "backup_not_complete",
            message: "only complete backups can be downloaded",
        });
    }
    let expires_at = deps.clock.now().timestamp() + MAX_TTL_SECS;
    let grant = DownloadGrant {
        backup_id: backup.to_string(),
        object: resource.as_str().to_string(),
        tenant: row.team_id.to_string(),
        expires_at,
    };
    let query = signed_url::sign(&deps.config.download_signing_key, &grant);
    caller
        .system()
        .record(Event {
            team: row.team_id,
            action: "backup.download_url",
            target_type: "backup",
            target_id: backup.to_string(),
            details: json!({"object": resource.as_str(), "expires_at": expires_at}),
        })
        .await?;
    Ok(IssuedUrl {
        url: format!("{}/api/v1/downloads?{query}", deps.config.public_base_url),
        expires_at,
    })
}

/// Serves a signed URL: returns the decrypted JSON array as a stream, once the manifest has been
/// verified and the first piece read (so a missing or unreadable object is still an error
/// status), and the download recorded. The stream ends with an error if anything later fails
/// verification.
pub async fn serve(
    deps: &Deps<'_>,
    meta: &RequestMeta,
    query: &str,
) -> Result<ObjectStream, ServiceError> {
    let grant = signed_url::verify(
        &deps.config.download_signing_key,
        query,
        deps.clock.now().timestamp(),
    )
    .map_err(|_| ServiceError::LinkDenied)?;
    let backup = BackupId::parse(&grant.backup_id).map_err(|_| ServiceError::LinkDenied)?;
    let resource = ResourceType::parse(&grant.object).ok_or(ServiceError::LinkDenied)?;
    // The signature is the credential: nobody is signed in.
    let sys = Privileged::new(deps, Actor::Anonymous, meta.clone());
    let row = sys
        .stores()
        .backup(backup)
        .await?
        .ok_or(ServiceError::LinkDenied)?;
    // A link is bound to one tenant: a validly signed link for another team's backup is refused.
    if row.team_id.to_string() != grant.tenant || row.status != BackupStatus::Complete {
        return Err(ServiceError::LinkDenied);
    }
    let opened = async {
        let mut stream = read_snapshot(&sys, deps.store, &row)
            .await?
            .object_stream(resource)?;
        stream
            .prime(deps.store)
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        Ok::<_, ServiceError>(stream)
    }
    .await;
    let stream = match opened {
        Ok(stream) => stream,
        // The manifest or the object's first segment could not be read or failed verification
        // (altered, truncated or swapped in storage): nothing is served, and the refusal is
        // evidence in the team's trail (the detail stays in the worker log). So is a backup
        // whose key material was destroyed.
        Err(e @ (ServiceError::Internal(_) | ServiceError::SnapshotKeyDestroyed)) => {
            let reason = match e {
                ServiceError::SnapshotKeyDestroyed => "snapshot_key_destroyed",
                _ => "snapshot_unreadable",
            };
            sys.record(Event {
                team: row.team_id,
                action: "backup.download_refused",
                target_type: "backup",
                target_id: backup.to_string(),
                details: json!({"object": resource.as_str(), "reason": reason}),
            })
            .await?;
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    sys.record(Event {
        team: row.team_id,
        action: "backup.download",
        target_type: "backup",
        target_id: backup.to_string(),
        details: json!({"object": resource.as_str(), "link_expires_at": grant.expires_at}),
    })
    .await?;
    Ok(stream)
}
