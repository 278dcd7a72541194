//! Compliance runs, findings and remediation state. Writes are the service role's; reads made
//! with a user's JWT see only that user's teams.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::postgrest::{DbError, Query};
use super::records::{BackupRow, BACKUP_COLUMNS};
use super::repo::Repo;
use crate::ids::{BackupId, ComplianceRunId, ConnectionId, TeamId, UserId};

pub const RUN_COLUMNS: &str = "id,team_id,connection_id,backup_id,trigger,requested_by,status,started_at,finished_at,pass_count,fail_count,not_applicable_count,error_count,failed_by_severity,error";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ComplianceRunRow {
    pub id: ComplianceRunId,
    pub team_id: TeamId,
    pub connection_id: ConnectionId,
    pub backup_id: Option<BackupId>,
    pub trigger: String,
    pub requested_by: Option<UserId>,
    pub status: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub pass_count: u32,
    pub fail_count: u32,
    pub not_applicable_count: u32,
    pub error_count: u32,
    pub failed_by_severity: Value,
    pub error: Option<String>,
}

pub const FINDING_COLUMNS: &str =
    "run_id,team_id,connection_id,check_id,cis_safeguard,severity,outcome,message,evidence";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FindingRow {
    pub run_id: ComplianceRunId,
    pub team_id: TeamId,
    pub connection_id: ConnectionId,
    pub check_id: String,
    pub cis_safeguard: String,
    pub severity: String,
    pub outcome: String,
    pub message: String,
    pub evidence: Value,
}

pub const REMEDIATION_COLUMNS: &str = "connection_id,check_id,team_id,state,justification,approved_by,expires_at,updated_by,updated_at,last_run_id";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RemediationRow {
    pub connection_id: ConnectionId,
    pub check_id: String,
    pub team_id: TeamId,
    pub state: String,
    pub justification: Option<String>,
    pub approved_by: Option<UserId>,
    pub expires_at: Option<DateTime<Utc>>,
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

impl Repo<'_> {
    /// The newest complete backup of a connection: what a compliance run evaluates.
    pub async fn latest_complete_backup(
        &self,
        connection: ConnectionId,
    ) -> Result<Option<BackupRow>, DbError> {
        Ok(self
            .db
            .select(
                "backups",
                Query::new()
                    .select(BACKUP_COLUMNS)
                    .eq("connection_id", connection)
                    .eq("status", "complete")
                    .order("finished_at.desc")
                    .limit(1),
            )
            .await?
            .into_iter()
            .next())
    }

    pub async fn insert_compliance_run(
        &self,
        row: &ComplianceRunRow,
    ) -> Result<ComplianceRunRow, DbError> {
        self.db.insert("compliance_runs", row, RUN_COLUMNS).await
    }

    /// Service role: records the end of a running run (only a running run can change).
    pub async fn finish_compliance_run(
        &self,
        id: ComplianceRunId,
        patch: &Value,
    ) -> Result<(), DbError> {
        let changed = self
            .db
            .update(
                "compliance_runs",
                Query::new().eq("id", id).eq("status", "running"),
                patch,
            )
            .await?;
        if changed == 1 {
            Ok(())
        } else {
            Err(DbError::Conflict)
        }
    }

    /// Service role: fails runs whose invocation died before finishing.
    pub async fn fail_stale_compliance_runs(
        &self,
        connection: ConnectionId,
        stale_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<usize, DbError> {
        self.db
            .update(
                "compliance_runs",
                Query::new()
                    .eq("connection_id", connection)
                    .eq("status", "running")
                    .lt("started_at", stale_before.to_rfc3339()),
                &json!({"status": "failed", "finished_at": now, "error": "interrupted: the compliance run stopped before finishing"}),
            )
            .await
    }

    pub async fn compliance_runs_of(
        &self,
        connection: ConnectionId,
    ) -> Result<Vec<ComplianceRunRow>, DbError> {
        self.db
            .select(
                "compliance_runs",
                Query::new()
                    .select(RUN_COLUMNS)
                    .eq("connection_id", connection)
                    .order("started_at.desc")
                    .limit(100),
            )
            .await
    }

    pub async fn compliance_run(
        &self,
        id: ComplianceRunId,
    ) -> Result<Option<ComplianceRunRow>, DbError> {
        Ok(self
            .db
            .select(
                "compliance_runs",
                Query::new().select(RUN_COLUMNS).eq("id", id),
            )
            .await?
            .into_iter()
            .next())
    }

    pub async fn latest_complete_compliance_run(
        &self,
        connection: ConnectionId,
    ) -> Result<Option<ComplianceRunRow>, DbError> {
        Ok(self
            .db
            .select(
                "compliance_runs",
                Query::new()
                    .select(RUN_COLUMNS)
                    .eq("connection_id", connection)
                    .eq("status", "complete")
                    .order("finished_at.desc")
                    .limit(1),
            )
            .await?
            .into_iter()
            .next())
    }

    pub async fn insert_findings(&self, rows: &[FindingRow]) -> Result<(), DbError> {
        self.db.insert_only("compliance_findings", &rows).await
    }

    pub async fn findings_of(&self, run: ComplianceRunId) -> Result<Vec<FindingRow>, DbError> {
        self.db
            .select(
                "compliance_findings",
                Query::new()
                    .select(FINDING_COLUMNS)
                    .eq("run_id", run)
                    .order("check_id.asc"),
            )
            .await
    }

    pub async fn remediations_of(
        &self,
        connection: ConnectionId,
    ) -> Result<Vec<RemediationRow>, DbError> {
        self.db
            .select(
                "compliance_remediations",
                Query::new()
                    .select(REMEDIATION_COLUMNS)
                    .eq("connection_id", connection)
                    .order("check_id.asc"),
            )
            .await
    }

    pub async fn remediation(
        &self,
        connection: ConnectionId,
        check_id: &str,
    ) -> Result<Option<RemediationRow>, DbError> {
        Ok(self
            .db
            .select(
                "compliance_remediations",
                Query::new()
                    .select(REMEDIATION_COLUMNS)
                    .eq("connection_id", connection)
                    .eq("check_id", check_id),
            )
            .await?
            .into_iter()
            .next())
    }

    /// Service role: the first state of a (connection, check); a concurrent first insert conflicts.
    pub async fn insert_remediation(&self, row: &RemediationRow) -> Result<(), DbError> {
        self.db.insert_only("compliance_remediations", row).await
    }

    /// Service role: moves a state on only if it is still `from` (a concurrent change conflicts).
    pub async fn update_remediation(
        &self,
        connection: ConnectionId,
        check_id: &str,
        from: &str,
        patch: &Value,
    ) -> Result<(), DbError> {
        let changed = self
            .db
            .update(
                "compliance_remediations",
                Query::new()
                    .eq("connection_id", connection)
                    .eq("check_id", check_id)
                    .eq("state", from),
                patch,
            )
            .await?;
        if changed == 1 {
            Ok(())
        } else {
            Err(DbError::Conflict)
        }
    }

    pub async fn compliance_trend(&self, team: TeamId) -> Result<Vec<TrendRow>, DbError> {
        self.db
            .select(
                "compliance_trend",
                Query::new()
                    .select("connection_id,day,run_id,pass_count,fail_count,not_applicable_count,error_count,pass_rate")
                    .eq("team_id", team)
                    .order("day.asc")
                    .limit(1000),
            )
            .await
    }
}
