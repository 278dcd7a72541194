//! `tenant_keys` (service role only; no policy lets anyone else read or write).

use async_trait::async_trait;

use serde_json::Value;

use super::client::json;
use super::PgStores;
use crate::ids::TeamId;
use crate::store::{DbError, TenantKeyRow, TenantKeyStore};

#[async_trait(?Send)]
impl TenantKeyStore for PgStores<'_> {
    async fn tenant_key(
        &self,
        team: TeamId,
        version: Option<u32>,
    ) -> Result<Option<TenantKeyRow>, DbError> {
        let query = self
            .db
            .from("tenant_keys")
            .select("team_id,version,master_key_id,wrapped_key")
            .eq("team_id", team.to_string());
        let query = match version {
            Some(v) => query.eq("version", v.to_string()),
            None => query.order("version.desc"),
        };
        self.one(query.limit(1)).await
    }

    async fn insert_tenant_key(&self, row: &TenantKeyRow) -> Result<(), DbError> {
        let query = self
            .db
            .from("tenant_keys")
            .select("version")
            .insert(json(row)?);
        self.db.fetch::<Value>(query).await.map(|_| ())
    }
}
