//! Compliance runs, findings and remediation state: written only by the worker's functions;
//! reads made with a user's JWT see only that user's teams.

use async_trait::async_trait;
use serde_json::{json, Value};

use super::{row, PgStores};
use crate::compliance::remediation::State;
use crate::ids::{ComplianceRunId, ConnectionId, TeamId};
use crate::store::{
    AuditRecord, ComplianceRunRow, ComplianceStore, DbError, FindingRow, NewComplianceRun,
    RemediationRow, RunResult, TrendRow,
};

pub(super) const RUN_COLUMNS: &str = "id,team_id,connection_id,backup_id,trigger,requested_by,status,started_at,finished_at,pass_count,fail_count,not_applicable_count,error_count,failed_by_severity,error";

pub(super) const FINDING_COLUMNS: &str =
    "run_id,team_id,connection_id,check_id,cis_safeguard,severity,outcome,message,evidence";

pub(super) const REMEDIATION_COLUMNS: &str = "connection_id,check_id,team_id,state,justification,approved_by,expires_at,updated_by,updated_at,last_run_id";

#[async_trait(?Send)]
impl ComplianceStore for PgStores<'_> {
    async fn compliance_runs_of(
        &self,
        connection: ConnectionId,
    ) -> Result<Vec<ComplianceRunRow>, DbError> {
        let query = self
            .db
            .from("compliance_runs")
            .select(RUN_COLUMNS)
            .eq("connection_id", connection.to_string())
            .order("started_at.desc")
            .limit(100);
        self.db.fetch(query).await
    }

    async fn compliance_run(
        &self,
        id: ComplianceRunId,
    ) -> Result<Option<ComplianceRunRow>, DbError> {
        self.one(
            self.db
                .from("compliance_runs")
                .select(RUN_COLUMNS)
                .eq("id", id.to_string()),
        )
        .await
    }

    async fn latest_complete_compliance_run(
        &self,
        connection: ConnectionId,
    ) -> Result<Option<ComplianceRunRow>, DbError> {
        let query = self
            .db
            .from("compliance_runs")
            .select(RUN_COLUMNS)
            .eq("connection_id", connection.to_string())
            .eq("status", "complete")
            .order("finished_at.desc")
            .limit(1);
        self.one(query).await
    }

    async fn findings_of(&self, run: ComplianceRunId) -> Result<Vec<FindingRow>, DbError> {
        let query = self
            .db
            .from("compliance_findings")
            .select(FINDING_COLUMNS)
            .eq("run_id", run.to_string())
            .order("check_id.asc");
        self.db.fetch(query).await
    }

    async fn remediations_of(
        &self,
        connection: ConnectionId,
    ) -> Result<Vec<RemediationRow>, DbError> {
        let query = self
            .db
            .from("compliance_remediations")
            .select(REMEDIATION_COLUMNS)
            .eq("connection_id", connection.to_string())
            .order("check_id.asc");
        self.db.fetch(query).await
    }

    async fn remediation(
        &self,
        connection: ConnectionId,
        check_id: &str,
    ) -> Result<Option<RemediationRow>, DbError> {
        let query = self
            .db
            .from("compliance_remediations")
            .select(REMEDIATION_COLUMNS)
            .eq("connection_id", connection.to_string())
            .eq("check_id", check_id);
        self.one(query).await
    }

    async fn compliance_trend(&self, team: TeamId) -> Result<Vec<TrendRow>, DbError> {
        let query = self.db.from("compliance_trend")
            .select("connection_id,day,run_id,pass_count,fail_count,not_applicable_count,error_count,pass_rate")
            .eq("team_id", team.to_string())
            .order("day.asc")
            .limit(1000);
        self.db.fetch(query).await
    }

    async fn open_compliance_run(
        &self,
        new: &NewComplianceRun,
        stale_after_seconds: u32,
        audit: &AuditRecord,
    ) -> Result<ComplianceRunRow, DbError> {
        let opened: Value = self
            .call(
                "compliance_run_open",
                &json!({"p_row": new, "p_stale_after_seconds": stale_after_seconds, "p_audit": audit}),
            )
            .await?;
        row(opened)
    }

    async fn skip_compliance_run(
        &self,
        new: &NewComplianceRun,
        reason: &str,
        audit: &AuditRecord,
    ) -> Result<ComplianceRunRow, DbError> {
        let skipped: Value = self
            .call(
                "compliance_run_skip",
                &json!({"p_row": new, "p_reason": reason, "p_audit": audit}),
            )
            .await?;
        row(skipped)
    }

    async fn finish_compliance_run(
        &self,
        id: ComplianceRunId,
        result: &RunResult,
        findings: &[FindingRow],
        audit: &AuditRecord,
    ) -> Result<(), DbError> {
        self.guarded(
            "compliance_run_finish",
            &json!({"p_id": id, "p_result": result, "p_findings": findings, "p_audit": audit}),
        )
        .await
    }

    async fn fail_compliance_run(
        &self,
        id: ComplianceRunId,
        reason: &str,
        audit: &AuditRecord,
    ) -> Result<(), DbError> {
        self.guarded(
            "compliance_run_fail",
            &json!({"p_id": id, "p_reason": reason, "p_audit": audit}),
        )
        .await
    }

    async fn set_remediation(
        &self,
        remediation: &RemediationRow,
        from: Option<State>,
        audit: &AuditRecord,
    ) -> Result<(), DbError> {
        self.guarded(
            "remediation_set",
            &json!({"p_row": remediation, "p_from": from, "p_audit": audit}),
        )
        .await
    }
}
