//! A restore's receipt: what an auditor needs to verify a restore after the fact. It names the
//! plan (digest and the SHA-256 of the sealed plan), every operation with its outcome, the
//! old→new id map, what was not restored and why (with the manual steps the plan listed), who
//! asked, approved and applied, and when. The service seals it into R2 beside the plan and
//! records its SHA-256 in the audit trail (`restore.complete`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::apply::{ApplyState, OpOutcome, Outcome, Progress};
use super::operation::Action;
use super::plan::{IdPair, Plan};
use crate::store::ApplyStatus;
use crate::tenant::ResourceType;

/// The receipt's format version.
pub const FORMAT: u32 = 1;

/// Who and what, from the plan's row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub restore_id: String,
    pub team_id: String,
    pub target_connection_id: String,
    pub org_domain: String,
    pub source_backup_id: String,
    /// SHA-256 of the sealed plan's plaintext (the plan row's `sha256`).
    pub plan_sha256: String,
    pub requested_by: Option<String>,
    pub approved_by: Vec<Approval>,
    pub applied_by: Option<String>,
    pub planned_at: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub user_id: String,
    pub approved_at: DateTime<Utc>,
}

/// An operation the restore did not carry out, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotRestored {
    pub seq: u32,
    pub resource: ResourceType,
    pub action: Action,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    pub format: u32,
    #[serde(flatten)]
    pub header: Header,
    pub plan_digest: String,
    pub status: ApplyStatus,
    pub finished_at: DateTime<Utc>,
    pub counts: Progress,
    pub operations: Vec<OpOutcome>,
    /// Every source id whose target id differs: the plan's pairs, then the ids Okta gave
    /// the objects the restore created.
    pub ids: Vec<IdPair>,
    pub not_restored: Vec<NotRestored>,
    /// What no restore can bring back (secrets, signing keys), per object, with the step the
    /// admin must take: the plan's list.
    pub manual_steps: Value,
}

/// How an apply that ran to its end came out.
pub fn status(progress: &Progress) -> ApplyStatus {
    if progress.failed == 0 && progress.unsupported == 0 {
        ApplyStatus::Complete
    } else {
        ApplyStatus::CompleteWithFailures
    }
}

/// The receipt of a finished apply (deterministic: a successor finishing the same state writes
/// the same receipt).
pub fn receipt(plan: &Plan, state: &ApplyState, header: Header) -> Receipt {
    let not_restored = state
        .outcomes
        .iter()
        .filter(|o| {
            matches!(
                o.outcome,
                Outcome::Failed | Outcome::Unsupported | Outcome::Skipped
            )
        })
        .map(|o| {
            let op = plan.operations.iter().find(|p| p.seq == o.seq);
            NotRestored {
                seq: o.seq,
                resource: o.resource,
                action: o.action,
                outcome: o.outcome,
                source_id: op
                    .and_then(|p| p.source_id.as_ref())
                    .map(|s| s.as_str().to_string()),
                target_id: op
                    .and_then(|p| p.target_id.as_ref())
                    .map(|s| s.as_str().to_string()),
                reason: o.reason.clone(),
            }
        })
        .collect();
    let mut ids = plan.ids.clone();
    ids.extend(state.created.iter().cloned());
    Receipt {
        format: FORMAT,
        header,
        plan_digest: plan.digest.clone(),
        status: status(&state.progress),
        finished_at: state.finished_at.unwrap_or_default(),
        counts: state.progress.clone(),
        operations: state.outcomes.clone(),
        ids,
        not_restored,
        manual_steps: serde_json::to_value(&plan.blast_radius.not_restorable).unwrap_or_default(),
    }
}
