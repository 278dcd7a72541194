//! Downloads: a member asks for a short-lived signed URL to one object; the URL alone (no
//! session) then streams the decrypted JSON, after the signature, expiry, tenant and both hashes
//! check out.

use serde_json::json;

use super::audit::{self, Actor, Event, RequestMeta};
use super::backups::snapshot_of;
use super::{Deps, ServiceError};
use crate::db::Repo;
use crate::ids::{BackupId, UserId};
use crate::signed_url::{self, DownloadGrant, MAX_TTL_SECS};
use crate::snapshot::{ObjectStream, SnapshotReader};
use crate::tenant::ResourceType;

pub struct IssuedUrl {
    pub url: String,
    pub expires_at: i64,
}

pub async fn issue_url(
    deps: &Deps<'_>,
    user_repo: &Repo<'_>,
    system: &Repo<'_>,
    user: UserId,
    meta: &RequestMeta,
    backup: BackupId,
    object: &str,
) -> Result<IssuedUrl, ServiceError> {
    let row = user_repo
        .backup(backup)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let resource = ResourceType::parse(object).ok_or(ServiceError::NotFound)?;
    if row.status != "complete" {
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
    audit::record(
        system,
        &Actor::User(user),
        meta,
        Event {
            team: row.team_id,
            action: "backup.download_url",
            target_type: "backup",
            target_id: backup.to_string(),
            details: json!({"object": resource.as_str(), "expires_at": expires_at}),
        },
    )
    .await?;
    Ok(IssuedUrl {
        url: format!("{}/api/v1/downloads?{query}", deps.config.public_base_url),
        expires_at,
    })
}

/// Serves a signed URL: returns the decrypted JSON array as a stream, once the manifest has been
/// verified and the first piece read (so a missing or unreadable object is still an error
/// status). The stream ends with an error if anything later fails verification.
pub async fn serve(
    deps: &Deps<'_>,
    system: &Repo<'_>,
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
    let row = system
        .backup(backup)
        .await?
        .ok_or(ServiceError::LinkDenied)?;
    // A link is bound to one tenant: a validly signed link for another team's backup is refused.
    if row.team_id.to_string() != grant.tenant || row.status != "complete" {
        return Err(ServiceError::LinkDenied);
    }
    let snapshot = snapshot_of(&row)?;
    let mut stream = SnapshotReader::open(deps.store, &deps.config.snapshot_secret, snapshot)
        .await?
        .object_stream(resource)?;
    stream
        .prime(deps.store)
        .await
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    Ok(stream)
}
