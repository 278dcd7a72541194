//! Recovery drills (docs/restore.md, "Drills"): per connection, the sandbox its drills restore
//! into and the team's recovery time objective, the history of drill reports with its trend,
//! and connections' environment labels (a drill writes only into a sandbox). The drill itself
//! is a job ([`crate::jobs::drill`]).

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::audit::Event;
use super::{Caller, ServiceError};
use crate::authz::matrix::Action;
use crate::ids::{ConnectionId, DrillId};
use crate::store::{DbError, DrillRow, DrillSettingsRow, DrillStatus, Environment};

/// The RTO objective when the team sets none: an hour.
pub const DEFAULT_RTO_OBJECTIVE_SECONDS: u32 = 3600;

/// Reports a listing shows at most.
pub const HISTORY_LIMIT: u32 = 100;

/// `PATCH /connections/{id}/environment` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentRequest {
    pub environment: Environment,
}

/// `PATCH /connections/{id}/environment`: labels a connection production or sandbox
/// (connection managers; audited). A connection a drill writes into stays a sandbox.
pub async fn set_environment(
    caller: &Caller<'_>,
    connection: ConnectionId,
    body: EnvironmentRequest,
) -> Result<serde_json::Value, ServiceError> {
    let conn = caller
        .stores()
        .connection(connection)
        .await?
        .ok_or(ServiceError::NotFound)?;
    caller
        .authorize(conn.team_id, Action::ConnectionManage)
        .await?;
    let audit = caller.audit(Event {
        team: conn.team_id,
        action: "connection.environment",
        target_type: "okta_connection",
        target_id: connection.to_string(),
        details: json!({"from": conn.environment, "to": body.environment}),
    });
    match caller
        .system()
        .stores()
        .set_connection_environment(connection, body.environment, &audit)
        .await
    {
        Ok(()) => Ok(json!({"id": connection, "environment": body.environment})),
        Err(DbError::Conflict) => Err(ServiceError::Conflict {
            code: "sandbox_in_use",
            message: "a drill restores into this connection; point the drill elsewhere first",
        }),
        Err(e) => Err(e.into()),
    }
}

/// `PUT` (every field but the defaults) and `PATCH` (only what changes) of
/// `/connections/{id}/drills/settings`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsRequest {
    pub sandbox_connection_id: Option<ConnectionId>,
    pub enabled: Option<bool>,
    pub rto_objective_seconds: Option<u32>,
}

/// Sets a connection's drill settings; `replace` (PUT) starts from the defaults, otherwise
/// (PATCH) from the current settings. The sandbox must be another connection of the same team
/// labelled `sandbox`.
pub async fn configure(
    caller: &Caller<'_>,
    connection: ConnectionId,
    body: SettingsRequest,
    replace: bool,
) -> Result<DrillSettingsRow, ServiceError> {
    let conn = caller
        .stores()
        .connection(connection)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let team = conn.team_id;
    caller.authorize(team, Action::DrillManage).await?;
    let current = if replace {
        None
    } else {
        caller.stores().drill_settings(connection).await?
    };
    let sandbox = body
        .sandbox_connection_id
        .or(current.as_ref().map(|c| c.sandbox_connection_id))
        .ok_or_else(|| ServiceError::invalid("sandbox_connection_id", "required"))?;
    let rto = body
        .rto_objective_seconds
        .or(current.as_ref().map(|c| c.rto_objective_seconds))
        .unwrap_or(DEFAULT_RTO_OBJECTIVE_SECONDS);
    if !(60..=604_800).contains(&rto) {
        return Err(ServiceError::invalid(
            "rto_objective_seconds",
            "must be between 60 and 604800",
        ));
    }
    let enabled = body
        .enabled
        .or(current.as_ref().map(|c| c.enabled))
        .unwrap_or(true);
    if sandbox == connection {
        return Err(ServiceError::invalid(
            "sandbox_connection_id",
            "a drill restores into another connection",
        ));
    }
    // Another team's connection does not exist for the caller.
    let target = caller
        .stores()
        .connection(sandbox)
        .await?
        .filter(|c| c.team_id == team)
        .ok_or_else(|| {
            ServiceError::invalid("sandbox_connection_id", "no such connection in this team")
        })?;
    if target.environment != Environment::Sandbox {
        return Err(not_a_sandbox());
    }
    let settings = DrillSettingsRow {
        connection_id: connection,
        team_id: team,
        sandbox_connection_id: sandbox,
        enabled,
        rto_objective_seconds: rto,
        configured_by: caller.user(),
        updated_at: caller.deps().clock.now(),
    };
    let audit = caller.audit(Event {
        team,
        action: "drill.settings",
        target_type: "okta_connection",
        target_id: connection.to_string(),
        details: json!({"sandbox_connection_id": sandbox, "enabled": enabled,
                        "rto_objective_seconds": rto}),
    });
    match caller
        .system()
        .stores()
        .set_drill_settings(&settings, &audit)
        .await
    {
        Ok(row) => Ok(row),
        // Relabelled or deleted between the check and the write.
        Err(DbError::Constraint) => Err(not_a_sandbox()),
        Err(e) => Err(e.into()),
    }
}

