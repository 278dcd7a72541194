//! Recovery drills (`drill_settings`, `drills`, migration 0030): a connection's drill settings
//! and the history of its drill reports, read under RLS (`backup.read`), written only through
//! the database functions named on each method.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::connections::Environment;
use super::{AuditRecord, DbError};
use crate::ids::{BackupId, ConnectionId, DrillId, RestorePlanId, TeamId, UserId};

/// A connection's drill settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DrillSettingsRow {
    pub connection_id: ConnectionId,
    pub team_id: TeamId,
    /// The sandbox connection drills restore into.
    pub sandbox_connection_id: ConnectionId,
    /// Whether the weekly drill cron runs this connection's drill.
    pub enabled: bool,
    /// The team's recovery time objective: a drill slower than this alerts.
    pub rto_objective_seconds: u32,
    /// The member scheduled drills apply as.
    pub configured_by: UserId,
    pub updated_at: DateTime<Utc>,
}

/// How a drill ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DrillStatus {
    Running,
    Passed,
    Failed,
}

/// What started a drill.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DrillTrigger {
    Scheduled,
    Manual,
}

/// One drill and, once it ended, its report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DrillRow {
    pub id: DrillId,
    pub team_id: TeamId,
    pub connection_id: ConnectionId,
    pub sandbox_connection_id: ConnectionId,
    pub source_backup_id: Option<BackupId>,
    #[serde(default)]
    pub restore_plan_id: Option<RestorePlanId>,
    pub trigger: DrillTrigger,
    #[serde(default)]
    pub requested_by: Option<UserId>,
    pub status: DrillStatus,
    pub started_at: DateTime<Utc>,
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub rto_seconds: Option<u32>,
    #[serde(default)]
    pub rpo_seconds: Option<u32>,
    pub rto_objective_seconds: u32,
    #[serde(default)]
    pub report: Option<Value>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub alerted: bool,
}

/// A drill's end, as `drill_finish` records it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DrillEnd {
    pub status: DrillStatus,
    pub rto_seconds: u32,
    pub rpo_seconds: Option<u32>,
    pub report: Option<Value>,
    pub error: Option<String>,
    pub alerted: bool,
}

/// A drill to open.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NewDrill {
    pub id: DrillId,
    pub connection_id: ConnectionId,
    pub source_backup_id: BackupId,
    pub trigger: DrillTrigger,
    pub requested_by: Option<UserId>,
}

#[async_trait(?Send)]
pub trait DrillStore {
    /// Service role (`connection_set_environment`): marks a connection production or sandbox.
    /// `Conflict` when a drill targets it and it would become production.
    async fn set_connection_environment(
        &self,
        connection: ConnectionId,
        environment: Environment,
        audit: &AuditRecord,
    ) -> Result<(), DbError>;

    async fn drill_settings(
        &self,
        connection: ConnectionId,
    ) -> Result<Option<DrillSettingsRow>, DbError>;

    /// Service role: every connection's settings with drills enabled (the cron's fan-out).
    async fn enabled_drill_settings(&self) -> Result<Vec<DrillSettingsRow>, DbError>;

    /// Service role (`drill_settings_set`): `Constraint` when the sandbox is not an active
    /// sandbox connection of the same team.
    async fn set_drill_settings(
        &self,
        settings: &DrillSettingsRow,
        audit: &AuditRecord,
    ) -> Result<DrillSettingsRow, DbError>;

    /// Service role (`drill_open`): `Conflict` while a drill of the connection runs,
    /// `Constraint` when no sandbox is configured.
    async fn open_drill(&self, drill: &NewDrill, audit: &AuditRecord) -> Result<DrillRow, DbError>;

    async fn drill(&self, id: DrillId) -> Result<Option<DrillRow>, DbError>;

    /// A connection's drills, newest first.
    async fn drills_of(
        &self,
        connection: ConnectionId,
        limit: u32,
    ) -> Result<Vec<DrillRow>, DbError>;

    /// Service role (`drill_set_plan`).
    async fn set_drill_plan(&self, id: DrillId, plan: RestorePlanId) -> Result<bool, DbError>;

    /// Service role (`drill_finish`): false when it had already ended.
    async fn finish_drill(
        &self,
        id: DrillId,
        end: &DrillEnd,
        audit: &AuditRecord,
    ) -> Result<bool, DbError>;
}
