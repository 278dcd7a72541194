//! `api_keys`: users read metadata only (never `secret_hash`); only the worker's functions
//! create and revoke, and a trigger keeps revocation final.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{json as object, Value};

use super::client::json;
use super::{row, PgStores};
use crate::ids::ApiKeyId;
use crate::store::{ApiKeyRow, ApiKeySecretRow, ApiKeyStore, AuditRecord, DbError, NewApiKey};

/// Columns users may read.
const COLUMNS: &str =
    "id,team_id,user_id,name,scopes,expires_at,revoked_at,last_used_at,created_at";

#[async_trait(?Send)]
impl ApiKeyStore for PgStores<'_> {
    async fn api_keys(&self) -> Result<Vec<ApiKeyRow>, DbError> {
        let query = self
            .db
            .from("api_keys")
            .select(COLUMNS)
            .order("created_at.desc");
        self.db.fetch(query).await
    }

    async fn api_key(&self, id: ApiKeyId) -> Result<Option<ApiKeyRow>, DbError> {
        self.one(
            self.db
                .from("api_keys")
                .select(COLUMNS)
                .eq("id", id.to_string()),
        )
        .await
    }

    async fn create_api_key(
        &self,
        new: &NewApiKey,
        audit: &AuditRecord,
    ) -> Result<ApiKeyRow, DbError> {
        let created: Value = self
            .call("api_key_create", &object!({"p_row": new, "p_audit": audit}))
            .await?;
        row(created)
    }

    async fn revoke_api_key(&self, id: ApiKeyId, audit: &AuditRecord) -> Result<bool, DbError> {
        self.call("api_key_revoke", &object!({"p_id": id, "p_audit": audit}))
            .await
    }

    async fn api_key_secret(&self, id: ApiKeyId) -> Result<Option<ApiKeySecretRow>, DbError> {
        let query = self
            .db
            .from("api_keys")
            .select("team_id,user_id,secret_hash,scopes,expires_at,revoked_at")
            .eq("id", id.to_string());
        self.one(query).await
    }

    async fn touch_api_key(&self, id: ApiKeyId, now: DateTime<Utc>) -> Result<(), DbError> {
        let patch = json(&serde_json::json!({ "last_used_at": now }))?;
        let query = self
            .db
            .from("api_keys")
            .eq("id", id.to_string())
            .select("id")
            .update(patch);
        self.db.fetch::<Value>(query).await.map(|_| ())
    }
}
