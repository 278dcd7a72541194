//! Key custody: each team's data key (created on first use, wrapped by the master key ring) and
//! the Okta credentials sealed under it. Only the service role ever reads `tenant_keys`.

use zeroize::Zeroizing;

use super::{Privileged, ServiceError};
use crate::crypto::envelope::{
    open_secret, sealed_secret_key_version, DataKey, SecretContext, WrappedDataKey,
};
use crate::ids::TeamId;
use crate::okta::OrgDomain;
use crate::store::{ConnectionSecretRow, DbError, TenantKeyRow};

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

fn unwrap_row(sys: &Privileged<'_>, row: &TenantKeyRow) -> Result<DataKey, ServiceError> {
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
    let team = connection.team_id;
    let sealed = connection
        .sealed_token
        .as_deref()
        .ok_or_else(|| ServiceError::invalid("connection", "the connection has no credential"))?;
    let version = sealed_secret_key_version(sealed)
        .map_err(|e| ServiceError::Internal(format!("sealed credential unreadable: {e}")))?;
    let row = sys
        .stores()
        .tenant_key(team, Some(version))
        .await?
        .ok_or_else(|| {
            ServiceError::Internal(format!("data key v{version} missing for team {team}"))
        })?;
    let key = unwrap_row(sys, &row)?;
    let (team_s, conn_s) = (team.to_string(), connection.id.to_string());
    let ctx = SecretContext {
        tenant: &team_s,
        connection: &conn_s,
        org_domain: org.as_str(),
    };
    open_secret(&key, &ctx, sealed)
        .map_err(|e| ServiceError::Internal(format!("credential open failed: {e}")))
}
