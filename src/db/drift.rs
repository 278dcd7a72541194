//! Drift settings, captures and alerts (migration 0020): written only by the worker's
//! functions; reads made with a user's JWT see only their teams' rows, and never the check's
//! cursor (a column users hold no privilege on).

use async_trait::async_trait;
use serde_json::{json, Value};

use super::{row, PgStores};
use crate::drift::capture::alerts::AlertRule;
use crate::ids::{BackupId, ConnectionId, DriftAlertId, DriftCaptureId, UserId};
use crate::store::{
    AlertStatus, AuditRecord, DbError, DriftAdvance, DriftAlertRow, DriftCaptureRow,
    DriftSettingsRow, DriftStateRow, DriftStore, DueCheck, RecordedCapture,
};

const SETTINGS_COLUMNS: &str =
    "connection_id,team_id,interval_minutes,rules,next_due_at,last_checked_at";
const STATE_COLUMNS: &str = "connection_id,team_id,rules,cursor,base_backup_id,last_seq";
const CAPTURE_COLUMNS: &str = "id,team_id,connection_id,backup_id,seq,covers_from,covers_to,events,changes,counts,manifest_sha256,summary,created_at";
const ALERT_COLUMNS: &str = "id,team_id,connection_id,capture_id,last_capture_id,resource_type,resource_id,kind,severity,rule_id,fields,attribution,occurrences,status,status_by,status_at,note,first_seen_at,last_seen_at";

#[async_trait(?Send)]
impl DriftStore for PgStores<'_> {
    async fn drift_due(&self, limit: u32) -> Result<Vec<DueCheck>, DbError> {
        self.call("drift_due", &json!({"p_limit": limit})).await
    }

    async fn drift_state(
        &self,
        connection: ConnectionId,
    ) -> Result<Option<DriftStateRow>, DbError> {
        self.one(
            self.db
                .from("drift_settings")
                .select(STATE_COLUMNS)
                .eq("connection_id", connection.to_string()),
        )
        .await
    }

    async fn drift_captures_of(&self, backup: BackupId) -> Result<Vec<DriftCaptureRow>, DbError> {
        let query = self
            .db
            .from("drift_captures")
            .select(CAPTURE_COLUMNS)
            .eq("backup_id", backup.to_string())
            .order("seq.asc");
        self.db.fetch(query).await
    }

    async fn butterfly_writes(
        &self,
        connection: ConnectionId,
        transactions: &[String],
    ) -> Result<Vec<String>, DbError> {
        if transactions.is_empty() {
            return Ok(Vec::new());
        }
        let query = self
            .db
            .from("butterfly_okta_writes")
            .select("transaction_id")
            .eq("connection_id", connection.to_string())
            .in_("transaction_id", transactions);
        let rows: Vec<Value> = self.db.fetch(query).await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| r["transaction_id"].as_str().map(str::to_string))
            .collect())
    }

    async fn record_drift(
        &self,
        advance: &DriftAdvance,
        capture: Option<RecordedCapture<'_>>,
        audit: Option<&AuditRecord>,
    ) -> Result<bool, DbError> {
        let (row, alerts, versions) = match capture {
            Some(c) => (Some(c.row), c.alerts, c.versions),
            None => (None, &[][..], &[][..]),
        };
        self.call(
            "drift_record",
            &json!({"p_advance": advance, "p_capture": row, "p_alerts": alerts,
                    "p_versions": versions, "p_audit": audit}),
        )
        .await
    }

    async fn drift_capture(&self, id: DriftCaptureId) -> Result<Option<DriftCaptureRow>, DbError> {
        self.one(
            self.db
                .from("drift_captures")
                .select(CAPTURE_COLUMNS)
                .eq("id", id.to_string()),
        )
        .await
    }

    async fn drift_settings(
        &self,
        connection: ConnectionId,
    ) -> Result<Option<DriftSettingsRow>, DbError> {
        self.one(
            self.db
                .from("drift_settings")
                .select(SETTINGS_COLUMNS)
                .eq("connection_id", connection.to_string()),
        )
        .await
    }

    async fn set_drift_settings(
        &self,
        connection: ConnectionId,
        interval_minutes: u32,
        rules: Option<&[AlertRule]>,
        audit: &AuditRecord,
    ) -> Result<DriftSettingsRow, DbError> {
        let set: Value = self
            .call(
                "drift_settings_set",
                &json!({"p_connection": connection, "p_interval": interval_minutes,
                        "p_rules": rules, "p_audit": audit}),
            )
            .await?;
        row(set)
    }

    async fn drift_alerts_of(
        &self,
        connection: ConnectionId,
        status: Option<AlertStatus>,
        limit: u32,
    ) -> Result<Vec<DriftAlertRow>, DbError> {
        let mut query = self
            .db
            .from("drift_alerts")
            .select(ALERT_COLUMNS)
            .eq("connection_id", connection.to_string());
        if let Some(status) = status {
            let name =
                serde_json::to_value(status).map_err(|e| DbError::Unexpected(e.to_string()))?;
            query = query.eq("status", name.as_str().unwrap_or_default());
        }
        self.db
            .fetch(query.order("last_seen_at.desc").limit(limit as usize))
            .await
    }

    async fn drift_alert(&self, id: DriftAlertId) -> Result<Option<DriftAlertRow>, DbError> {
        self.one(
            self.db
                .from("drift_alerts")
                .select(ALERT_COLUMNS)
                .eq("id", id.to_string()),
        )
        .await
    }

    async fn drift_captures_recent(
        &self,
        connection: ConnectionId,
        limit: u32,
    ) -> Result<Vec<DriftCaptureRow>, DbError> {
        let query = self
            .db
            .from("drift_captures")
            .select(CAPTURE_COLUMNS)
            .eq("connection_id", connection.to_string())
            .order("created_at.desc")
            .limit(limit as usize);
        self.db.fetch(query).await
    }

    async fn set_drift_alert_status(
        &self,
        id: DriftAlertId,
        to: AlertStatus,
        by: UserId,
        note: Option<&str>,
        audit: &AuditRecord,
    ) -> Result<bool, DbError> {
        self.call(
            "drift_alert_set_status",
            &json!({"p_id": id, "p_to": to, "p_by": by, "p_note": note, "p_audit": audit}),
        )
        .await
    }
}
