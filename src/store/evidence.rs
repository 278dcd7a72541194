//! The activity chain as the worker's own jobs and the verify route reach it: every chain's head
//! (for the anchoring job), the database's own verification of a team's chain, and the pages an
//! audit pack is written from.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::DbError;
use crate::evidence::anchor::Anchor;
use crate::evidence::chain::ChainedRow;
use crate::ids::TeamId;

/// A chain's head: its last row's sequence number and hash (`activity_chain_heads`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHeadRow {
    /// `None` for the chain of rows without a team (failed logins).
    pub team: Option<TeamId>,
    pub seq: i64,
    pub head_hash: String,
}

#[async_trait(?Send)]
pub trait EvidenceStore {
    /// Service role: the head of every chain that has rows.
    async fn chain_heads(&self) -> Result<Vec<ChainHeadRow>, DbError>;

    /// Service role: `activity_chain_verify_unchecked(team, 1, null, anchors)`, the database
    /// walking the team's whole chain and recomputing every hash; its report as it returns it
    /// (docs/audit-pack.md, "Verification in the database").
    async fn verify_chain(&self, team: TeamId, anchors: &[Anchor]) -> Result<Value, DbError>;

    // What an audit pack reads (service role, after the caller was authorised for the team).
    /// The team chain's head (`None` while the team has no rows).
    async fn chain_head(&self, team: TeamId) -> Result<Option<ChainHeadRow>, DbError>;

    /// Activity rows with their identity salts (null once erased).
    async fn activity_page(&self, query: &ActivityQuery) -> Result<Vec<ChainedRow>, DbError>;

    /// One page of an evidence table, rows as the database returns them; each row's `id` is
    /// the key the next page starts after.
    async fn evidence_page(&self, query: &EvidenceQuery) -> Result<Vec<Value>, DbError>;

    /// The findings of `runs` (runs of the team), by run and check.
    async fn run_findings(&self, team: TeamId, runs: &[String]) -> Result<Vec<Value>, DbError>;
}

/// The tables an audit pack pages through, besides the activity log. Each page is ordered by
/// the table's key and starts after the previous page's last key (keyset pagination: the
/// database never counts or skips rows, whatever the page's depth).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EvidenceTable {
    /// `backups` started within the range, by `id`.
    Backups,
    /// `compliance_runs` started within the range, by `id`.
    ComplianceRuns,
    /// The team's `compliance_remediations` (current state, whatever the range), by `id`.
    Remediations,
    /// `guidance_records` created within the range, by `id`.
    AiGuidance,
}

/// One page of an evidence table for a team and a range (`from` inclusive, `to` exclusive).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvidenceQuery {
    pub table: EvidenceTable,
    pub team: TeamId,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The previous page's last key; `None` for the first page.
    pub after: Option<String>,
    pub limit: usize,
}

/// One page of a team's activity rows in chain order: `chain_seq` in `(after_seq, max_seq]`,
/// `occurred_at` in `[from, to)`, and, with `action_prefix`, only actions starting with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActivityQuery {
    pub team: TeamId,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub after_seq: i64,
    pub max_seq: i64,
    pub action_prefix: Option<&'static str>,
    pub limit: usize,
}
