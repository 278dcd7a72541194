//! Row types, one per table shape the worker reads or writes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::{BackupId, ConnectionId, TeamId, UserId};

/// Columns users may read from `okta_connections` (never `sealed_token`).
pub const CONNECTION_COLUMNS: &str =
    "id,team_id,created_by,org_domain,auth_type,granted_scopes,key_version,status,verified_at,created_at,updated_at";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ConnectionRow {
    pub id: ConnectionId,
    pub team_id: TeamId,
    pub created_by: UserId,
    pub org_domain: String,
    pub auth_type: String,
    pub granted_scopes: Vec<String>,
    pub key_version: Option<u32>,
    pub status: String,
    pub verified_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A new connection as inserted by its creator.
#[derive(Serialize)]
pub struct NewConnection<'a> {
    pub id: ConnectionId,
    pub team_id: TeamId,
    pub created_by: UserId,
    pub org_domain: &'a str,
    pub auth_type: &'a str,
    pub granted_scopes: &'a [String],
    pub sealed_token: &'a str,
    pub key_version: u32,
    pub status: &'a str,
    pub verified_at: DateTime<Utc>,
}

/// What a backup job needs, read with the service role only.
pub const CONNECTION_SECRET_COLUMNS: &str =
    "id,team_id,created_by,org_domain,auth_type,sealed_token,key_version,status";

#[derive(Clone, Debug, Deserialize)]
pub struct ConnectionSecretRow {
    pub id: ConnectionId,
    pub team_id: TeamId,
    pub created_by: UserId,
    pub org_domain: String,
    pub auth_type: String,
    pub sealed_token: Option<String>,
    pub key_version: Option<u32>,
    pub status: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TenantKeyRow {
    pub team_id: TeamId,
    pub version: u32,
    pub master_key_id: String,
    pub wrapped_key: String,
}

pub const BACKUP_COLUMNS: &str = "id,team_id,connection_id,requested_by,trigger,status,started_at,finished_at,r2_prefix,counts,object_count,sealed_bytes,manifest_sha256,error,heartbeat_at,slices";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BackupRow {
    pub id: BackupId,
    pub team_id: TeamId,
    pub connection_id: ConnectionId,
    pub requested_by: Option<UserId>,
    pub trigger: String,
    pub status: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub r2_prefix: String,
    pub counts: Value,
    pub object_count: Option<u32>,
    pub sealed_bytes: Option<u64>,
    pub manifest_sha256: Option<String>,
    pub error: Option<String>,
    /// Last checkpoint of a running backup.
    #[serde(default)]
    pub heartbeat_at: Option<DateTime<Utc>>,
    /// Invocations that have worked on it.
    #[serde(default)]
    pub slices: u32,
}

/// A lease on a running backup, with the checkpoint to resume from.
#[derive(Clone, Debug, Deserialize)]
pub struct BackupClaim {
    pub seq: i64,
    pub state: Value,
    pub started_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct MembershipRow {
    pub team_id: TeamId,
    pub role: String,
}

/// One audit event.
#[derive(Clone, Debug, Serialize)]
pub struct ActivityRow {
    pub team_id: Option<TeamId>,
    pub actor_type: &'static str,
    pub actor_id: String,
    pub action: &'static str,
    pub target_type: Option<&'static str>,
    pub target_id: Option<String>,
    pub request_id: Option<String>,
    pub source_ip: Option<String>,
    pub details: Value,
}
