//! Typed queries over [`Postgrest`]. Which JWT the client carries decides the reach: a `Repo` built
//! on a user's token sees only that user's teams.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use super::postgrest::{DbError, Postgrest, Query};
use super::records::*;
use crate::ids::{BackupId, ConnectionId, TeamId, UserId};

pub struct Repo<'a> {
    pub(super) db: Postgrest<'a>,
}

impl<'a> Repo<'a> {
    pub fn new(db: Postgrest<'a>) -> Self {
        Repo { db }
    }

    // --- teams ---

    pub async fn memberships(&self, user: UserId) -> Result<Vec<MembershipRow>, DbError> {
        self.db
            .select(
                "team_members",
                Query::new().select("team_id,role").eq("user_id", user),
            )
            .await
    }

    /// The user's personal team (created at sign-up).
    pub async fn personal_team(&self, user: UserId) -> Result<Option<TeamId>, DbError> {
        #[derive(serde::Deserialize)]
        struct Row {
            id: TeamId,
        }
        let rows: Vec<Row> = self
            .db
            .select(
                "teams",
                Query::new()
                    .select("id")
                    .eq("created_by", user)
                    .eq("personal", true)
                    .limit(1),
            )
            .await?;
        Ok(rows.into_iter().next().map(|r| r.id))
    }

    // --- tenant keys (service role) ---

    pub async fn tenant_key(
        &self,
        team: TeamId,
        version: Option<u32>,
    ) -> Result<Option<TenantKeyRow>, DbError> {
        let mut q = Query::new()
            .select("team_id,version,master_key_id,wrapped_key")
            .eq("team_id", team);
        q = match version {
            Some(v) => q.eq("version", v),
            None => q.order("version.desc"),
        };
        Ok(self
            .db
            .select("tenant_keys", q.limit(1))
            .await?
            .into_iter()
            .next())
    }

    pub async fn insert_tenant_key(&self, row: &TenantKeyRow) -> Result<(), DbError> {
        self.db.insert_only("tenant_keys", row).await
    }

    // --- connections ---

    pub async fn insert_connection(
        &self,
        row: &NewConnection<'_>,
    ) -> Result<ConnectionRow, DbError> {
        self.db
            .insert("okta_connections", row, CONNECTION_COLUMNS)
            .await
    }

    pub async fn connections(&self) -> Result<Vec<ConnectionRow>, DbError> {
        self.db
            .select(
                "okta_connections",
                Query::new()
                    .select(CONNECTION_COLUMNS)
                    .neq("status", "deleted")
                    .order("created_at.desc"),
            )
            .await
    }

    pub async fn connection(&self, id: ConnectionId) -> Result<Option<ConnectionRow>, DbError> {
        Ok(self
            .db
            .select(
                "okta_connections",
                Query::new()
                    .select(CONNECTION_COLUMNS)
                    .eq("id", id)
                    .neq("status", "deleted"),
            )
            .await?
            .into_iter()
            .next())
    }

    /// Marks a connection deleted and drops its sealed credential; returns whether a row changed.
    pub async fn delete_connection(
        &self,
        id: ConnectionId,
        now: DateTime<Utc>,
    ) -> Result<bool, DbError> {
        let changed = self
            .db
            .update(
                "okta_connections",
                Query::new().eq("id", id).neq("status", "deleted"),
                &json!({"status": "deleted", "sealed_token": null, "deleted_at": now, "updated_at": now}),
            )
            .await?;
        Ok(changed > 0)
    }

    /// Service role: the sealed credential of a live connection.
    pub async fn connection_secret(
        &self,
        id: ConnectionId,
    ) -> Result<Option<ConnectionSecretRow>, DbError> {
        Ok(self
            .db
            .select(
                "okta_connections",
                Query::new()
                    .select(CONNECTION_SECRET_COLUMNS)
                    .eq("id", id)
                    .eq("status", "active"),
            )
            .await?
            .into_iter()
            .next())
    }

    /// Service role: every live connection (the scheduler's work list).
    pub async fn active_connections(&self) -> Result<Vec<ConnectionSecretRow>, DbError> {
        self.db
            .select(
                "okta_connections",
                Query::new()
                    .select(CONNECTION_SECRET_COLUMNS)
                    .eq("status", "active")
                    .order("created_at.asc"),
            )
            .await
    }

    // --- backups ---

