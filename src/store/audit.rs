//! The audit trail: the typed payload of one `activity_logs` row, and the store for events that
//! change nothing else (starts, download URLs, failed logins). Changes carry their record into
//! the store call that makes them, so both commit in one transaction.

use async_trait::async_trait;
use serde::Serialize;
use serde_json::Value;

use super::DbError;
use crate::ids::{ApiKeyId, TeamId};

/// Who acted, as the log's `actor_type` column names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorType {
    User,
    /// An API key, acting for its user (`actor_id`); `key_id` names the key.
    ApiKey,
    /// A job of the worker's own (`actor_id` names it).
    System,
    /// Nobody authenticated: failed logins, signed-URL downloads.
    Anonymous,
}

/// One `activity_logs` row as the worker writes it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditRecord {
    pub team_id: Option<TeamId>,
    pub actor_type: ActorType,
    pub actor_id: String,
    pub key_id: Option<ApiKeyId>,
    /// The worker's own request id.
    pub request_id: String,
    /// The client's `X-Request-Id`, when it sent a plain one: kept beside ours, never instead.
    pub client_request_id: Option<String>,
    pub source_ip: Option<String>,
    pub action: &'static str,
    pub target_type: &'static str,
    pub target_id: String,
    pub details: Value,
}

#[async_trait(?Send)]
pub trait AuditStore {
    /// Service role: records an event that changes nothing else.
    async fn record(&self, audit: &AuditRecord) -> Result<(), DbError>;
}
