//! Audit trail: every mutation and every job transition becomes an `activity_logs` row.

use serde_json::Value;

use crate::db::records::ActivityRow;
use crate::db::Repo;
use crate::ids::{TeamId, UserId};
use crate::services::ServiceError;

/// Who did it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    User(UserId),
    /// A scheduled or background job; the string names it (e.g. `cron`, `backup-job`).
    System(&'static str),
}

/// Where the request came from (carried in queue messages, so a consumer's audit rows keep the
/// scheduling request's id).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RequestMeta {
    pub request_id: String,
    pub source_ip: Option<String>,
}

/// One event to record.
pub struct Event {
    pub team: TeamId,
    pub action: &'static str,
    pub target_type: &'static str,
    pub target_id: String,
    pub details: Value,
}

/// Writes the row with the service role: users can read their team's log but never write to it.
pub async fn record(
    system: &Repo<'_>,
    actor: &Actor,
    meta: &RequestMeta,
    event: Event,
) -> Result<(), ServiceError> {
    let (actor_type, actor_id) = match actor {
        Actor::User(id) => ("user", id.to_string()),
        Actor::System(name) => ("system", (*name).to_string()),
    };
    system
        .record_activity(&ActivityRow {
            team_id: Some(event.team),
            actor_type,
            actor_id,
            action: event.action,
            target_type: Some(event.target_type),
            target_id: Some(event.target_id),
            request_id: Some(meta.request_id.clone()),
            source_ip: meta.source_ip.clone(),
            details: event.details,
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("audit write failed: {e}")))
}
