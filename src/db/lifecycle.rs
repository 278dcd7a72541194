//! Retention pruning, backup holds, team deletion and the user export over PostgREST: reads of
//! `backups`, `backup_holds` and `team_deletions`, and the audited functions of migration 0023.

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use super::{row, PgStores};
use crate::ids::{BackupId, TeamId, UserId};
use crate::lifecycle::deletion::{PurgeStep, TeamDeletion};
use crate::store::{
    AuditRecord, DbError, DeletionRow, HoldKind, LifecycleStore, PruneCandidate, PruneMark,
};

const CANDIDATE_COLUMNS: &str =
    "id,connection_id,status,started_at,finished_at,r2_prefix,pruning_at";

fn at(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn deletion(value: Value) -> Result<Option<TeamDeletion>, DbError> {
    if value.is_null() {
        return Ok(None);
    }
    row::<DeletionRow>(value)?.into_deletion().map(Some)
}

#[async_trait(?Send)]
impl LifecycleStore for PgStores<'_> {
    async fn prune_teams(&self, before: DateTime<Utc>) -> Result<Vec<TeamId>, DbError> {
        self.call("prune_teams", &json!({"p_before": at(before)}))
            .await
    }

    async fn prune_candidates(
        &self,
        team: TeamId,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<PruneCandidate>, DbError> {
        let marked = self
            .db
            .from("backups")
            .select(CANDIDATE_COLUMNS)
            .eq("team_id", team.to_string())
            .not("is", "pruning_at", "null")
            .order("finished_at.asc")
            .limit(limit as usize);
        let mut rows: Vec<PruneCandidate> = self.db.fetch(marked).await?;
        let expired = self
            .db
            .from("backups")
            .select(CANDIDATE_COLUMNS)
            .eq("team_id", team.to_string())
            .lt("finished_at", at(before))
            .is("pruning_at", "null")
            .order("finished_at.asc")
            .limit(limit as usize);
        let more: Vec<PruneCandidate> = self.db.fetch(expired).await?;
        rows.extend(more);
        rows.truncate(limit as usize);
        Ok(rows)
    }

    async fn held_backups(&self, team: TeamId) -> Result<Vec<BackupId>, DbError> {
        let query = self
            .db
            .from("backup_holds")
            .select("backup_id")
            .eq("team_id", team.to_string());
        let rows: Vec<Value> = self.db.fetch(query).await?;
        rows.iter()
            .map(|r| {
                r["backup_id"]
                    .as_str()
                    .and_then(|id| BackupId::parse(id).ok())
                    .ok_or_else(|| DbError::Unexpected("backup_holds.backup_id".into()))
            })
            .collect()
    }

    async fn mark_pruning(&self, id: BackupId) -> Result<PruneMark, DbError> {
        self.call("backup_prune_mark", &json!({"p_id": id})).await
    }

    async fn prune_backup(&self, id: BackupId, audit: &AuditRecord) -> Result<bool, DbError> {
        self.call("backup_prune", &json!({"p_id": id, "p_audit": audit}))
            .await
    }

    async fn hold_backup(
        &self,
        id: BackupId,
        team: TeamId,
        kind: HoldKind,
        holder: Uuid,
    ) -> Result<bool, DbError> {
        self.call(
            "backup_hold_take",
            &json!({"p_backup": id, "p_team": team, "p_kind": kind, "p_holder": holder}),
        )
        .await
    }

    async fn release_backup_hold(
        &self,
        id: BackupId,
        kind: HoldKind,
        holder: Uuid,
    ) -> Result<bool, DbError> {
        self.call(
            "backup_hold_release",
            &json!({"p_backup": id, "p_kind": kind, "p_holder": holder}),
        )
        .await
    }

    async fn team_backup_prefixes(&self, team: TeamId) -> Result<Vec<String>, DbError> {
        let query = self
            .db
            .from("backups")
            .select("r2_prefix")
            .eq("team_id", team.to_string());
        let rows: Vec<Value> = self.db.fetch(query).await?;
        rows.iter()
            .map(|r| {
                r["r2_prefix"]
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| DbError::Unexpected("backups.r2_prefix".into()))
            })
            .collect()
    }

    async fn team_deletion(&self, team: TeamId) -> Result<Option<TeamDeletion>, DbError> {
        let query = self
            .db
            .from("team_deletions")
            .select("*")
            .eq("team_id", team.to_string());
        match self.one::<DeletionRow>(query).await? {
            Some(r) => r.into_deletion().map(Some),
            None => Ok(None),
        }
    }

    async fn request_team_deletion(
        &self,
        team: TeamId,
        by: UserId,
        grace_seconds: u32,
        audit: &AuditRecord,
    ) -> Result<TeamDeletion, DbError> {
        let value: Value = self
            .call(
                "team_deletion_request",
                &json!({"p_team": team, "p_user": by, "p_grace_seconds": grace_seconds,
                    "p_audit": audit}),
            )
            .await?;
        deletion(value)?.ok_or_else(|| DbError::Unexpected("no deletion row returned".into()))
    }

    async fn cancel_team_deletion(
        &self,
        team: TeamId,
        by: UserId,
        audit: &AuditRecord,
    ) -> Result<Option<TeamDeletion>, DbError> {
        let value: Value = self
            .call(
                "team_deletion_cancel",
                &json!({"p_team": team, "p_user": by, "p_audit": audit}),
            )
            .await?;
        deletion(value)
    }

    async fn due_deletions(&self) -> Result<Vec<TeamDeletion>, DbError> {
        let rows: Vec<DeletionRow> = self.call("team_deletions_due", &json!({})).await?;
        rows.into_iter().map(DeletionRow::into_deletion).collect()
    }

    async fn start_purge(
        &self,
        team: TeamId,
        audit: &AuditRecord,
    ) -> Result<Option<TeamDeletion>, DbError> {
        let value: Value = self
            .call(
                "team_purge_start",
                &json!({"p_team": team, "p_audit": audit}),
            )
            .await?;
        deletion(value)
    }

    async fn purge_step(
        &self,
        team: TeamId,
        step: PurgeStep,
        next: Option<PurgeStep>,
        audit: &AuditRecord,
    ) -> Result<bool, DbError> {
        self.call(
            "team_purge_step",
            &json!({"p_team": team, "p_step": step, "p_next": next, "p_audit": audit}),
        )
        .await
    }

    async fn user_export(&self, user: UserId) -> Result<Value, DbError> {
        self.call("user_export", &json!({"p_user": user})).await
    }
}
