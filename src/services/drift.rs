//! Drift for users: a connection's settings, recent captures and alerts; acknowledging an
//! alert or accepting its change as the new baseline; the check's interval and alert rules.
//! Reads go through the caller's own stores (RLS decides what exists); every change is
//! authorised here and made by one audited database function.

use serde::Serialize;
use serde_json::json;

use crate::authz::matrix::Action;
use crate::drift::capture::alerts::{check_rules, default_rules, AlertRule};
use crate::ids::{ConnectionId, DriftAlertId};
use crate::services::audit::Event;
use crate::services::{Caller, ServiceError};
use crate::store::{AlertStatus, DriftAlertRow, DriftCaptureRow, DriftSettingsRow};

/// Alerts listed at most (newest first).
pub const LIST_ALERTS: u32 = 200;
/// Captures listed at most (newest first).
pub const LIST_CAPTURES: u32 = 20;
/// The interval a connection gets until one is set.
pub const DEFAULT_INTERVAL_MINUTES: u32 = 15;

#[derive(Debug, Serialize)]
pub struct DriftView {
    pub interval_minutes: u32,
    /// The rules in force (the defaults unless the connection set its own).
    pub rules: Vec<AlertRule>,
    pub custom_rules: bool,
    pub last_checked_at: Option<chrono::DateTime<chrono::Utc>>,
    pub next_due_at: Option<chrono::DateTime<chrono::Utc>>,
    pub alerts: Vec<DriftAlertRow>,
    pub captures: Vec<DriftCaptureRow>,
}

async fn team_of(
    caller: &Caller<'_>,
    connection: ConnectionId,
) -> Result<crate::ids::TeamId, ServiceError> {
    Ok(caller
        .stores()
        .connection(connection)
        .await?
        .ok_or(ServiceError::NotFound)?
        .team_id)
}

/// `GET /connections/{id}/drift`.
pub async fn view(
    caller: &Caller<'_>,
    connection: ConnectionId,
    status: Option<AlertStatus>,
) -> Result<DriftView, ServiceError> {
    let team = team_of(caller, connection).await?;
    caller.authorize(team, Action::DriftRead).await?;
    let stores = caller.stores();
    let settings = stores.drift_settings(connection).await?;
    let alerts = stores
        .drift_alerts_of(connection, status, LIST_ALERTS)
        .await?;
    let captures = stores
        .drift_captures_recent(connection, LIST_CAPTURES)
        .await?;
    let custom = settings.as_ref().and_then(|s| s.rules.clone());
    Ok(DriftView {
        interval_minutes: settings
            .as_ref()
            .map_or(DEFAULT_INTERVAL_MINUTES, |s| s.interval_minutes),
        custom_rules: custom.is_some(),
        rules: custom.unwrap_or_else(default_rules),
        last_checked_at: settings.as_ref().and_then(|s| s.last_checked_at),
        next_due_at: settings.as_ref().map(|s| s.next_due_at),
        alerts,
        captures,
    })
}

/// What an alert can be moved to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    Acknowledge,
    /// Accept the change as the new baseline.
    Accept,
}

impl Transition {
    fn action(self) -> Action {
        match self {
            Transition::Acknowledge => Action::DriftTriage,
            Transition::Accept => Action::DriftAccept,
        }
    }

    fn status(self) -> AlertStatus {
        match self {
            Transition::Acknowledge => AlertStatus::Acknowledged,
            Transition::Accept => AlertStatus::Accepted,
        }
    }
}

/// `POST /connections/{id}/drift/alerts/{alert_id}/transitions`.
pub async fn transition(
    caller: &Caller<'_>,
    connection: ConnectionId,
    alert: DriftAlertId,
    to: Transition,
    note: Option<String>,
) -> Result<DriftAlertRow, ServiceError> {
    let team = team_of(caller, connection).await?;
    let current = caller
        .stores()
        .drift_alert(alert)
        .await?
        .filter(|a| a.connection_id == connection)
        .ok_or(ServiceError::NotFound)?;
    caller.authorize(team, to.action()).await?;
    let note = note.map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
    if note.as_ref().is_some_and(|n| n.chars().count() > 1000) {
        return Err(ServiceError::invalid(
            "note",
            "is longer than 1000 characters",
        ));
    }
    let audit = caller.audit(Event {
        team,
        action: match to {
            Transition::Acknowledge => "drift.alert_acknowledge",
            Transition::Accept => "drift.alert_accept",
        },
        target_type: "drift_alert",
        target_id: alert.to_string(),
        details: json!({"connection_id": connection, "resource_type": current.resource_type,
            "resource_id": current.resource_id, "from": current.status, "to": to.status(),
            "note": note}),
    });
    let moved = caller
        .system()
        .stores()
        .set_drift_alert_status(alert, to.status(), caller.user(), note.as_deref(), &audit)
        .await?;
    if !moved {
        return Err(ServiceError::Conflict {
            code: "invalid_transition",
            message: "the alert's current status does not allow this transition",
        });
    }
    caller
        .stores()
        .drift_alert(alert)
        .await?
        .ok_or(ServiceError::NotFound)
}

/// `PATCH /connections/{id}/drift/settings`: the check's interval and the alert rules (`None`:
/// the defaults).
pub async fn set_settings(
    caller: &Caller<'_>,
    connection: ConnectionId,
    interval_minutes: u32,
    rules: Option<Vec<AlertRule>>,
) -> Result<DriftSettingsRow, ServiceError> {
    let team = team_of(caller, connection).await?;
    caller.authorize(team, Action::ConnectionManage).await?;
    if !(5..=1440).contains(&interval_minutes) {
        return Err(ServiceError::invalid(
            "interval_minutes",
            "must be between 5 and 1440",
        ));
    }
    if let Some(rules) = &rules {
        check_rules(rules).map_err(|e| ServiceError::invalid("rules", e.to_string()))?;
    }
    let audit = caller.audit(Event {
        team,
        action: "drift.settings",
        target_type: "okta_connection",
        target_id: connection.to_string(),
        details: json!({"interval_minutes": interval_minutes, "rules": rules}),
    });
    Ok(caller
        .system()
        .stores()
        .set_drift_settings(connection, interval_minutes, rules.as_deref(), &audit)
        .await?)
}
