//! AI settings, the budget ledger and guidance records over PostgREST; every change is one of
//! migration 0016's functions.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{row, PgStores};
use crate::ai::budget::Usage;
use crate::ids::{GuidanceRecordId, TeamId, UserId};
use crate::store::{AiSettingsRow, AiStore, AuditRecord, DbError, GuidanceRecordRow};

const SETTINGS_COLUMNS: &str = "team_id,enabled,keep_answers,monthly_tokens,daily_requests,per_minute_requests,updated_by,updated_at";

pub(super) const RECORD_COLUMNS: &str = "id,team_id,connection_id,requested_by,prompt,target,payload_sha256,payload_bytes,pseudonyms,provider,model,attempts,latency_ms,input_tokens,output_tokens,cost_micro_usd,outcome,error,answer,created_at";

#[derive(Deserialize)]
struct UsageRow {
    usage: Usage,
}

#[async_trait(?Send)]
impl AiStore for PgStores<'_> {
    async fn ai_settings(&self, team: TeamId) -> Result<Option<AiSettingsRow>, DbError> {
        self.one(
            self.db
                .from("team_ai_settings")
                .select(SETTINGS_COLUMNS)
                .eq("team_id", team.to_string()),
        )
        .await
    }

    async fn set_ai_settings(
        &self,
        team: TeamId,
        enabled: bool,
        keep_answers: bool,
        by: UserId,
        audit: &AuditRecord,
    ) -> Result<AiSettingsRow, DbError> {
        let stored: Value = self
            .call(
                "ai_settings_set",
                &json!({
                    "p_team": team, "p_enabled": enabled, "p_keep_answers": keep_answers,
                    "p_user": by, "p_audit": audit,
                }),
            )
            .await?;
        row(stored)
    }

    async fn ai_usage(&self, team: TeamId) -> Result<Option<Usage>, DbError> {
        let found: Option<UsageRow> = self
            .one(
                self.db
                    .from("ai_usage")
                    .select("usage")
                    .eq("team_id", team.to_string()),
            )
            .await?;
        Ok(found.map(|r| r.usage))
    }

    async fn put_ai_usage(
        &self,
        team: TeamId,
        expected: Option<u64>,
        usage: &Usage,
    ) -> Result<(), DbError> {
        self.guarded(
            "ai_usage_put",
            &json!({
                "p_team": team, "p_version": expected, "p_usage": usage,
                "p_new_version": usage.version,
            }),
        )
        .await
    }

    async fn insert_guidance_record(
        &self,
        record: &GuidanceRecordRow,
        audit: &AuditRecord,
    ) -> Result<(), DbError> {
        let _: Value = self
            .call(
                "guidance_record_insert",
                &json!({"p_row": record, "p_audit": audit}),
            )
            .await?;
        Ok(())
    }

    async fn guidance_records_of(&self, team: TeamId) -> Result<Vec<GuidanceRecordRow>, DbError> {
        let query = self
            .db
            .from("guidance_records")
            .select(RECORD_COLUMNS)
            .eq("team_id", team.to_string())
            .order("created_at.desc")
            .limit(100);
        self.db.fetch(query).await
    }

    async fn guidance_record(
        &self,
        id: GuidanceRecordId,
    ) -> Result<Option<GuidanceRecordRow>, DbError> {
        self.one(
            self.db
                .from("guidance_records")
                .select(RECORD_COLUMNS)
                .eq("id", id.to_string()),
        )
        .await
    }

    async fn delete_ai_answers(&self, team: TeamId, audit: &AuditRecord) -> Result<u64, DbError> {
        self.call(
            "ai_answers_delete",
            &json!({"p_team": team, "p_audit": audit}),
        )
        .await
    }
}
