//! Drill settings and reports (migration 0030): read under RLS, written only through its
//! functions.

use async_trait::async_trait;
use serde_json::{json, Value};

use super::PgStores;
use crate::ids::{ConnectionId, DrillId, RestorePlanId};
use crate::store::{
    AuditRecord, DbError, DrillEnd, DrillRow, DrillSettingsRow, DrillStore, Environment, NewDrill,
};

#[async_trait(?Send)]
impl DrillStore for PgStores<'_> {
    async fn set_connection_environment(
        &self,
        connection: ConnectionId,
        environment: Environment,
        audit: &AuditRecord,
    ) -> Result<(), DbError> {
        let _: Value = self
            .call(
                "connection_set_environment",
                &json!({"p_connection": connection, "p_environment": environment, "p_audit": audit}),
            )
            .await?;
        Ok(())
    }

    async fn drill_settings(
        &self,
        connection: ConnectionId,
    ) -> Result<Option<DrillSettingsRow>, DbError> {
        let query = self
            .db
            .from("drill_settings")
            .select("*")
            .eq("connection_id", connection.to_string());
        self.one(query).await
    }

    async fn enabled_drill_settings(&self) -> Result<Vec<DrillSettingsRow>, DbError> {
        let query = self
            .db
            .from("drill_settings")
            .select("*")
            .eq("enabled", "true")
            .order("connection_id.asc");
        self.db.fetch(query).await
    }

    async fn set_drill_settings(
        &self,
        s: &DrillSettingsRow,
        audit: &AuditRecord,
    ) -> Result<DrillSettingsRow, DbError> {
        self.call(
            "drill_settings_set",
            &json!({"p_connection": s.connection_id, "p_sandbox": s.sandbox_connection_id,
                    "p_enabled": s.enabled, "p_rto_objective": s.rto_objective_seconds,
                    "p_user": s.configured_by, "p_audit": audit}),
        )
        .await
    }

    async fn open_drill(&self, d: &NewDrill, audit: &AuditRecord) -> Result<DrillRow, DbError> {
        self.call(
            "drill_open",
            &json!({"p_id": d.id, "p_connection": d.connection_id, "p_backup": d.source_backup_id,
                    "p_trigger": d.trigger, "p_user": d.requested_by, "p_audit": audit}),
        )
        .await
    }

    async fn drill(&self, id: DrillId) -> Result<Option<DrillRow>, DbError> {
        let query = self.db.from("drills").select("*").eq("id", id.to_string());
        self.one(query).await
    }

    async fn drills_of(
        &self,
        connection: ConnectionId,
        limit: u32,
    ) -> Result<Vec<DrillRow>, DbError> {
        let query = self
            .db
            .from("drills")
            .select("*")
            .eq("connection_id", connection.to_string())
            .order("started_at.desc")
            .limit(limit as usize);
        self.db.fetch(query).await
    }

    async fn set_drill_plan(&self, id: DrillId, plan: RestorePlanId) -> Result<bool, DbError> {
        self.call("drill_set_plan", &json!({"p_id": id, "p_plan": plan}))
            .await
    }

    async fn finish_drill(
        &self,
        id: DrillId,
        end: &DrillEnd,
        audit: &AuditRecord,
    ) -> Result<bool, DbError> {
        self.call(
            "drill_finish",
            &json!({"p_id": id, "p_status": end.status, "p_rto": end.rto_seconds,
                    "p_rpo": end.rpo_seconds, "p_report": end.report, "p_error": end.error,
                    "p_alerted": end.alerted, "p_audit": audit}),
        )
        .await
    }
}
