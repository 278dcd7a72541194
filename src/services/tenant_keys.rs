//! Key custody: each team's data key (created on first use, wrapped by the master key ring) and
//! the Okta credentials sealed under it, and the team's data-key rotation. Only the service role
//! ever reads `tenant_keys`.

use uuid::Uuid;
use zeroize::Zeroizing;

use super::{Privileged, ServiceError};
use crate::crypto::envelope::{
    open_secret, open_snapshot_key, seal_snapshot_key, sealed_secret_key_version, DataKey,
    SecretContext, SnapshotKeyContext, WrappedDataKey,
};
use crate::crypto::keyring::LEGACY_KEY_ID;
use crate::crypto::keys::Key256;
use crate::crypto::stream::SnapshotKey;
use crate::ids::{BackupId, ConnectionId, TeamId};
use crate::okta::OrgDomain;
use crate::store::{BackupKeyRow, ConnectionSecretRow, DbError, TenantKeyRow};

/// The team's current data key, creating version 1 on first use.
pub async fn current_data_key(sys: &Privileged<'_>, team: TeamId) -> Result<DataKey, ServiceError> {
    let deps = sys.deps;
    if let Some(row) = sys.stores().tenant_key(team, None).await? {
        return unwrap_row(sys, &row);
    }
    let (key, wrapped) = deps
        .config
        .master_keys
        .new_data_key(deps.rng, &team.to_string(), 1);
    let row = TenantKeyRow {
        team_id: team,
        version: 1,
        master_key_id: wrapped.master_key_id,
        wrapped_key: wrapped.wrapped,
    };
    match sys.stores().insert_tenant_key(&row).await {
        Ok(()) => Ok(key),
        // Another request created it first: use theirs.
        Err(DbError::Conflict) => {
            let row = sys
                .stores()
                .tenant_key(team, Some(1))
                .await?
                .ok_or(ServiceError::NotFound)?;
            unwrap_row(sys, &row)
        }
        Err(e) => Err(e.into()),
    }
}

