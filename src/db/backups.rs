//! `backups`: users read their teams' runs; the worker's functions open and finish them.

use async_trait::async_trait;
use serde_json::{json, Value};

use super::{row, PgStores};
use crate::ids::{BackupId, ConnectionId};
use crate::store::{
    AuditRecord, BackupKeyRow, BackupResult, BackupRow, BackupStore, DbError, NewBackup,
};

pub(super) const COLUMNS: &str = "id,team_id,connection_id,requested_by,trigger,status,started_at,finished_at,r2_prefix,counts,object_count,sealed_bytes,manifest_sha256,error,heartbeat_at,slices";
/// The columns of [`BackupKeyRow`] (service role only).
pub(super) const KEY_COLUMNS: &str = "id,team_id,sealed_key,key_version,snapshot_secret_id";

#[async_trait(?Send)]
impl BackupStore for PgStores<'_> {
    async fn backup(&self, id: BackupId) -> Result<Option<BackupRow>, DbError> {
        self.one(
            self.db
                .from("backups")
                .select(COLUMNS)
                .eq("id", id.to_string()),
        )
        .await
    }

    async fn backup_key(&self, id: BackupId) -> Result<Option<BackupKeyRow>, DbError> {
        self.one(
            self.db
                .from("backups")
                .select(KEY_COLUMNS)
                .eq("id", id.to_string()),
        )
        .await
    }

    async fn backups_of(&self, connection: ConnectionId) -> Result<Vec<BackupRow>, DbError> {
        let query = self
            .db
            .from("backups")
            .select(COLUMNS)
            .eq("connection_id", connection.to_string())
            .order("started_at.desc")
            .limit(100);
        self.db.fetch(query).await
    }

    async fn latest_complete_backup(
        &self,
        connection: ConnectionId,
    ) -> Result<Option<BackupRow>, DbError> {
        let query = self
            .db
            .from("backups")
            .select(COLUMNS)
            .eq("connection_id", connection.to_string())
            .eq("status", "complete")
            .order("finished_at.desc")
            .limit(1);
        self.one(query).await
    }

    async fn open_backup(
        &self,
        new: &NewBackup,
        stale_after_seconds: u32,
        audit: &AuditRecord,
    ) -> Result<BackupRow, DbError> {
        let opened: Value = self
            .call(
                "backup_open",
                &json!({"p_row": new, "p_stale_after_seconds": stale_after_seconds, "p_audit": audit}),
            )
            .await?;
        row(opened)
    }

    async fn complete_backup(
        &self,
        id: BackupId,
        result: &BackupResult,
        audit: &AuditRecord,
    ) -> Result<(), DbError> {
        self.guarded(
            "backup_complete",
            &json!({"p_id": id, "p_result": result, "p_audit": audit}),
        )
        .await
    }

    async fn fail_backup(
        &self,
        id: BackupId,
        reason: &str,
        audit: &AuditRecord,
    ) -> Result<(), DbError> {
        self.guarded(
            "backup_fail",
            &json!({"p_id": id, "p_reason": reason, "p_audit": audit}),
        )
        .await
    }
}
