//! `tenant_keys` (service role only; no policy lets anyone else read or write).

use async_trait::async_trait;

use super::{PgStores, Query};
use crate::ids::TeamId;
use crate::store::{DbError, TenantKeyRow, TenantKeyStore};

#[async_trait(?Send)]
impl TenantKeyStore for PgStores<'_> {
    async fn tenant_key(
        &self,
        team: TeamId,
        version: Option<u32>,
    ) -> Result<Option<TenantKeyRow>, DbError> {
        let query = Query::new()
            .select("team_id,version,master_key_id,wrapped_key")
            .eq("team_id", team);
        let query = match version {
            Some(v) => query.eq("version", v),
            None => query.order("version.desc"),
        };
        self.one("tenant_keys", query.limit(1)).await
    }

    async fn insert_tenant_key(&self, row: &TenantKeyRow) -> Result<(), DbError> {
        self.db.insert_only("tenant_keys", row).await
    }
}
