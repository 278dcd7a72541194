//! The record every guidance request leaves: what was asked, what left, who answered, what it
//! cost. Answer text is kept only when the team chose to keep answers.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::failover::Attempt;
use super::prompts::PromptKind;
use super::provider::ProviderId;
use crate::ids::{ConnectionId, TeamId, UserId};

/// How a request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordOutcome {
    Answered,
    /// Every provider was unavailable (timeouts, 429s, 5xx, open circuits).
    Unavailable,
    /// A provider rejected the request itself.
    Rejected,
    /// The model declined to answer.
    Refused,
    /// The team's budget or rate limit refused it before anything was sent.
    OverBudget,
    /// The prompt would have been over the size limit; nothing was sent.
    TooLarge,
    /// No provider is configured; nothing was sent.
    NoProviders,
}

impl RecordOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordOutcome::Answered => "answered",
            RecordOutcome::Unavailable => "unavailable",
            RecordOutcome::Rejected => "rejected",
            RecordOutcome::Refused => "refused",
            RecordOutcome::OverBudget => "over_budget",
            RecordOutcome::TooLarge => "too_large",
            RecordOutcome::NoProviders => "no_providers",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuidanceRecord {
    pub team_id: TeamId,
    pub connection_id: Option<ConnectionId>,
    pub requested_by: Option<UserId>,
    pub prompt: PromptKind,
    /// What the prompt is about, in Butterfly's terms: a check id, a drift alert id, a restore
    /// plan id or a backup id. Never sent to a provider.
    pub target: String,
    /// SHA-256 of exactly what was (or would have been) sent; `None` if no prompt was built.
    pub payload_sha256: Option<String>,
    pub payload_bytes: usize,
    /// Pseudonyms the prompt used.
    pub pseudonyms: usize,
    /// The provider and model that answered.
    pub provider: Option<ProviderId>,
    pub model: Option<String>,
    /// Every provider tried, in order, with its outcome and latency.
    pub attempts: Vec<Attempt>,
    /// From the first attempt to the answer (or the last failure).
    pub latency_ms: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Micro-dollars; `None` when the model has no price in the table.
    pub cost_micro_usd: Option<u64>,
    pub outcome: RecordOutcome,
    /// Why it failed, when it did: a provider error code or a budget code.
    pub error: Option<String>,
    /// The re-identified answer, only if the team keeps answers.
    pub answer: Option<String>,
    pub created_at: DateTime<Utc>,
}
