//! `restore_plans`: read under RLS, written only through `restore_plan_create` (migration 0024).

use async_trait::async_trait;
use serde_json::json;

use super::PgStores;
use crate::ids::RestorePlanId;
use crate::store::{AuditRecord, DbError, NewRestorePlan, RestorePlanRow, RestoreStore};

#[async_trait(?Send)]
impl RestoreStore for PgStores<'_> {
    async fn restore_plan(&self, id: RestorePlanId) -> Result<Option<RestorePlanRow>, DbError> {
        let query = self
            .db
            .from("restore_plans")
            .select("*")
            .eq("id", id.to_string());
        self.one(query).await
    }

    async fn create_restore_plan(
        &self,
        row: &NewRestorePlan,
        ttl_seconds: u32,
        audit: &AuditRecord,
    ) -> Result<RestorePlanRow, DbError> {
        self.call(
            "restore_plan_create",
            &json!({"p_row": row, "p_ttl_seconds": ttl_seconds, "p_audit": audit}),
        )
        .await
    }
}
