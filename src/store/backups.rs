//! Backup runs. Status moves `running` -> `complete` | `failed` exactly once (the database
//! enforces it); a complete row always carries its manifest's hash.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{AuditRecord, DbError};
use crate::ids::{BackupId, ConnectionId, TeamId, UserId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupStatus {
    Running,
    Complete,
    Failed,
}

/// Who started a run (backups and compliance runs alike).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Manual,
    Schedule,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BackupRow {
    pub id: BackupId,
    pub team_id: TeamId,
    pub connection_id: ConnectionId,
    pub requested_by: Option<UserId>,
    pub trigger: Trigger,
    pub status: BackupStatus,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub r2_prefix: String,
    pub counts: Value,
    pub object_count: Option<u32>,
    pub sealed_bytes: Option<u64>,
    pub manifest_sha256: Option<String>,
    pub error: Option<String>,
    /// Last checkpoint of a running backup.
    #[serde(default)]
    pub heartbeat_at: Option<DateTime<Utc>>,
    /// Invocations that have worked on it.
    #[serde(default)]
    pub slices: u32,
}

/// A run the worker opens; the database sets its start time.
#[derive(Clone, Debug, Serialize)]
pub struct NewBackup {
    pub id: BackupId,
    pub team_id: TeamId,
    pub connection_id: ConnectionId,
    pub requested_by: Option<UserId>,
    pub trigger: Trigger,
    pub r2_prefix: String,
    /// The backup's fresh snapshot key, sealed under the team's data key `key_version`.
    pub sealed_key: String,
    pub key_version: u32,
    /// Id of the `SNAPSHOT_MASTER_SECRET` key its objects are sealed with.
    pub snapshot_secret_id: String,
}

/// A backup's snapshot key as stored: read by the service role only (users never see
/// `sealed_key`). All three are `None` for backups from before per-backup keys, which are read
/// with the legacy derivation from the `legacy` snapshot secret alone.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BackupKeyRow {
    pub id: BackupId,
    pub team_id: TeamId,
    pub sealed_key: Option<String>,
    pub key_version: Option<u32>,
    pub snapshot_secret_id: Option<String>,
}

/// What a finished snapshot records on its row.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct BackupResult {
    pub finished_at: DateTime<Utc>,
    pub counts: Value,
    pub object_count: u32,
    pub sealed_bytes: u64,
    pub manifest_sha256: String,
}

#[async_trait(?Send)]
pub trait BackupStore {
    async fn backup(&self, id: BackupId) -> Result<Option<BackupRow>, DbError>;
    /// Service role: a backup's sealed snapshot key.
    async fn backup_key(&self, id: BackupId) -> Result<Option<BackupKeyRow>, DbError>;
    /// The newest runs of a connection (at most 100).
    async fn backups_of(&self, connection: ConnectionId) -> Result<Vec<BackupRow>, DbError>;
    /// The newest complete run of a connection.
    async fn latest_complete_backup(
        &self,
        connection: ConnectionId,
    ) -> Result<Option<BackupRow>, DbError>;
    /// Service role: opens a `running` run of an active connection, started now by the
    /// database's clock; `Constraint` when its key is sealed under a retired data key. Runs of the connection with no sign of life for `stale_after_seconds`
    /// are failed first (each with its own audit row); `Conflict` when one is still running.
    async fn open_backup(
        &self,
        row: &NewBackup,
        stale_after_seconds: u32,
        audit: &AuditRecord,
    ) -> Result<BackupRow, DbError>;
    /// Service role: records success; `Conflict` unless the run was still running.
    async fn complete_backup(
        &self,
        id: BackupId,
        result: &BackupResult,
        audit: &AuditRecord,
    ) -> Result<(), DbError>;
    /// Service role: records failure with a reason fit to show users; `Conflict` unless the
    /// run was still running.
    async fn fail_backup(
        &self,
        id: BackupId,
        reason: &str,
        audit: &AuditRecord,
    ) -> Result<(), DbError>;
}