/// A fresh random (v4) job id.
pub(crate) fn new_job_id(rng: &dyn crate::ports::Rng) -> Uuid {
    let mut bytes = [0u8; 16];
    rng.fill(&mut bytes);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// A live data key, unwrapped (the key of `version`, or the newest).
pub async fn data_key(
    sys: &Privileged<'_>,
    team: TeamId,
    version: Option<u32>,
) -> Result<DataKey, ServiceError> {
    let row = sys
        .stores()
        .tenant_key(team, version)
        .await?
        .ok_or_else(|| {
            ServiceError::Internal(format!("data key {version:?} missing for team {team}"))
        })?;
    unwrap_row(sys, &row)
}

pub(crate) fn unwrap_row(
    sys: &Privileged<'_>,
    row: &TenantKeyRow,
) -> Result<DataKey, ServiceError> {
    let wrapped = WrappedDataKey {
        master_key_id: row.master_key_id.clone(),
        wrapped: row.wrapped_key.clone(),
    };
    sys.deps
        .config
        .master_keys
        .unwrap(&wrapped, &row.team_id.to_string(), row.version)
        .map_err(|e| {
            ServiceError::Internal(format!(
                "data key unwrap failed for team {}: {e}",
                row.team_id
            ))
        })
}

/// Decrypts a connection's credential for a job.
pub async fn open_credential(
    sys: &Privileged<'_>,
    connection: &ConnectionSecretRow,
    org: &OrgDomain,
) -> Result<Zeroizing<Vec<u8>>, ServiceError> {
    open_sealed(sys, connection, org.as_str())
        .await
        .map(|(_, plain)| plain)
}

/// Opens a connection's credential under the version it names, bound to its stored org domain;
/// returns that version and the plaintext.
pub(crate) async fn open_sealed(
    sys: &Privileged<'_>,
    connection: &ConnectionSecretRow,
    org_domain: &str,
) -> Result<(u32, Zeroizing<Vec<u8>>), ServiceError> {
    let sealed = connection
        .sealed_token
        .as_deref()
        .ok_or_else(|| ServiceError::invalid("connection", "the connection has no credential"))?;
    let version = sealed_secret_key_version(sealed)
        .map_err(|e| ServiceError::Internal(format!("sealed credential unreadable: {e}")))?;
    let key = data_key(sys, connection.team_id, Some(version)).await?;
    let ctx_strings = context_strings(connection.team_id, connection.id);
    let plain = open_secret(&key, &ctx_strings.context(org_domain), sealed)
        .map_err(|e| ServiceError::Internal(format!("credential open failed: {e}")))?;
    Ok((version, plain))
}

/// The owned strings a [`SecretContext`] borrows.
pub(crate) struct ContextStrings(String, String);

impl ContextStrings {
    pub(crate) fn context<'a>(&'a self, org_domain: &'a str) -> SecretContext<'a> {
        SecretContext {
            tenant: &self.0,
            connection: &self.1,
            org_domain,
        }
    }
}

pub(crate) fn context_strings(team: TeamId, connection: ConnectionId) -> ContextStrings {
    ContextStrings(team.to_string(), connection.to_string())
}

/// A new backup's key material: a fresh random snapshot key sealed under the team's current
/// data key, and the id of the active snapshot secret it is combined with.
pub struct NewBackupKey {
    pub sealed_key: String,
    pub key_version: u32,
    pub snapshot_secret_id: String,
}

/// Draws and seals the snapshot key of a new backup of `team`.
pub async fn new_backup_key(
    sys: &Privileged<'_>,
    team: TeamId,
    backup: BackupId,
) -> Result<NewBackupKey, ServiceError> {
    let data_key = current_data_key(sys, team).await?;
    let snapshot_key = Key256::generate(sys.deps.rng);
    let (team, backup) = (team.to_string(), backup.to_string());
    let ctx = SnapshotKeyContext {
        tenant: &team,
        backup: &backup,
    };
    Ok(NewBackupKey {
        sealed_key: seal_snapshot_key(&data_key, sys.deps.rng, &ctx, &snapshot_key),
        key_version: data_key.version,
        snapshot_secret_id: sys.deps.config.snapshot_secret.active().0.to_string(),
    })
}

/// Opens a backup's own snapshot key under the data-key version it names;
/// [`ServiceError::SnapshotKeyDestroyed`] once that version is retired (its key destroyed).
pub(crate) async fn open_backup_key(
    sys: &Privileged<'_>,
    row: &BackupKeyRow,
    sealed: &str,
) -> Result<(u32, Key256), ServiceError> {
    let version = sealed_secret_key_version(sealed)
        .map_err(|e| ServiceError::Internal(format!("sealed snapshot key unreadable: {e}")))?;
    let key_row = sys
        .stores()
        .tenant_key(row.team_id, Some(version))
        .await?
        .ok_or(ServiceError::SnapshotKeyDestroyed)?;
    let data_key = unwrap_row(sys, &key_row)?;
    let (team, backup) = (row.team_id.to_string(), row.id.to_string());
    let ctx = SnapshotKeyContext {
        tenant: &team,
        backup: &backup,
    };
    let key = open_snapshot_key(&data_key, &ctx, sealed)
        .map_err(|e| ServiceError::Internal(format!("snapshot key open failed: {e}")))?;
    Ok((version, key))
}

/// The key of a backup's snapshot objects: from the backup's own key (sealed under the team's
/// data key) and the snapshot secret its row names; for a backup from before per-backup keys,
/// the legacy derivation from the `legacy` snapshot secret alone.
pub async fn snapshot_key(
    sys: &Privileged<'_>,
    team: TeamId,
    backup: BackupId,
    connection: ConnectionId,
) -> Result<SnapshotKey, ServiceError> {
    let row = sys
        .stores()
        .backup_key(backup)
        .await?
        .filter(|r| r.team_id == team)
        .ok_or_else(|| ServiceError::Internal(format!("backup {backup} has no key row")))?;
    let secrets = &sys.deps.config.snapshot_secret;
    let secret_id = row.snapshot_secret_id.as_deref().unwrap_or(LEGACY_KEY_ID);
    let secret = secrets.get(secret_id).ok_or_else(|| {
        ServiceError::Internal(format!("snapshot secret {secret_id:?} is not configured"))
    })?;
    let (team, connection) = (team.to_string(), connection.to_string());
    Ok(match row.sealed_key.as_deref() {
        None => SnapshotKey::derive(secret, &team, &connection),
        Some(sealed) => {
            let (_, backup_key) = open_backup_key(sys, &row, sealed).await?;
            SnapshotKey::derive_for_backup(secret, &backup_key, &team, &connection)
        }
    })
}
