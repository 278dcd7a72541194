//! The activity chain as the worker's own jobs and the verify route reach it: every chain's head
//! (for the anchoring job) and the database's own verification of a team's chain.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::DbError;
use crate::evidence::anchor::Anchor;
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
}
