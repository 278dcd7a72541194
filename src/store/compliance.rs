//! Compliance runs, their findings, and remediation state per (connection, check). Everything
//! here is written by the worker with the service role; members read it through RLS.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{AuditRecord, DbError, Trigger};
use crate::compliance::remediation::State;
use crate::compliance::{Outcome, Severity};
use crate::ids::{BackupId, ComplianceRunId, ConnectionId, TeamId, UserId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Complete,
    Failed,
    /// Nothing to evaluate (no complete backup); `error` says why.
    Skipped,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ComplianceRunRow {
    pub id: ComplianceRunId,
    pub team_id: TeamId,
    pub connection_id: ConnectionId,
    pub backup_id: Option<BackupId>,
    pub trigger: Trigger,
    pub requested_by: Option<UserId>,
    pub status: RunStatus,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub pass_count: u32,
    pub fail_count: u32,
    pub not_applicable_count: u32,
    pub error_count: u32,
    pub failed_by_severity: Value,
    pub error: Option<String>,
}

/// A run the worker opens (or records as skipped); the database sets its start time.
#[derive(Clone, Debug, Serialize)]
pub struct NewComplianceRun {
    pub id: ComplianceRunId,
    pub team_id: TeamId,
    pub connection_id: ConnectionId,
    pub backup_id: Option<BackupId>,
    pub trigger: Trigger,
    pub requested_by: Option<UserId>,
}

/// The tally a finished run records.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct RunResult {
    pub pass_count: u32,
    pub fail_count: u32,
    pub not_applicable_count: u32,
    pub error_count: u32,
    /// Failed checks by severity, e.g. `{"critical": 1, "high": 3}`.
    pub failed_by_severity: Value,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FindingRow {
    pub run_id: ComplianceRunId,
    pub team_id: TeamId,
    pub connection_id: ConnectionId,
    pub check_id: String,
    pub cis_safeguard: String,
    pub severity: Severity,
    pub outcome: Outcome,
    pub message: String,
    pub evidence: Value,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RemediationRow {
    pub connection_id: ConnectionId,
    pub check_id: String,
    pub team_id: TeamId,
    pub state: State,
    pub justification: Option<String>,
    pub approved_by: Option<UserId>,
    pub expires_at: Option<DateTime<Utc>>,
    /// A user, or `None` when a compliance run moved it.
    pub updated_by: Option<UserId>,
    pub updated_at: DateTime<Utc>,
    pub last_run_id: Option<ComplianceRunId>,
}

/// One point of a team's trend: the last complete run of a connection on a day.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TrendRow {
    pub connection_id: ConnectionId,
    pub day: String,
    pub run_id: ComplianceRunId,
    pub pass_count: u32,
    pub fail_count: u32,
    pub not_applicable_count: u32,
    pub error_count: u32,
    pub pass_rate: Option<f64>,
}

#[async_trait(?Send)]
pub trait ComplianceStore {
    /// The newest runs of a connection (at most 100).
    async fn compliance_runs_of(
        &self,
        connection: ConnectionId,
    ) -> Result<Vec<ComplianceRunRow>, DbError>;
    async fn compliance_run(
        &self,
        id: ComplianceRunId,
    ) -> Result<Option<ComplianceRunRow>, DbError>;
    async fn latest_complete_compliance_run(
        &self,
        connection: ConnectionId,
    ) -> Result<Option<ComplianceRunRow>, DbError>;
    async fn findings_of(&self, run: ComplianceRunId) -> Result<Vec<FindingRow>, DbError>;
    async fn remediations_of(
        &self,
        connection: ConnectionId,
    ) -> Result<Vec<RemediationRow>, DbError>;
    async fn remediation(
        &self,
        connection: ConnectionId,
        check_id: &str,
    ) -> Result<Option<RemediationRow>, DbError>;
    /// Pass rate per connection and day for a team (at most 1000 points).
    async fn compliance_trend(&self, team: TeamId) -> Result<Vec<TrendRow>, DbError>;
    /// Service role: opens a `running` run; runs of the connection still running after
    /// `stale_after_seconds` are failed first; `Conflict` when one is still running.
    async fn open_compliance_run(
        &self,
        row: &NewComplianceRun,
        stale_after_seconds: u32,
        audit: &AuditRecord,
    ) -> Result<ComplianceRunRow, DbError>;
    /// Service role: records a run that could not evaluate anything, and why.
    async fn skip_compliance_run(
        &self,
        row: &NewComplianceRun,
        reason: &str,
        audit: &AuditRecord,
    ) -> Result<ComplianceRunRow, DbError>;
    /// Service role: stores the findings and completes the run; `Conflict` unless running.
    async fn finish_compliance_run(
        &self,
        id: ComplianceRunId,
        result: &RunResult,
        findings: &[FindingRow],
        audit: &AuditRecord,
    ) -> Result<(), DbError>;
    /// Service role: fails a running run with a reason fit to show users.
    async fn fail_compliance_run(
        &self,
        id: ComplianceRunId,
        reason: &str,
        audit: &AuditRecord,
    ) -> Result<(), DbError>;
    /// Service role: moves a (connection, check) to `row`'s state, only if it is still in
    /// `from` (`None`: it has no state yet); `Conflict` when it moved meanwhile.
    async fn set_remediation(
        &self,
        row: &RemediationRow,
        from: Option<State>,
        audit: &AuditRecord,
    ) -> Result<(), DbError>;
}
