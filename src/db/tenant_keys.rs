//! `tenant_keys` (service role only; no policy lets anyone else read or write). Live versions
//! have `retired_at` null; a retired version's wrapped key is destroyed. Rotation steps are the
//! audited functions of migration 0015.

use async_trait::async_trait;
use serde_json::{json as object, Value};
use uuid::Uuid;

use super::client::json;
use super::PgStores;
use crate::ids::{BackupId, ConnectionId, TeamId};
use crate::store::{
    AuditRecord, BackupKeyRow, ConnectionSecretRow, DbError, TenantKeyRow, TenantKeyStore,
};

const COLUMNS: &str = "team_id,version,master_key_id,wrapped_key";

#[async_trait(?Send)]
impl TenantKeyStore for PgStores<'_> {
    async fn tenant_key(
        &self,
        team: TeamId,
        version: Option<u32>,
    ) -> Result<Option<TenantKeyRow>, DbError> {
        let query = self
            .db
            .from("tenant_keys")
            .select(COLUMNS)
            .eq("team_id", team.to_string())
            .is("retired_at", "null");
        let query = match version {
            Some(v) => query.eq("version", v.to_string()),
            None => query.order("version.desc"),
        };
        self.one(query.limit(1)).await
    }

    async fn insert_tenant_key(&self, row: &TenantKeyRow) -> Result<(), DbError> {
        let query = self
            .db
            .from("tenant_keys")
            .select("version")
            .insert(json(row)?);
        self.db.fetch::<Value>(query).await.map(|_| ())
    }

    async fn live_key_versions(&self, team: TeamId) -> Result<Vec<u32>, DbError> {
        let query = self
            .db
            .from("tenant_keys")
            .select("version")
            .eq("team_id", team.to_string())
            .is("retired_at", "null")
            .order("version.asc");
        let rows: Vec<Value> = self.db.fetch(query).await?;
        rows.iter()
            .map(|r| {
                r["version"]
                    .as_u64()
                    .and_then(|v| u32::try_from(v).ok())
                    .ok_or_else(|| DbError::Unexpected("tenant key version".into()))
            })
            .collect()
    }

    async fn rotate_tenant_key(
        &self,
        row: &TenantKeyRow,
        job: Uuid,
        audit: &AuditRecord,
    ) -> Result<(), DbError> {
        self.call::<_, u32>(
            "tenant_key_rotate",
            &object!({"p_row": row, "p_job": job, "p_audit": audit}),
        )
        .await
        .map(|_| ())
    }

    async fn connections_sealed_below(
        &self,
        team: TeamId,
        version: u32,
    ) -> Result<Vec<ConnectionSecretRow>, DbError> {
        let query = self
            .db
            .from("okta_connections")
            .select("id,team_id,created_by,org_domain,auth_type,sealed_token,key_version,status,granted_scopes")
            .eq("team_id", team.to_string())
            .neq("status", "deleted")
            .lt("key_version", version.to_string())
            .order("created_at.asc");
        self.db.fetch(query).await
    }

    async fn reseal_connection(
        &self,
        id: ConnectionId,
        from: u32,
        sealed: &str,
        to: u32,
        audit: &AuditRecord,
    ) -> Result<bool, DbError> {
        self.call(
            "connection_reseal",
            &object!({"p_id": id, "p_from": from, "p_sealed": sealed, "p_to": to, "p_audit": audit}),
        )
        .await
    }

    async fn backups_sealed_below(
        &self,
        team: TeamId,
        version: u32,
    ) -> Result<Vec<BackupKeyRow>, DbError> {
        let query = self
            .db
            .from("backups")
            .select(super::backups::KEY_COLUMNS)
            .eq("team_id", team.to_string())
            .lt("key_version", version.to_string())
            .order("started_at.asc");
        self.db.fetch(query).await
    }

    async fn reseal_backup_key(
        &self,
        id: BackupId,
        from: u32,
        sealed: &str,
        to: u32,
        audit: &AuditRecord,
    ) -> Result<bool, DbError> {
        self.call(
            "backup_key_reseal",
            &object!({"p_id": id, "p_from": from, "p_sealed": sealed, "p_to": to, "p_audit": audit}),
        )
        .await
    }

    async fn retire_tenant_keys(
        &self,
        team: TeamId,
        below: u32,
        job: Uuid,
        audit: &AuditRecord,
    ) -> Result<Vec<u32>, DbError> {
        self.call(
            "tenant_key_retire",
            &object!({"p_team": team, "p_below": below, "p_job": job, "p_audit": audit}),
        )
        .await
    }

    async fn keys_to_rewrap(&self, active: &str, limit: u32) -> Result<Vec<TenantKeyRow>, DbError> {
        let query = self
            .db
            .from("tenant_keys")
            .select(COLUMNS)
            .neq("master_key_id", active)
            .is("retired_at", "null")
            .order("team_id.asc,version.asc")
            .limit(limit as usize);
        self.db.fetch(query).await
    }

    async fn rewrap_tenant_key(
        &self,
        row: &TenantKeyRow,
        from: &str,
        audit: &AuditRecord,
    ) -> Result<bool, DbError> {
        self.call(
            "tenant_key_rewrap",
            &object!({"p_team": row.team_id, "p_version": row.version, "p_from": from,
                "p_to": row.master_key_id, "p_wrapped": row.wrapped_key, "p_audit": audit}),
        )
        .await
    }
}
