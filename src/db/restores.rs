//! `restore_plans` and their approvals: read under RLS, written only through the functions of
//! migrations 0024 and 0026.

use async_trait::async_trait;
use serde_json::{json, Value};

use super::PgStores;
use crate::ids::{ConnectionId, RestorePlanId, TeamId, UserId};
use crate::store::{
    ApplyEnd, AuditRecord, DbError, NewRestorePlan, RestoreApprovalRow, RestorePlanRow,
    RestoreStore,
};

#[async_trait(?Send)]
impl RestoreStore for PgStores<'_> {
    async fn restore_plan(&self, id: RestorePlanId) -> Result<Option<RestorePlanRow>, DbError> {
        let query = self
            .db
            .from("restore_plans")
            .select("*")
            .eq("id", id.to_string());
        self.one(query).await
    }

    async fn create_restore_plan(
        &self,
        row: &NewRestorePlan,
        ttl_seconds: u32,
        audit: &AuditRecord,
    ) -> Result<RestorePlanRow, DbError> {
        self.call(
            "restore_plan_create",
            &json!({"p_row": row, "p_ttl_seconds": ttl_seconds, "p_audit": audit}),
        )
        .await
    }

    async fn restore_second_approver(&self, team: TeamId) -> Result<Option<bool>, DbError> {
        let query = self
            .db
            .from("team_restore_settings")
            .select("second_approver")
            .eq("team_id", team.to_string());
        let row: Option<Value> = self.one(query).await?;
        Ok(row.and_then(|r| r["second_approver"].as_bool()))
    }

    async fn set_restore_second_approver(
        &self,
        team: TeamId,
        required: bool,
        by: UserId,
        audit: &AuditRecord,
    ) -> Result<bool, DbError> {
        self.call(
            "team_restore_settings_set",
            &json!({"p_team": team, "p_second_approver": required, "p_user": by, "p_audit": audit}),
        )
        .await
    }

    async fn restore_approvals(
        &self,
        plan: RestorePlanId,
    ) -> Result<Vec<RestoreApprovalRow>, DbError> {
        let query = self
            .db
            .from("restore_approvals")
            .select("plan_id,approved_by,approved_at")
            .eq("plan_id", plan.to_string())
            .order("approved_at.asc");
        self.db.fetch(query).await
    }

    async fn approve_restore(
        &self,
        plan: RestorePlanId,
        by: UserId,
        audit: &AuditRecord,
    ) -> Result<bool, DbError> {
        self.call(
            "restore_approve",
            &json!({"p_plan": plan, "p_user": by, "p_audit": audit}),
        )
        .await
    }

    async fn open_restore_apply(
        &self,
        plan: RestorePlanId,
        by: UserId,
        approvals: u32,
        audit: &AuditRecord,
    ) -> Result<RestorePlanRow, DbError> {
        self.call(
            "restore_apply_open",
            &json!({"p_plan": plan, "p_user": by, "p_approvals": approvals, "p_audit": audit}),
        )
        .await
    }

    async fn finish_restore_apply(
        &self,
        plan: RestorePlanId,
        end: &ApplyEnd,
        audit: &AuditRecord,
    ) -> Result<bool, DbError> {
        self.call(
            "restore_apply_finish",
            &json!({"p_plan": plan, "p_status": end.status, "p_receipt_r2_key": end.receipt_r2_key,
                    "p_receipt_sha256": end.receipt_sha256, "p_error": end.error, "p_audit": audit}),
        )
        .await
    }

    async fn record_restore_writes(
        &self,
        connection: ConnectionId,
        plan: RestorePlanId,
        transactions: &[String],
    ) -> Result<(), DbError> {
        if transactions.is_empty() {
            return Ok(());
        }
        self.call::<_, Value>(
            "restore_record_writes",
            &json!({"p_connection": connection, "p_restore": plan, "p_transactions": transactions}),
        )
        .await
        .map(|_| ())
    }
}
