//! The version index over PostgREST: heads and history read with the query builder (history
//! under the caller's RLS; its columns exclude the content hash, which users hold no grant on),
//! versions written through `resource_versions_record` (migration 0021).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::json;

use super::PgStores;
use crate::ids::ConnectionId;
use crate::store::{
    DbError, NewVersion, ResourceVersionStore, VersionHead, VersionRow, MAX_VERSIONS_PER_CALL,
};
use crate::tenant::ResourceType;

const HISTORY_COLUMNS: &str = "id,resource_type,resource_id,state,source,backup_id,capture_id,\
position,captured_at,actor_id,actor_type,actor_display_name,client_ip,user_agent,transaction_id,\
event_type";

#[async_trait(?Send)]
impl ResourceVersionStore for PgStores<'_> {
    async fn version_heads(
        &self,
        connection: ConnectionId,
        resource: ResourceType,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<VersionHead>, DbError> {
        let mut query = self
            .db
            .from("resource_heads")
            .select("resource_id,state,content_hash,hash_key,captured_at")
            .eq("connection_id", connection.to_string())
            .eq("resource_type", resource.as_str())
            .order("resource_id.asc")
            .limit(limit as usize);
        if let Some(after) = after {
            query = query.gt("resource_id", after);
        }
        self.db.fetch(query).await
    }

    async fn record_versions(&self, versions: &[NewVersion]) -> Result<u32, DbError> {
        if versions.len() > MAX_VERSIONS_PER_CALL {
            return Err(DbError::Unexpected(format!(
                "{} versions in one call",
                versions.len()
            )));
        }
        self.call("resource_versions_record", &json!({ "rows": versions }))
            .await
    }

    async fn resource_versions(
        &self,
        connection: ConnectionId,
        resource: ResourceType,
        resource_id: &str,
        from: Option<(DateTime<Utc>, i64)>,
        limit: u32,
    ) -> Result<Vec<VersionRow>, DbError> {
        let mut query = self
            .db
            .from("resource_versions")
            .select(HISTORY_COLUMNS)
            .eq("connection_id", connection.to_string())
            .eq("resource_type", resource.as_str())
            .eq("resource_id", resource_id)
            .order("captured_at.asc,id.asc")
            .limit(limit as usize);
        if let Some((at, id)) = from {
            let at = at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            query = query.or(format!(
                "captured_at.gt.{at},and(captured_at.eq.{at},id.gte.{id})"
            ));
        }
        self.db.fetch(query).await
    }
}
