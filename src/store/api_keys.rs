//! API keys: stored as keyed hashes, listed by metadata only, revoked for good.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{AuditRecord, DbError};
use crate::authz::matrix::Scope;
use crate::ids::{ApiKeyId, TeamId, UserId};

/// Keys one user may hold that are neither revoked nor expired, across all their teams: each
/// key is a standing credential to guard and a lookup an attacker can aim at, and no
/// integration needs more. The database enforces the same number on every insert (migration
/// `0012_api_key_cap`, race-free under a per-user lock); the worker names the
/// refusal before the insert.
pub const MAX_ACTIVE_KEYS_PER_USER: usize = 20;

/// A key as listed (never its secret or hash).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ApiKeyRow {
    pub id: ApiKeyId,
    pub team_id: TeamId,
    pub user_id: UserId,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// What authenticating a key needs (service role).
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct ApiKeySecretRow {
    pub team_id: TeamId,
    pub user_id: UserId,
    pub secret_hash: String,
    pub scopes: Vec<Scope>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Serialize)]
pub struct NewApiKey {
    pub id: ApiKeyId,
    pub team_id: TeamId,
    pub user_id: UserId,
    pub name: String,
    pub secret_hash: String,
    pub scopes: Vec<Scope>,
    pub expires_at: Option<DateTime<Utc>>,
}

#[async_trait(?Send)]
pub trait ApiKeyStore {
    /// Keys visible to the caller, newest first.
    async fn api_keys(&self) -> Result<Vec<ApiKeyRow>, DbError>;
    async fn api_key(&self, id: ApiKeyId) -> Result<Option<ApiKeyRow>, DbError>;
    /// Service role: stores a new key.
    async fn create_api_key(
        &self,
        row: &NewApiKey,
        audit: &AuditRecord,
    ) -> Result<ApiKeyRow, DbError>;
    /// Service role: revokes a live key; whether it was live. Revocation is final (a trigger
    /// refuses clearing `revoked_at`, whoever writes).
    async fn revoke_api_key(&self, id: ApiKeyId, audit: &AuditRecord) -> Result<bool, DbError>;
    /// Service role: what authenticating a key needs.
    async fn api_key_secret(&self, id: ApiKeyId) -> Result<Option<ApiKeySecretRow>, DbError>;
    /// Service role: records a key's use (not an audited change).
    async fn touch_api_key(&self, id: ApiKeyId, now: DateTime<Utc>) -> Result<(), DbError>;
}
