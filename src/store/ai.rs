//! AI guidance: each team's switch, its budget ledger and its guidance records. Written only by
//! the worker's functions with the service role (migration `0016_ai_guidance.sql`); members
//! read settings and records through RLS (`ai.read`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{AuditRecord, DbError};
use crate::ai::budget::{BudgetPolicy, Usage};
use crate::ai::failover::Attempt;
use crate::ai::prompts::PromptKind;
use crate::ai::provider::ProviderId;
use crate::ai::record::{GuidanceRecord, RecordOutcome};
use crate::ids::{ConnectionId, GuidanceRecordId, TeamId, UserId};

/// A team's row of `team_ai_settings`; a team without one has guidance off.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AiSettingsRow {
    pub team_id: TeamId,
    pub enabled: bool,
    pub keep_answers: bool,
    /// The operator's limits for this team (`None`: the worker's defaults).
    pub monthly_tokens: Option<u64>,
    pub daily_requests: Option<u32>,
    pub per_minute_requests: Option<u32>,
    pub updated_by: Option<UserId>,
    pub updated_at: DateTime<Utc>,
}

impl AiSettingsRow {
    /// The team's limits: its own where the operator set them, else `defaults`.
    pub fn policy(&self, defaults: &BudgetPolicy) -> BudgetPolicy {
        BudgetPolicy {
            monthly_tokens: self.monthly_tokens.unwrap_or(defaults.monthly_tokens),
            daily_requests: self.daily_requests.unwrap_or(defaults.daily_requests),
            per_minute_requests: self
                .per_minute_requests
                .unwrap_or(defaults.per_minute_requests),
        }
    }
}

/// One stored guidance record (`guidance_records`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuidanceRecordRow {
    pub id: GuidanceRecordId,
    pub team_id: TeamId,
    pub connection_id: Option<ConnectionId>,
    pub requested_by: Option<UserId>,
    pub prompt: PromptKind,
    pub target: String,
    pub payload_sha256: Option<String>,
    pub payload_bytes: u64,
    pub pseudonyms: u64,
    pub provider: Option<ProviderId>,
    pub model: Option<String>,
    pub attempts: Vec<Attempt>,
    pub latency_ms: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_micro_usd: Option<u64>,
    pub outcome: RecordOutcome,
    pub error: Option<String>,
    pub answer: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl GuidanceRecordRow {
    pub fn new(id: GuidanceRecordId, r: GuidanceRecord) -> Self {
        GuidanceRecordRow {
            id,
            team_id: r.team_id,
            connection_id: r.connection_id,
            requested_by: r.requested_by,
            prompt: r.prompt,
            target: r.target,
            payload_sha256: r.payload_sha256,
            payload_bytes: r.payload_bytes as u64,
            pseudonyms: r.pseudonyms as u64,
            provider: r.provider,
            model: r.model,
            attempts: r.attempts,
            latency_ms: r.latency_ms,
            input_tokens: r.input_tokens,
            output_tokens: r.output_tokens,
            cost_micro_usd: r.cost_micro_usd,
            outcome: r.outcome,
            error: r.error,
            answer: r.answer,
            created_at: r.created_at,
        }
    }
}

#[async_trait(?Send)]
pub trait AiStore {
    async fn ai_settings(&self, team: TeamId) -> Result<Option<AiSettingsRow>, DbError>;
    /// Service role: sets the switch and "keep answers"; the audit row gets the old and new
    /// values from the database.
    async fn set_ai_settings(
        &self,
        team: TeamId,
        enabled: bool,
        keep_answers: bool,
        by: UserId,
        audit: &AuditRecord,
    ) -> Result<AiSettingsRow, DbError>;
    /// Service role: the team's ledger, if it ever spent anything.
    async fn ai_usage(&self, team: TeamId) -> Result<Option<Usage>, DbError>;
    /// Service role: stores `usage` if the stored ledger is still at version `expected`
    /// (`None`: there is none yet); `Conflict` when another request changed it meanwhile.
    async fn put_ai_usage(
        &self,
        team: TeamId,
        expected: Option<u64>,
        usage: &Usage,
    ) -> Result<(), DbError>;
    /// Service role: stores a record with its `ai.guidance` activity row.
    async fn insert_guidance_record(
        &self,
        row: &GuidanceRecordRow,
        audit: &AuditRecord,
    ) -> Result<(), DbError>;
    /// The newest records of a team (at most 100).
    async fn guidance_records_of(&self, team: TeamId) -> Result<Vec<GuidanceRecordRow>, DbError>;
    async fn guidance_record(
        &self,
        id: GuidanceRecordId,
    ) -> Result<Option<GuidanceRecordRow>, DbError>;
    /// Service role: erases every kept answer of a team; returns how many.
    async fn delete_ai_answers(&self, team: TeamId, audit: &AuditRecord) -> Result<u64, DbError>;
}
