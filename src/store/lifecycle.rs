//! Retention pruning, backup holds, team deletion and the user data export (service role
//! only, but for a team's deletion state, which its members may read).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::{AuditRecord, BackupStatus, DbError};
use crate::ids::{BackupId, ConnectionId, TeamId, UserId};
use crate::lifecycle::deletion::{DeletionState, PurgeStep, TeamDeletion};

/// A backup as the prune job reads it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PruneCandidate {
    pub id: BackupId,
    pub connection_id: ConnectionId,
    pub status: BackupStatus,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub r2_prefix: String,
    /// Set once the prune job started deleting its objects: it is then finished whatever else.
    #[serde(default)]
    pub pruning_at: Option<DateTime<Utc>>,
}

/// What marking a backup for pruning found (`backup_prune_mark`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PruneMark {
    /// Marked now or before: delete its objects, then its row.
    Marked,
    /// A restore, drill or export holds it.
    Held,
    Running,
    /// Already deleted.
    Gone,
}

/// Who holds a backup against pruning (`backup_holds.holder_kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldKind {
    Restore,
    Drill,
    Export,
}

/// A `team_deletions` row.
#[derive(Clone, Debug, Deserialize)]
pub struct DeletionRow {
    pub team_id: TeamId,
    pub requested_by: UserId,
    pub requested_at: DateTime<Utc>,
    pub purge_after: DateTime<Utc>,
    pub state: String,
    pub next_step: Option<PurgeStep>,
    pub cancelled_by: Option<UserId>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub purge_started_at: Option<DateTime<Utc>>,
    pub purged_at: Option<DateTime<Utc>>,
}

impl DeletionRow {
    /// The core's view of the row; `Unexpected` for a row the database's checks should have
    /// refused.
    pub fn into_deletion(self) -> Result<TeamDeletion, DbError> {
        let bad = || {
            DbError::Unexpected(format!(
                "team_deletions row of {} is inconsistent",
                self.team_id
            ))
        };
        let state = match self.state.as_str() {
            "requested" => DeletionState::Requested,
            "cancelled" => DeletionState::Cancelled {
                by: self.cancelled_by.ok_or_else(bad)?,
                at: self.cancelled_at.ok_or_else(bad)?,
            },
            "purging" => DeletionState::Purging {
                started_at: self.purge_started_at.ok_or_else(bad)?,
                next: self.next_step.ok_or_else(bad)?,
            },
            "purged" => DeletionState::Purged {
                at: self.purged_at.ok_or_else(bad)?,
            },
            _ => return Err(bad()),
        };
        Ok(TeamDeletion {
            team: self.team_id,
            requested_by: self.requested_by,
            requested_at: self.requested_at,
            purge_after: self.purge_after,
            state,
        })
    }
}

#[async_trait(?Send)]
pub trait LifecycleStore {
    /// Service role: teams with a backup finished before `before`, except teams being deleted.
    async fn prune_teams(&self, before: DateTime<Utc>) -> Result<Vec<TeamId>, DbError>;
    /// Service role: up to `limit` backups of `team` finished before `before` (and every one
    /// already marked for pruning), marked ones first, then oldest first.
    async fn prune_candidates(
        &self,
        team: TeamId,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<PruneCandidate>, DbError>;
    /// Service role: the backups of `team` that a restore, drill or export holds.
    async fn held_backups(&self, team: TeamId) -> Result<Vec<BackupId>, DbError>;
    /// Service role: marks a backup for pruning unless it runs or is held (one row lock).
    async fn mark_pruning(&self, id: BackupId) -> Result<PruneMark, DbError>;
    /// Service role: deletes a marked backup's row (its sealed key and change-capture rows
    /// with it) and its checkpoint, with the audit row; false when no marked row was left.
    async fn prune_backup(&self, id: BackupId, audit: &AuditRecord) -> Result<bool, DbError>;
    /// Service role: holds a complete backup of `team` for `holder`; false when it is gone, not
    /// complete or being pruned (then it must not be used).
    async fn hold_backup(
        &self,
        id: BackupId,
        team: TeamId,
        kind: HoldKind,
        holder: Uuid,
    ) -> Result<bool, DbError>;
    /// Service role: releases a hold; whether there was one.
    async fn release_backup_hold(
        &self,
        id: BackupId,
        kind: HoldKind,
        holder: Uuid,
    ) -> Result<bool, DbError>;
    /// Service role: the R2 prefixes of every backup row of `team`.
    async fn team_backup_prefixes(&self, team: TeamId) -> Result<Vec<String>, DbError>;
    /// The team's deletion request, if any (members read it; the service role reads any).
    async fn team_deletion(&self, team: TeamId) -> Result<Option<TeamDeletion>, DbError>;
    /// Service role: a new deletion request (or a new one after a cancelled one), purged no
    /// earlier than `grace_seconds` from now by the database's clock; `Conflict` while one is
    /// pending.
    async fn request_team_deletion(
        &self,
        team: TeamId,
        by: UserId,
        grace_seconds: u32,
        audit: &AuditRecord,
    ) -> Result<TeamDeletion, DbError>;
    /// Service role: cancels a request still in its grace period; `None` when there is none.
    async fn cancel_team_deletion(
        &self,
        team: TeamId,
        by: UserId,
        audit: &AuditRecord,
    ) -> Result<Option<TeamDeletion>, DbError>;
    /// Service role: requests past their grace period and purges under way.
    async fn due_deletions(&self) -> Result<Vec<TeamDeletion>, DbError>;
    /// Service role: starts the purge of a due request; `None` when it is not due.
    async fn start_purge(
        &self,
        team: TeamId,
        audit: &AuditRecord,
    ) -> Result<Option<TeamDeletion>, DbError>;
    /// Service role: does `step`'s database part and records it done (then `next` is the next
    /// step; `None` ends the purge), with its audit row; false when `step` was not the next
    /// step (done already).
    async fn purge_step(
        &self,
        team: TeamId,
        step: PurgeStep,
        next: Option<PurgeStep>,
        audit: &AuditRecord,
    ) -> Result<bool, DbError>;
    /// Service role: everything held about `user`, as `user_export` assembles it.
    async fn user_export(&self, user: UserId) -> Result<Value, DbError>;
}
