//! Okta connections: the org, the sealed credential (never readable by users) and its state.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{AuditRecord, DbError};
use crate::ids::{ConnectionId, TeamId, UserId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    Active,
    Error,
    Deleted,
}

/// How the worker authenticates to the org; only API tokens are supported so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthType {
    ApiToken,
    OauthPrivateKeyJwt,
}

/// Whether a connection is a production org or a sandbox: drills and sandbox restores write only
/// into a sandbox.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    #[default]
    Production,
    Sandbox,
}

/// A connection as its team's members see it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ConnectionRow {
    pub id: ConnectionId,
    pub team_id: TeamId,
    pub created_by: UserId,
    pub org_domain: String,
    pub auth_type: AuthType,
    pub granted_scopes: Vec<String>,
    pub key_version: Option<u32>,
    pub status: ConnectionStatus,
    #[serde(default)]
    pub environment: Environment,
    /// Why the worker could not last schedule or run its jobs, until a later one succeeds.
    pub last_error: Option<String>,
    pub verified_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A new connection, already verified against its org and sealed.
#[derive(Clone, Debug, Serialize)]
pub struct NewConnection {
    pub id: ConnectionId,
    pub team_id: TeamId,
    pub created_by: UserId,
    pub org_domain: String,
    pub auth_type: AuthType,
    pub granted_scopes: Vec<String>,
    pub sealed_token: String,
    pub key_version: u32,
    pub verified_at: DateTime<Utc>,
}

/// What a job needs of a connection, read with the service role only.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct ConnectionSecretRow {
    pub id: ConnectionId,
    pub team_id: TeamId,
    pub created_by: UserId,
    pub org_domain: String,
    pub auth_type: AuthType,
    pub sealed_token: Option<String>,
    pub key_version: Option<u32>,
    pub status: ConnectionStatus,
}

/// A stored row the worker cannot read as a connection. Each is reported on its own, so one
/// bad row never hides the others.
#[derive(Clone, Debug, PartialEq)]
pub struct UnreadableRow {
    /// The row's id and team, when at least those could be read.
    pub id: Option<ConnectionId>,
    pub team_id: Option<TeamId>,
    pub error: String,
}

#[async_trait(?Send)]
pub trait ConnectionStore {
    /// Live connections visible to the caller, newest first.
    async fn connections(&self) -> Result<Vec<ConnectionRow>, DbError>;
    /// A live connection visible to the caller.
    async fn connection(&self, id: ConnectionId) -> Result<Option<ConnectionRow>, DbError>;
    /// Service role: an active connection with its sealed credential.
    async fn connection_secret(
        &self,
        id: ConnectionId,
    ) -> Result<Option<ConnectionSecretRow>, DbError>;
    /// Service role: every active connection, oldest first (the schedulers' work list); each row
    /// parsed on its own.
    async fn active_connections(
        &self,
    ) -> Result<Vec<Result<ConnectionSecretRow, UnreadableRow>>, DbError>;
    /// Service role: stores a verified connection and its `connection.create` row together.
    async fn create_connection(
        &self,
        row: &NewConnection,
        audit: &AuditRecord,
    ) -> Result<ConnectionRow, DbError>;
    /// Service role: marks a connection deleted, dropping its credential; whether one changed.
    async fn delete_connection(
        &self,
        id: ConnectionId,
        audit: &AuditRecord,
    ) -> Result<bool, DbError>;
    /// Service role: records why a job of the connection could not start (the status stays).
    async fn note_connection_error(
        &self,
        id: ConnectionId,
        error: &str,
        audit: &AuditRecord,
    ) -> Result<(), DbError>;
}
