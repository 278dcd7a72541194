//! `team_ip_allowlists`: read under RLS (or by the service role at the edge check), written only
//! through `team_allowlist_set` (migration 0017).

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};

use super::PgStores;
use crate::ids::TeamId;
use crate::store::{AllowListStore, AuditRecord, DbError};

#[derive(Deserialize)]
struct Row {
    entries: Vec<String>,
}

#[async_trait(?Send)]
impl AllowListStore for PgStores<'_> {
    async fn allow_list(&self, team: TeamId) -> Result<Vec<String>, DbError> {
        let query = self
            .db
            .from("team_ip_allowlists")
            .select("entries")
            .eq("team_id", team.to_string());
        Ok(self
            .one::<Row>(query)
            .await?
            .map(|r| r.entries)
            .unwrap_or_default())
    }

    async fn set_allow_list(
        &self,
        team: TeamId,
        entries: &[String],
        audit: &AuditRecord,
    ) -> Result<(), DbError> {
        self.call::<_, Value>(
            "team_allowlist_set",
            &json!({"p_team": team, "p_entries": entries, "p_audit": audit}),
        )
        .await
        .map(|_| ())
    }
}
