//! Restore plans (`restore_plans`, migration 0024): the row members list and view; the plan
//! itself is sealed in R2 at `r2_key`. Written only through `restore_plan_create`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{AuditRecord, DbError};
use crate::ids::{BackupId, ConnectionId, RestorePlanId, TeamId, UserId};

/// Whether a plan may be applied as it stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanStatus {
    Ready,
    /// A check failed (lockout not overridden, or the credential cannot make every write).
    Blocked,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RestorePlanRow {
    pub id: RestorePlanId,
    pub team_id: TeamId,
    pub target_connection_id: ConnectionId,
    pub source_backup_id: BackupId,
    pub requested_by: Option<UserId>,
    pub status: PlanStatus,
    /// The operations' digest (re-validation compares it with a fresh plan's).
    pub digest: String,
    pub r2_key: String,
    /// SHA-256 of the sealed plan's plaintext.
    pub sha256: String,
    /// Scope, options, counts and checks: what the API shows without opening the plan.
    pub overview: Value,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A plan the worker stores; the database sets its creation and expiry times.
#[derive(Clone, Debug, Serialize)]
pub struct NewRestorePlan {
    pub id: RestorePlanId,
    pub team_id: TeamId,
    pub target_connection_id: ConnectionId,
    pub source_backup_id: BackupId,
    pub requested_by: Option<UserId>,
    pub status: PlanStatus,
    pub digest: String,
    pub r2_key: String,
    pub sha256: String,
    pub overview: Value,
}

#[async_trait(?Send)]
pub trait RestoreStore {
    /// A plan, if the caller's teams hold it.
    async fn restore_plan(&self, id: RestorePlanId) -> Result<Option<RestorePlanRow>, DbError>;

    /// Service role: stores a plan valid for `ttl_seconds` and records `audit` with it. Refused
    /// (`Constraint`) unless the backup is a complete one and the connection an active one of
    /// the plan's team.
    async fn create_restore_plan(
        &self,
        row: &NewRestorePlan,
        ttl_seconds: u32,
        audit: &AuditRecord,
    ) -> Result<RestorePlanRow, DbError>;
}