    pub async fn insert_backup(&self, row: &BackupRow) -> Result<BackupRow, DbError> {
        let mut body = serde_json::to_value(row).map_err(|e| DbError::Unexpected(e.to_string()))?;
        // Outcome columns are the worker's to fill in later.
        if let Value::Object(map) = &mut body {
            for column in [
                "finished_at",
                "object_count",
                "sealed_bytes",
                "manifest_sha256",
                "error",
                "heartbeat_at",
                "slices",
            ] {
                map.remove(column);
            }
        }
        self.db.insert("backups", &body, BACKUP_COLUMNS).await
    }

    pub async fn backup(&self, id: BackupId) -> Result<Option<BackupRow>, DbError> {
        Ok(self
            .db
            .select("backups", Query::new().select(BACKUP_COLUMNS).eq("id", id))
            .await?
            .into_iter()
            .next())
    }

    pub async fn backups_of(&self, connection: ConnectionId) -> Result<Vec<BackupRow>, DbError> {
        self.db
            .select(
                "backups",
                Query::new()
                    .select(BACKUP_COLUMNS)
                    .eq("connection_id", connection)
                    .order("started_at.desc")
                    .limit(100),
            )
            .await
    }

    /// Service role: record success. Only a running backup can change (the database enforces it).
    pub async fn complete_backup(
        &self,
        id: BackupId,
        finished_at: DateTime<Utc>,
        counts: &Value,
        object_count: u32,
        sealed_bytes: u64,
        manifest_sha256: &str,
    ) -> Result<(), DbError> {
        self.finish_backup(
            id,
            json!({
                "status": "complete",
                "finished_at": finished_at,
                "counts": counts,
                "object_count": object_count,
                "sealed_bytes": sealed_bytes,
                "manifest_sha256": manifest_sha256,
            }),
        )
        .await
    }

    /// Service role: record failure with a reason fit to show users.
    pub async fn fail_backup(
        &self,
        id: BackupId,
        finished_at: DateTime<Utc>,
        reason: &str,
    ) -> Result<(), DbError> {
        self.finish_backup(
            id,
            json!({"status": "failed", "finished_at": finished_at, "error": reason}),
        )
        .await
    }

    async fn finish_backup(&self, id: BackupId, patch: Value) -> Result<(), DbError> {
        let changed = self
            .db
            .update(
                "backups",
                Query::new().eq("id", id).eq("status", "running"),
                &patch,
            )
            .await?;
        if changed == 1 {
            Ok(())
        } else {
            Err(DbError::Conflict)
        }
    }

    /// Service role: fail runs of `connection` with no sign of life since `stale_before` (no
    /// checkpoint, or never started one), so they neither block new runs nor look complete.
    pub async fn fail_stale_backups(
        &self,
        connection: ConnectionId,
        stale_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<usize, DbError> {
        let before = stale_before.to_rfc3339_opts(SecondsFormat::Millis, true);
        self.db
            .update_or_filtered(
                "backups",
                Query::new()
                    .eq("connection_id", connection)
                    .eq("status", "running")
                    .or(&[
                        format!("heartbeat_at.lt.{before}"),
                        format!("and(heartbeat_at.is.null,started_at.lt.{before})"),
                    ]),
                &json!({"status": "failed", "finished_at": now, "error": "interrupted: the backup job stopped before finishing"}),
                "id,heartbeat_at,started_at",
            )
            .await
    }

    /// Service role: take the lease of a running backup; `None` when another invocation holds
    /// it or the backup is no longer running.
    pub async fn claim_backup(
        &self,
        id: BackupId,
        token: &str,
        lease_seconds: u32,
    ) -> Result<Option<BackupClaim>, DbError> {
        let mut rows: Vec<BackupClaim> = self
            .db
            .rpc(
                "backup_claim",
                &json!({"p_backup": id, "p_token": token, "p_lease_seconds": lease_seconds}),
            )
            .await?;
        Ok(rows.pop())
    }

    /// Service role: replace the checkpoint built on `seq`; the new sequence number, or `None`
    /// when the lease was lost.
    pub async fn commit_checkpoint(
        &self,
        id: BackupId,
        token: &str,
        seq: i64,
        state: &Value,
        lease_seconds: u32,
        release: bool,
    ) -> Result<Option<i64>, DbError> {
        self.db
            .rpc(
                "backup_commit",
                &json!({
                    "p_backup": id, "p_token": token, "p_seq": seq, "p_state": state,
                    "p_lease_seconds": lease_seconds, "p_release": release,
                }),
            )
            .await
    }

    // --- audit ---

    pub async fn record_activity(&self, row: &ActivityRow) -> Result<(), DbError> {
        self.db.insert_only("activity_logs", row).await
    }
}
