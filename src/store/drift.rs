//! Live change capture's state (migration 0020): per connection its drift settings (interval,
//! alert rules) and, hidden from users, the System Log cursor and base backup; the captures
//! (restore points chained to their base backup); and the alerts they raised, with the
//! notifications they enqueued. Every change is one database function.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{AuditRecord, DbError, NewVersion};
use crate::drift::capture::alerts::{AlertRule, Severity};
use crate::ids::{BackupId, ConnectionId, DriftAlertId, DriftCaptureId, TeamId, UserId};

/// A connection whose drift check is due (the schedule has been moved on for it).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct DueCheck {
    pub connection_id: ConnectionId,
    pub team_id: TeamId,
}

/// What users see of a connection's drift settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DriftSettingsRow {
    pub connection_id: ConnectionId,
    pub team_id: TeamId,
    pub interval_minutes: u32,
    /// `None`: the default rules.
    pub rules: Option<Vec<AlertRule>>,
    pub next_due_at: DateTime<Utc>,
    pub last_checked_at: Option<DateTime<Utc>>,
}

/// The check's own state (service role only).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct DriftStateRow {
    pub connection_id: ConnectionId,
    pub team_id: TeamId,
    pub rules: Option<Vec<AlertRule>>,
    /// The System Log `next` link to poll; `None` before the first poll.
    pub cursor: Option<String>,
    pub base_backup_id: Option<BackupId>,
    /// Sequence number of the last capture on the base backup.
    pub last_seq: u32,
}

/// A recorded capture (a restore point).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DriftCaptureRow {
    pub id: DriftCaptureId,
    pub team_id: TeamId,
    pub connection_id: ConnectionId,
    pub backup_id: BackupId,
    pub seq: u32,
    pub covers_from: DateTime<Utc>,
    pub covers_to: DateTime<Utc>,
    pub events: u32,
    pub changes: u32,
    /// Changed resources per type.
    pub counts: Value,
    pub manifest_sha256: String,
    /// The changes, field by field with secrets withheld, each with its attribution.
    pub summary: Value,
    pub created_at: DateTime<Utc>,
}

/// An alert raised by a capture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewDriftAlert {
    pub id: DriftAlertId,
    pub dedup_key: String,
    pub resource_type: String,
    pub resource_id: String,
    pub kind: String,
    pub severity: Severity,
    pub rule_id: String,
    /// Changed paths (values stay in the capture's summary).
    pub fields: Vec<String>,
    pub attribution: Value,
    /// The outbox payload (`email::messages::Notification`) for each recipient.
    pub notification: Value,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    Open,
    Acknowledged,
    /// The change is accepted as the new baseline.
    Accepted,
}

impl AlertStatus {
    pub fn parse(s: &str) -> Option<AlertStatus> {
        serde_json::from_value(Value::String(s.into())).ok()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DriftAlertRow {
    pub id: DriftAlertId,
    pub team_id: TeamId,
    pub connection_id: ConnectionId,
    /// The captures that raised it and last added to it (`None` once their base backup is
    /// gone: alerts outlive retention).
    pub capture_id: Option<DriftCaptureId>,
    pub last_capture_id: Option<DriftCaptureId>,
    pub resource_type: String,
    pub resource_id: String,
    pub kind: String,
    pub severity: Severity,
    pub rule_id: String,
    pub fields: Value,
    pub attribution: Value,
    pub occurrences: u32,
    pub status: AlertStatus,
    pub status_by: Option<UserId>,
    pub status_at: Option<DateTime<Utc>>,
    pub note: Option<String>,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

/// Where the check stood when it read its state: a record commits only from there, so a
/// check redone after a crash, or racing another, records nothing twice.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DriftAdvance {
    pub connection_id: ConnectionId,
    pub from_cursor: Option<String>,
    pub from_base: Option<BackupId>,
    pub from_seq: u32,
    /// The new cursor, base and sequence number.
    pub cursor: String,
    pub base_backup_id: BackupId,
    pub seq: u32,
}

/// How a drift check's failure note on the connection (`okta_connections.last_error`) begins: a
/// later check that finishes clears the notes that begin so, and only those.
pub const DRIFT_ERROR_PREFIX: &str = "drift check: ";

/// What a check records with a capture.
#[derive(Clone, Copy, Debug)]
pub struct RecordedCapture<'a> {
    pub row: &'a DriftCaptureRow,
    pub alerts: &'a [NewDriftAlert],
    /// Each changed resource's new version (`VersionSource::Capture` of this capture).
    pub versions: &'a [NewVersion],
}

#[async_trait(?Send)]
pub trait DriftStore {
    /// Connections whose check is due (active, API-token connections with a complete backup),
    /// each moved on to its next due time; at most `limit`.
    async fn drift_due(&self, limit: u32) -> Result<Vec<DueCheck>, DbError>;
    async fn drift_state(&self, connection: ConnectionId)
        -> Result<Option<DriftStateRow>, DbError>;
    /// The captures recorded on a base backup, in sequence order.
    async fn drift_captures_of(&self, backup: BackupId) -> Result<Vec<DriftCaptureRow>, DbError>;
    /// The recorded Okta transaction ids of Butterfly's own writes among `transactions`.
    async fn butterfly_writes(
        &self,
        connection: ConnectionId,
        transactions: &[String],
    ) -> Result<Vec<String>, DbError>;
    /// Moves the cursor on and, with a capture, records it, its alerts (deduplicated against
    /// open ones), their notifications and the capture's versions in the version index
    /// (`resource_versions`, each naming the capture), in one transaction; clears the
    /// connection's `last_error` if a drift check noted it ([`DRIFT_ERROR_PREFIX`]).
    /// `Ok(false)` when the state moved since it was read (nothing is written then).
    async fn record_drift(
        &self,
        advance: &DriftAdvance,
        capture: Option<RecordedCapture<'_>>,
        audit: Option<&AuditRecord>,
    ) -> Result<bool, DbError>;
    /// One capture, as the caller may read it.
    async fn drift_capture(&self, id: DriftCaptureId) -> Result<Option<DriftCaptureRow>, DbError>;
    /// The connection's settings as the caller may read them (defaults before any check).
    async fn drift_settings(
        &self,
        connection: ConnectionId,
    ) -> Result<Option<DriftSettingsRow>, DbError>;
    async fn set_drift_settings(
        &self,
        connection: ConnectionId,
        interval_minutes: u32,
        rules: Option<&[AlertRule]>,
        audit: &AuditRecord,
    ) -> Result<DriftSettingsRow, DbError>;
    /// Alerts of a connection, newest first (as the caller may read them).
    async fn drift_alerts_of(
        &self,
        connection: ConnectionId,
        status: Option<AlertStatus>,
        limit: u32,
    ) -> Result<Vec<DriftAlertRow>, DbError>;
    async fn drift_alert(&self, id: DriftAlertId) -> Result<Option<DriftAlertRow>, DbError>;
    /// Recent captures of a connection, newest first (as the caller may read them).
    async fn drift_captures_recent(
        &self,
        connection: ConnectionId,
        limit: u32,
    ) -> Result<Vec<DriftCaptureRow>, DbError>;
    /// Acknowledges an open alert, or accepts an open or acknowledged one; `Ok(false)` when its
    /// status no longer allows that.
    async fn set_drift_alert_status(
        &self,
        id: DriftAlertId,
        to: AlertStatus,
        by: UserId,
        note: Option<&str>,
        audit: &AuditRecord,
    ) -> Result<bool, DbError>;
}
