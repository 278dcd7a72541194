//! Restore plans (`restore_plans`, migrations 0024 and 0026): the row members list and view;
//! the plan itself is sealed in R2 at `r2_key`, and an applied plan's receipt beside it. Written
//! only through the database functions named on each method.

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
    /// Whether and how applying it went (absent until someone applies it).
    #[serde(default)]
    pub apply_status: Option<ApplyStatus>,
    #[serde(default)]
    pub applied_by: Option<UserId>,
    #[serde(default)]
    pub apply_started_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub apply_finished_at: Option<DateTime<Utc>>,
    /// The apply job's counts, as its last checkpoint left them.
    #[serde(default)]
    pub progress: Option<Value>,
    #[serde(default)]
    pub apply_error: Option<String>,
    /// Where the sealed receipt is, once the apply ended, and the SHA-256 of its plaintext.
    #[serde(default)]
    pub receipt_r2_key: Option<String>,
    #[serde(default)]
    pub receipt_sha256: Option<String>,
}

/// Where applying a plan stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplyStatus {
    Running,
    /// Every operation went as planned.
    Complete,
    /// The job ran to the end, and some operations failed or could not be applied (each
    /// named in the receipt).
    CompleteWithFailures,
    /// The job stopped (Okta or the credential kept failing); its checkpoint is kept, and
    /// applying again resumes it.
    Failed,
}

/// One member's approval of a plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreApprovalRow {
    pub plan_id: RestorePlanId,
    pub approved_by: UserId,
    pub approved_at: DateTime<Utc>,
}

/// How an apply ended, as `restore_apply_finish` records it.
#[derive(Clone, Debug, Serialize)]
pub struct ApplyEnd {
    pub status: ApplyStatus,
    pub receipt_r2_key: Option<String>,
    pub receipt_sha256: Option<String>,
    pub error: Option<String>,
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

    /// Whether the team's full-tenant restores need a second member's approval (`None`: the
    /// team never said, and they do).
    async fn restore_second_approver(&self, team: TeamId) -> Result<Option<bool>, DbError>;

    /// Service role (`team_restore_settings_set`): sets it, with `audit`.
    async fn set_restore_second_approver(
        &self,
        team: TeamId,
        required: bool,
        by: UserId,
        audit: &AuditRecord,
    ) -> Result<bool, DbError>;

    /// The plan's approvals, oldest first.
    async fn restore_approvals(
        &self,
        plan: RestorePlanId,
    ) -> Result<Vec<RestoreApprovalRow>, DbError>;

    /// Service role (`restore_approve`): records `by`'s approval with `audit`; `Ok(false)` when
    /// they had approved already (nothing written). `Conflict` when the plan was applied or
    /// expired.
    async fn approve_restore(
        &self,
        plan: RestorePlanId,
        by: UserId,
        audit: &AuditRecord,
    ) -> Result<bool, DbError>;

    /// Service role (`restore_apply_open`): marks the plan running and opens its job's
    /// checkpoint (kind `restore`), or reopens a failed apply's. `Conflict`: already applied or
    /// running; `Constraint`: blocked or expired; `Forbidden`: fewer than `approvals` approvals
    /// by members other than `by`.
    async fn open_restore_apply(
        &self,
        plan: RestorePlanId,
        by: UserId,
        approvals: u32,
        audit: &AuditRecord,
    ) -> Result<RestorePlanRow, DbError>;

    /// Service role (`restore_apply_finish`): records the end and finishes the job's
    /// checkpoint; `Ok(false)` when it had ended already.
    async fn finish_restore_apply(
        &self,
        plan: RestorePlanId,
        end: &ApplyEnd,
        audit: &AuditRecord,
    ) -> Result<bool, DbError>;

    /// Service role (`restore_record_writes`): the Okta request ids of a restore's writes, so
    /// the drift capture labels their events as Butterfly's own.
    async fn record_restore_writes(
        &self,
        connection: ConnectionId,
        plan: RestorePlanId,
        transactions: &[String],
    ) -> Result<(), DbError>;
}