fn not_a_sandbox() -> ServiceError {
    ServiceError::Conflict {
        code: "target_not_sandbox",
        message: "drills restore only into an active connection labelled sandbox",
    }
}

/// One point of the trend: a finished drill.
#[derive(Debug, Serialize)]
pub struct TrendPoint {
    pub drill_id: DrillId,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub status: DrillStatus,
    pub rto_seconds: Option<u32>,
    pub rpo_seconds: Option<u32>,
}

/// How the connection's drills have gone.
#[derive(Debug, Serialize)]
pub struct Trend {
    pub finished: u32,
    pub passed: u32,
    pub failed: u32,
    /// Finished drills slower than the objective they ran under.
    pub over_objective: u32,
    pub last_rto_seconds: Option<u32>,
    pub median_rto_seconds: Option<u32>,
    /// The last drill's RTO minus the one before's (negative: faster).
    pub rto_change_seconds: Option<i64>,
    /// Oldest first.
    pub points: Vec<TrendPoint>,
}

/// The trend of a history given newest first.
pub fn trend(history: &[DrillRow]) -> Trend {
    let finished: Vec<&DrillRow> = history
        .iter()
        .rev()
        .filter(|d| d.status != DrillStatus::Running)
        .collect();
    let rtos: Vec<u32> = finished.iter().filter_map(|d| d.rto_seconds).collect();
    let mut sorted = rtos.clone();
    sorted.sort_unstable();
    let count = |s: DrillStatus| finished.iter().filter(|d| d.status == s).count() as u32;
    Trend {
        finished: finished.len() as u32,
        passed: count(DrillStatus::Passed),
        failed: count(DrillStatus::Failed),
        over_objective: finished
            .iter()
            .filter(|d| d.rto_seconds.is_some_and(|r| r > d.rto_objective_seconds))
            .count() as u32,
        last_rto_seconds: rtos.last().copied(),
        median_rto_seconds: sorted.get(sorted.len() / 2).copied(),
        rto_change_seconds: match rtos.as_slice() {
            [.., before, last] => Some(i64::from(*last) - i64::from(*before)),
            _ => None,
        },
        points: finished
            .iter()
            .map(|d| TrendPoint {
                drill_id: d.id,
                started_at: d.started_at,
                status: d.status,
                rto_seconds: d.rto_seconds,
                rpo_seconds: d.rpo_seconds,
            })
            .collect(),
    }
}

/// `GET /connections/{id}/drills`.
#[derive(Debug, Serialize)]
pub struct DrillsView {
    pub settings: Option<DrillSettingsRow>,
    /// Newest first.
    pub drills: Vec<DrillRow>,
    pub trend: Trend,
}

/// `GET /connections/{id}/drills`: the settings, the history and its trend.
pub async fn list(
    caller: &Caller<'_>,
    connection: ConnectionId,
) -> Result<DrillsView, ServiceError> {
    let conn = caller
        .stores()
        .connection(connection)
        .await?
        .ok_or(ServiceError::NotFound)?;
    caller.authorize(conn.team_id, Action::BackupRead).await?;
    let stores = caller.stores();
    let drills = stores.drills_of(connection, HISTORY_LIMIT).await?;
    Ok(DrillsView {
        settings: stores.drill_settings(connection).await?,
        trend: trend(&drills),
        drills,
    })
}

/// `GET /drills/{id}`: one drill and its report.
pub async fn get(caller: &Caller<'_>, id: DrillId) -> Result<DrillRow, ServiceError> {
    let row = caller
        .stores()
        .drill(id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    caller.authorize(row.team_id, Action::BackupRead).await?;
    Ok(row)
}
