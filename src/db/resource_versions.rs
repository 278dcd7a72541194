//! The version index over PostgREST: heads and history read with the query builder (history
//! under the caller's RLS; its columns exclude the content hash, which users hold no grant on),
//! versions written through `resource_versions_record` (migration 0021).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::json;

use serde_json::Value;

use super::PgStores;
use crate::ids::{BackupId, ConnectionId};
use crate::store::{
    DbError, IndexProgress, NewVersion, ObserveBatch, Observed, ResourceVersionStore, Swept,
    VersionHead, VersionRow, MAX_OBSERVED_PER_CALL, MAX_VERSIONS_PER_CALL,
};
use crate::tenant::ResourceType;

/// An indexing call's answer: `{"stale": true}` when another call moved the step first.
fn moved<T: serde::de::DeserializeOwned>(answer: Value) -> Result<Option<T>, DbError> {
    if answer.get("stale") == Some(&Value::Bool(true)) {
        return Ok(None);
    }
    serde_json::from_value(answer)
        .map(Some)
        .map_err(|e| DbError::Unexpected(e.to_string()))
}

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

    async fn index_progress(&self, backup: BackupId) -> Result<IndexProgress, DbError> {
        let query = self
            .db
            .from("resource_index_progress")
            .select("step,checkpoint,done")
            .eq("backup_id", backup.to_string());
        let rows: Vec<IndexProgress> = self.db.fetch(query).await?;
        Ok(rows.into_iter().next().unwrap_or_default())
    }

    async fn index_observe(&self, batch: &ObserveBatch<'_>) -> Result<Option<Observed>, DbError> {
        if batch.items.len() > MAX_OBSERVED_PER_CALL {
            return Err(DbError::Unexpected(format!(
                "{} items in one call",
                batch.items.len()
            )));
        }
        let answer = self
            .call(
                "resource_index_observe",
                &json!({
                    "p_backup": batch.backup, "p_step": batch.step,
                    "p_type": batch.resource.as_str(), "p_ordinal": batch.ordinal,
                    "p_hash_key": batch.hash_key, "p_items": batch.items,
                    "p_offset": batch.offset, "p_position": batch.position,
                }),
            )
            .await?;
        moved(answer)
    }

    async fn index_sweep(
        &self,
        backup: BackupId,
        step: u64,
        resource: ResourceType,
        ordinal: u32,
        hash_key: &str,
        limit: u32,
    ) -> Result<Option<Swept>, DbError> {
        let answer = self
            .call(
                "resource_index_sweep",
                &json!({
                    "p_backup": backup, "p_step": step, "p_type": resource.as_str(),
                    "p_ordinal": ordinal, "p_hash_key": hash_key, "p_limit": limit,
                }),
            )
            .await?;
        moved(answer)
    }

    async fn index_finish(&self, backup: BackupId, step: u64) -> Result<bool, DbError> {
        self.call(
            "resource_index_finish",
            &json!({"p_backup": backup, "p_step": step}),
        )
        .await
    }
}
