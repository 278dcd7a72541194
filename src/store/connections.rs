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

/// How the worker authenticates to the org: an SSWS API token, or as an OAuth 2.0 service app
/// (Client Credentials with `private_key_jwt`).
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
    /// Service apps: the app's client id, the `kid` of the key Butterfly generated and when.
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub key_id: Option<String>,
    #[serde(default)]
    pub key_created_at: Option<DateTime<Utc>>,
    /// Service apps: the scopes asked for, and those Okta did not grant at the last verification.
    #[serde(default)]
    pub requested_scopes: Vec<String>,
    #[serde(default)]
    pub missing_scopes: Vec<String>,
    /// When a verification or a backup last succeeded with the credential.
    #[serde(default)]
    pub last_success_at: Option<DateTime<Utc>>,
}

/// A new connection, sealed: an API token already verified against its org, or a service app
/// whose key the admin has yet to register (verified later).
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
    pub verified_at: Option<DateTime<Utc>>,
    pub client_id: Option<String>,
    pub key_id: Option<String>,
    pub key_created_at: Option<DateTime<Utc>>,
    pub requested_scopes: Vec<String>,
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
    /// The scopes a service app's tokens are requested with (those Okta granted).
    #[serde(default)]
    pub granted_scopes: Vec<String>,
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
    /// Service role: records a service app's verification (granted and missing scopes) and its
    /// `connection.verify` row together.
    async fn verify_connection(
        &self,
        id: ConnectionId,
        granted: &[String],
        missing: &[String],
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
